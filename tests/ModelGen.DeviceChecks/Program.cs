using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using ModelGen;

namespace ModelGen.DeviceChecks;

/// <summary>
/// Runs generated models on an ILGPU device (CUDA by default) and on the CPU backend, compares outputs and every
/// gradient, and times forward and forward+backward on both. One JSON line per result; exit code 1 on a mismatch or when
/// the device cannot be opened (the line says why).
/// Usage: ModelGen.DeviceChecks probe | cuda | opencl | sim
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string kind = args.Length > 0 ? args[0] : "cuda";
        if (kind == "probe") return Probe();
        Device device;
        try
        {
            device = Device.Parse(kind);
        }
        catch (DeviceUnavailableException e)
        {
            Console.WriteLine(Json(("event", "device"), ("kind", kind), ("error", e.Message)));
            return 1;
        }
        using var _ = device;
        using var cpu = Device.Cpu();
        Console.WriteLine(Json(("event", "device"), ("kind", device.Kind.ToString()), ("name", device.Name)));
        bool ok = true;
        ok &= Check("gqa-encoder-b2", d => new CheckEncoder(d, 1), m => ((CheckEncoder)m).Run(2, 1), device, cpu, reps: kind == "sim" ? 1 : 20);
        ok &= Check("gqa-encoder-b64", d => new CheckEncoder(d, 1), m => ((CheckEncoder)m).Run(64, 2), device, cpu, reps: kind == "sim" ? 0 : 20);
        ok &= Check("vit-tiny-encoder-b8", d => new TinyVitEncoder(d, 1), m => ((TinyVitEncoder)m).Run(8, 3), device, cpu, reps: kind == "sim" ? 0 : 5);
        Console.WriteLine(Json(("event", "done"), ("ok", ok ? "true" : "false")));
        return ok ? 0 : 1;
    }

    /// <summary>Prints every finding of the CUDA probe as a JSON line; exit code 1 when one failed.</summary>
    static int Probe()
    {
        bool failed = false;
        foreach (var f in DeviceProbe.Cuda())
        {
            Console.WriteLine(Json(("probe", f.Name), ("value", f.Value), ("ok", f.Failed ? "false" : "true")));
            failed |= f.Failed;
        }
        return failed ? 1 : 0;
    }

    interface IRunnable : IDisposable
    {
        ParameterSet Parameters { get; }
    }

    static bool Check(string name, Func<Device, IDisposable> create, Func<IDisposable, float[]> run, Device device, Device cpu, int reps)
    {
        if (reps == 0 && device.Kind == DeviceKind.CpuSimulator) return true;
        using var a = create(cpu);
        using var b = create(device);
        var outA = run(a);
        var outB = run(b);
        double worst = RelativeError(outA, outB);
        var pa = Parameters(a);
        var pb = Parameters(b);
        string worstParam = "";
        // Some gradients are zero in exact arithmetic (a key bias shifts every score of a row equally), so each
        // gradient's error is measured against at least a thousandth of the model's largest gradient.
        double floor = 1e-3 * pa.Max(p => p.Grad.Max(Math.Abs));
        for (int i = 0; i < pa.Count; i++)
        {
            double e = RelativeError(pa[i].Grad, pb[i].Grad, floor);
            if (e > worst) { worst = e; worstParam = pa[i].Name; }
        }
        bool ok = worst <= 1e-3;
        double cpuMs = reps > 0 ? Time(() => run(a), reps) : double.NaN;
        double devMs = reps > 0 ? Time(() => run(b), reps) : double.NaN;
        Console.WriteLine(Json(("case", name), ("max_rel_error", worst.ToString("G3", CultureInfo.InvariantCulture)), ("worst", worstParam),
            ("ok", ok ? "true" : "false"), ("cpu_fwd_bwd_ms", cpuMs.ToString("F2", CultureInfo.InvariantCulture)), ("device_fwd_bwd_ms", devMs.ToString("F2", CultureInfo.InvariantCulture))));
        return ok;
    }

    static ParameterSet Parameters(IDisposable m) => m switch
    {
        CheckEncoder e => e.Parameters,
        TinyVitEncoder v => v.Parameters,
        _ => throw new ArgumentException(m.GetType().Name),
    };

    static double Time(Action action, int reps)
    {
        action();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) action();
        return sw.Elapsed.TotalMilliseconds / reps;
    }

    static double RelativeError(float[] a, float[] b, double floor = 0)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++)
        {
            num = Math.Max(num, Math.Abs(a[i] - b[i]));
            den = Math.Max(den, Math.Abs(a[i]));
        }
        den = Math.Max(den, floor);
        return den == 0 ? num : num / den;
    }

    internal static Tensor Random(int seed, params int[] shape)
    {
        var t = Tensor.Zeros(shape);
        var r = new Random(seed);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(r.NextDouble() * 2 - 1);
        return t;
    }

    static string Json(params (string Key, string Value)[] fields) =>
        "{" + string.Join(", ", fields.Select(f => $"\"{f.Key}\": " + (double.TryParse(f.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) || f.Value is "true" or "false" ? f.Value : $"\"{f.Value}\""))) + "}";
}

[Model]
[Input("x", 50, 64)]
[Input("padding", 50, Kind = InputKind.KeyPaddingMask)]
public partial class CheckEncoder
{
    [TransformerEncoder(4, 4, KvHeads = 2, FeedForward = 128, Causal = true, KeyPaddingMask = "padding")]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    public float[] Run(int batch, int seed)
    {
        var pad = Tensor.Zeros(batch, 50);
        for (int b = 0; b < batch; b++) for (int k = 50 - b % 7; k < 50; k++) pad[b, k] = 1f;
        Parameters.ZeroGrad();
        var y = Forward(Program.Random(seed, batch, 50, 64), pad);
        Backward(Program.Random(seed + 100, y.Shape));
        return y.Data;
    }
}

/// <summary>ViT-Tiny/16's encoder at 224²: 197 tokens, width 192, 12 layers, 3 heads.</summary>
[Model]
[Input("tokens", 197, 192)]
public partial class TinyVitEncoder
{
    [TransformerEncoder(12, 3, FeedForward = 768)] public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    public float[] Run(int batch, int seed)
    {
        Parameters.ZeroGrad();
        var y = Forward(Program.Random(seed, batch, 197, 192));
        Backward(Program.Random(seed + 100, y.Shape));
        return y.Data;
    }
}
