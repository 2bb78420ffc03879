using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>Forward (ops in order) or backward (ops reversed) on the CPU backend and on the ILGPU device.</summary>
    static string EmitPass(LoweredModel model, Names names, bool forward)
    {
        var w = Begin(model.Header);
        string pass = forward ? "Forward" : "Backward";
        var order = forward ? model.Ops.Select((op, i) => (op, i)) : model.Ops.Select((op, i) => (op, i)).Reverse();

        w.Line($"/// <summary>{pass} on the CPU backend: a flat list of op calls, every size a constant.</summary>");
        w.Open($"void {pass}Cpu(ModelGenCpuBuffers a, int batch)");
        bool first = true;
        foreach (var (op, _) in order)
        {
            if (!first) w.Line();
            first = false;
            w.Line("// " + op.Comment);
            var call = forward ? op.Forward : op.Backward;
            w.Line($"global::ModelGen.Ops.{call.Method}({string.Join(", ", call.Args.Select(a => CpuArg(a, names)))});");
        }
        w.Close();
        w.Line();

        w.Line($"/// <summary>{pass} on the ILGPU device: the same list as kernel launches (Kernels.g.cs).</summary>");
        w.Open($"void {pass}Device(ModelGenDeviceBuffers d, int batch)");
        w.Line("var accelerator = _runtime.Accelerator;");
        first = true;
        foreach (var (op, index) in order)
        {
            if (!first) w.Line();
            first = false;
            w.Line("// " + op.Comment);
            var kernels = forward ? op.ForwardKernels : op.BackwardKernels;
            for (int k = 0; k < kernels.Count; k++)
            {
                var launch = kernels[k];
                string name = KernelName(index, forward, k, launch);
                var args = new List<string> { "(int)(" + launch.Extent + ")" };
                args.AddRange(launch.Args.Where(IsKernelParameter).Select(a => DeviceArg(a)));
                args.Add("batch");
                w.Line($"({name}Loaded ??= global::ILGPU.Runtime.KernelLoaders.LoadAutoGroupedStreamKernel<{KernelTypeArgs(launch)}>(accelerator, {name}))({string.Join(", ", args)});");
            }
        }
        w.Close();
        return End(model.Header, w);
    }

    static string CpuArg(Arg a, Names names) => a.Kind switch
    {
        ArgKind.Act => "a." + a.Text,
        ArgKind.Grad => "a.g_" + a.Text,
        ArgKind.Param => names.ParamFields[int.Parse(a.Text, CultureInfo.InvariantCulture)] + ".Value",
        ArgKind.ParamGrad => names.ParamFields[int.Parse(a.Text, CultureInfo.InvariantCulture)] + ".Grad",
        ArgKind.Absent => "null",
        _ => a.Text,
    };

    static string DeviceArg(Arg a) => a.Kind switch
    {
        ArgKind.Act => "d." + a.Text + ".View",
        ArgKind.Grad => "d.g_" + a.Text + ".View",
        ArgKind.Param => "_runtime.Value(" + a.Text + ")",
        ArgKind.ParamGrad => "_runtime.Grad(" + a.Text + ")",
        ArgKind.Absent => "_runtime.Dummy",
        ArgKind.Constant => "_runtime.Constant(" + a.Text + ")",
        ArgKind.Runtime when IsFlag(a) => "(" + a.Text + " ? 1 : 0)",
        _ => a.Text,
    };

    /// <summary>A run-time flag: kernels cannot take bool parameters, so it travels as an int and is compared with 0 inside.</summary>
    static bool IsFlag(Arg a) => a.Kind == ArgKind.Runtime && a.Type == "bool";

    /// <summary>Buffers and run-time values become kernel parameters; constants are written into the kernel.</summary>
    static bool IsKernelParameter(Arg a) => a.Kind is not (ArgKind.Literal or ArgKind.Batch);

    static string KernelName(int opIndex, bool forward, int k, KernelLaunch launch) =>
        $"K{opIndex.ToString(CultureInfo.InvariantCulture)}{(forward ? "F" : "B")}{k.ToString(CultureInfo.InvariantCulture)}_{launch.Body.Replace(".", "")}";

    static string ParamType(Arg a) => IsFlag(a) ? "int" : a.Kind == ArgKind.Runtime ? a.Type : "global::ILGPU.ArrayView<float>";

    static string KernelTypeArgs(KernelLaunch launch) =>
        string.Join(", ", new[] { "global::ILGPU.Index1D" }.Concat(launch.Args.Where(IsKernelParameter).Select(ParamType)).Concat(new[] { "int" }));

    /// <summary>One tiny kernel per launch: the runtime's kernel body with this model's sizes written in as literals.</summary>
    static string EmitKernels(LoweredModel model, Names names)
    {
        var w = Begin(model.Header);
        w.Line("// Each kernel calls a body in ModelGen.Ops with this model's sizes as literals, so ILGPU compiles it specialized.");
        for (int index = 0; index < model.Ops.Count; index++)
        {
            var op = model.Ops[index];
            foreach (var (kernels, forward) in new[] { (op.ForwardKernels, true), (op.BackwardKernels, false) })
            {
                for (int k = 0; k < kernels.Count; k++)
                {
                    var launch = kernels[k];
                    string name = KernelName(index, forward, k, launch);
                    var parameters = new List<string> { "global::ILGPU.Index1D i" };
                    var callArgs = new List<string> { "i" };
                    int p = 0;
                    foreach (var a in launch.Args)
                    {
                        if (IsKernelParameter(a))
                        {
                            string pn = "p" + p.ToString(CultureInfo.InvariantCulture);
                            p++;
                            parameters.Add(ParamType(a) + " " + pn);
                            callArgs.Add(IsFlag(a) ? pn + " != 0" : pn);
                        }
                        else callArgs.Add(a.Text);
                    }
                    parameters.Add("int batch");
                    w.Line();
                    w.Line($"// {(forward ? "forward" : "backward")}: {op.Comment}");
                    w.Line($"static void {name}({string.Join(", ", parameters)}) =>");
                    w.Line($"    global::ModelGen.Ops.{launch.Body}({string.Join(", ", callArgs)});");
                    w.Line($"global::System.Action<{KernelTypeArgs(launch)}>? {name}Loaded;");
                }
            }
        }
        return End(model.Header, w);
    }
}
