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
        w.Open($"void {pass}Cpu(global::ModelGen.ActivationArena a, int batch)");
        bool first = true;
        foreach (var (op, _) in order)
        {
            if (!first) w.Line();
            first = false;
            w.Line("// " + op.Comment);
            var call = forward ? op.Forward : op.Backward;
            w.Call($"global::ModelGen.Ops.{call.Method}", Arguments(call.Method, call.Args, call.Args.Select(a => CpuArg(a, names)).ToList(), leading: 0), ";");
        }
        w.Close();
        w.Line();

        w.Line($"/// <summary>{pass} on the ILGPU device: the same list as kernel launches (Kernels.g.cs).</summary>");
        w.Open($"void {pass}Device(global::ModelGen.ActivationArena a, int batch)");
        first = true;
        foreach (var (op, index) in order)
        {
            if (!first) w.Line();
            first = false;
            w.Line("// " + op.Comment);
            w.Line($"_runtime.Profiler.Mark({index.ToString(CultureInfo.InvariantCulture)}, backward: {(forward ? "false" : "true")});");
            var kernels = forward ? op.ForwardKernels : op.BackwardKernels;
            foreach (var launch in kernels)
            {
                if (launch.Guard is not null) w.Line($"if ({launch.Guard})");
                w.Call((launch.Guard is null ? "" : "    ") + names.Kernel(launch).Name, DeviceLaunchArgs(launch), ";");
            }
        }
        w.Close();
        return End(model.Header, w);
    }

    /// <summary>A launcher's arguments at a launch: the extent (unless grouped), the buffers and run-time values, the batch.</summary>
    static List<string> DeviceLaunchArgs(KernelLaunch launch)
    {
        var args = IsGrouped(launch.Body) ? new List<string>() : new List<string> { launch.Extent };
        args.AddRange(launch.Args.Where(IsKernelParameter).Select(DeviceArg));
        args.Add("batch");
        return args;
    }

    /// <summary>Call arguments; sizes and flags (the literal and batch arguments) are named by the runtime op's parameters
    /// (<see cref="OpSignatures"/>), so a reader sees <c>rows: batch * 16, inFeatures: 192</c> rather than a row of numbers.</summary>
    static List<string> Arguments(string method, IReadOnlyList<Arg> args, IReadOnlyList<string> rendered, int leading)
    {
        OpSignatures.Parameters.TryGetValue(method, out var parameters);
        bool named = parameters is not null && parameters.Length == args.Count + leading;
        var result = new List<string>(args.Count);
        for (int i = 0; i < args.Count; i++)
            result.Add(named && args[i].Kind is ArgKind.Literal or ArgKind.Batch && parameters![i + leading] != rendered[i] ? parameters[i + leading] + ": " + rendered[i] : rendered[i]);
        return result;
    }

    static string CpuArg(Arg a, Names names) => a.Kind switch
    {
        ArgKind.Act => $"a[Buf.{a.Text}]",
        ArgKind.Grad => $"a.Grad(Buf.{a.Text})",
        ArgKind.Param => names.ParamFields[int.Parse(a.Text, CultureInfo.InvariantCulture)] + ".Value",
        ArgKind.ParamGrad => names.ParamFields[int.Parse(a.Text, CultureInfo.InvariantCulture)] + ".Grad",
        ArgKind.Absent => "null",
        _ => a.Text,
    };

    static string DeviceArg(Arg a) => a.Kind switch
    {
        ArgKind.Act => $"a.View(Buf.{a.Text})",
        ArgKind.Grad => $"a.GradView(Buf.{a.Text})",
        ArgKind.Param => "_runtime.Value(" + a.Text + ")",
        ArgKind.ParamGrad => "_runtime.Grad(" + a.Text + ")",
        ArgKind.Absent => "_runtime.Dummy",
        ArgKind.Constant => "_runtime.Constant(" + a.Text + ")",
        ArgKind.Workspace => "_runtime.Workspace(" + WorkspaceField + ")",
        ArgKind.Runtime when IsFlag(a) => "(" + a.Text + " ? 1 : 0)",
        ArgKind.TensorCores => "_runtime.TensorCoresValue",
        _ => a.Text,
    };

    /// <summary>A run-time flag: kernels cannot take bool parameters, so it travels as an int and is compared with 0 inside.</summary>
    static bool IsFlag(Arg a) => a.Kind == ArgKind.Runtime && a.Type == "bool";

    /// <summary>Buffers and run-time values become kernel parameters; constants are written into the kernel.</summary>
    static bool IsKernelParameter(Arg a) => a.Kind is not (ArgKind.Literal or ArgKind.Batch);

    /// <summary>A kernel parameter's type; buffers are <c>ILGPU.ArrayView&lt;float&gt;</c>, aliased in Kernels.g.cs.</summary>
    static string ParamType(Arg a) => a.Kind switch
    {
        ArgKind.Runtime => IsFlag(a) ? "int" : a.Type,
        ArgKind.TensorCores => TensorCoresAlias,
        _ => ViewAlias,
    };

    const string ViewAlias = "ModelGenView";

    /// <summary>The tensor-core flag's kernel parameter type, <c>ILGPU.Runtime.SpecializedValue&lt;int&gt;</c>, aliased in Kernels.g.cs.</summary>
    const string TensorCoresAlias = "ModelGenTensorCores";

    /// <summary>The generated field holding the floats of device workspace the model's kernels need at most.</summary>
    const string WorkspaceField = "DeviceWorkspaceFloats";

    /// <summary>One distinct kernel: the runtime body with one set of literal sizes. Every launch with those sizes shares it, so
    /// the four identical layers of an encoder compile one LayerNorm kernel, not four.</summary>
    internal sealed record KernelInfo(int Index, string Body, ImmutableEquatableArray<Arg> Args, string Name, List<string> Users);

    static string KernelKey(KernelLaunch launch) =>
        launch.Body + "(" + string.Join(", ", launch.Args.Select(a => IsKernelParameter(a) ? ParamType(a) : a.Text)) + ")";

    /// <summary>Whether the runtime launches this kernel in explicit groups (it has a <c>Config</c> twin; see <see cref="OpSignatures.Grouped"/>).</summary>
    static bool IsGrouped(string body) => OpSignatures.Grouped.Contains(body);

    static List<string> KernelTypeArgs(KernelInfo k) =>
        (IsGrouped(k.Body) ? new string[0] : new[] { "ModelGenIndex" }).Concat(k.Args.Where(IsKernelParameter).Select(ParamType)).Concat(new[] { "int" }).ToList();

    /// <summary>A grouped kernel's launch: its <c>Config</c> twin called with the kernel's size arguments, matched by name.</summary>
    static string ConfigCall(KernelInfo k)
    {
        var kernelParameters = OpSignatures.Parameters[k.Body];
        var configParameters = OpSignatures.Parameters[k.Body + "Config"];
        var args = configParameters.Select(name => name + ": " + k.Args[System.Array.IndexOf(kernelParameters, name)].Text);
        return $"global::ModelGen.Ops.{k.Body}Config(" + string.Join(", ", args) + ")";
    }

    /// <summary>Each distinct kernel once: a static body with this model's sizes as literals (so ILGPU compiles it specialised), the
    /// loaded delegate, and a launcher the passes call.</summary>
    static string EmitKernels(LoweredModel model, Names names)
    {
        var w = Begin(model.Header, usings: $"using {ViewAlias} = global::ILGPU.ArrayView<float>;\nusing ModelGenIndex = global::ILGPU.Index1D;\n" +
            $"using {TensorCoresAlias} = global::ILGPU.Runtime.SpecializedValue<int>;");
        w.Line("// Each kernel calls a body in ModelGen.Ops with this model's sizes as literals, so ILGPU compiles it specialized;");
        w.Line("// launches with the same sizes share one kernel.");
        var workspace = names.Kernels.SelectMany(k => k.Args).Where(a => a.Kind == ArgKind.Workspace && a.Text.Length > 0)
            .Select(a => a.Text).Distinct().ToList();
        if (workspace.Count > 0)
        {
            w.Line();
            w.Line("// Split-K partial products: one device buffer serves every kernel (they run in order on one stream), sized for the largest.");
            w.Wrap($"static readonly long {WorkspaceField} = global::System.Linq.Enumerable.Max", "(new long[] { ", workspace, " });", "");
        }
        foreach (var k in names.Kernels)
        {
            bool grouped = IsGrouped(k.Body);
            var parameters = grouped ? new List<string>() : new List<string> { "ModelGenIndex i" };
            var launcherParameters = grouped ? new List<string>() : new List<string> { "int extent" };
            var rendered = new List<string>();
            var forwarded = new List<string> { grouped ? ConfigCall(k) : "extent" };
            int p = 0;
            foreach (var a in k.Args)
            {
                if (IsKernelParameter(a))
                {
                    string pn = "p" + p.ToString(CultureInfo.InvariantCulture);
                    p++;
                    parameters.Add(ParamType(a) + " " + pn);
                    launcherParameters.Add(ParamType(a) + " " + pn);
                    forwarded.Add(pn);
                    rendered.Add(IsFlag(a) ? pn + " != 0" : a.Kind == ArgKind.TensorCores ? "tensorCores: " + pn + ".Value != 0" : pn);
                }
                else rendered.Add(a.Text);
            }
            parameters.Add("int batch");
            launcherParameters.Add("int batch");
            forwarded.Add("batch");
            var named = Arguments(k.Body, k.Args, rendered, leading: grouped ? 0 : 1);
            w.Line();
            string users = k.Users.Count == 1 ? k.Users[0] : $"{k.Users[0]} and {k.Users.Count - 1} more";
            w.Line($"// {k.Body}: {users}");
            w.Call($"static void {k.Name}Body", parameters, " =>");
            w.Call($"    global::ModelGen.Ops.{k.Body}", (grouped ? named : new[] { "i" }.Concat(named)).ToList(), ";");
            string field = "_k" + k.Index.ToString(CultureInfo.InvariantCulture);
            var delegateArgs = (grouped ? new[] { "global::ILGPU.KernelConfig" } : new string[0]).Concat(KernelTypeArgs(k)).ToList();
            w.Wrap("global::System.Action", "<", delegateArgs, ">", $"? {field};");
            w.Call($"void {k.Name}", launcherParameters, " =>");
            string loader = grouped ? "LoadStreamKernel" : "LoadAutoGroupedStreamKernel";
            w.Wrap($"    _runtime.Launch({field} ??= global::ILGPU.Runtime.KernelLoaders.{loader}", "<", KernelTypeArgs(k), ">(", "");
            w.Call($"        _runtime.Accelerator, {k.Name}Body))", forwarded, ";");
        }
        return End(model.Header, w);
    }
}
