using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using ModelGen;
using ModelGen.Benchmarks;
using ModelGen.Data;
using ModelGen.Examples.FashionMnist;
using ModelGen.Examples.Segmentation;
using ModelGen.Training;

namespace ModelGen.DeviceChecks;

/// <summary>
/// The device run, one JSON line per result (exit code 1 on a mismatch or when the device cannot be opened; the line says why):
/// <list type="number">
/// <item>correctness of every sample model on the device against the CPU backend: output and every parameter gradient, and
/// for the classifiers and the SETR three device-resident training steps (loss and parameters);</item>
/// <item>compile (JIT) time of each model: its first pass, minus a warm pass;</item>
/// <item>end-to-end training steps (TrainStep, all on the device): the Fashion ViT at batch 128, ViT-Tiny/16 at 64 and the
/// garment SETR at 32 (per-pixel cross-entropy over its 11 classes);</item>
/// <item>a per-op profile of the ViT steps beside each op's roofline on an H200 (FP32 peak and HBM bandwidth below), and the
/// step's roofline sum.</item>
/// </list>
/// Usage: ModelGen.DeviceChecks probe | cuda | opencl | sim. "sim" (ILGPU's CPU accelerator shaped like a GPU) runs every
/// check at small batches, to prove the script end to end without a GPU; its times mean nothing.
/// </summary>
public static class Program
{
    /// <summary>H200 FP32 peak (non-tensor) and measured HBM bandwidth, for the roofline columns.</summary>
    const double PeakFlops = 60e12, Bandwidth = 4.3e12;

    static bool s_sim;

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
            Emit(("event", "device"), ("kind", kind), ("error", e.Message));
            return 1;
        }
        s_sim = device.Kind == DeviceKind.CpuSimulator;
        using var _ = device;
        using var cpu = Device.Cpu();
        Emit(("event", "device"), ("kind", device.Kind.ToString()), ("name", device.Name));
        bool ok = true;
        foreach (var sample in Samples())
        {
            ok &= Correct(sample, device, cpu);
            if (sample.Classes > 0 && sample.TrainCheck) ok &= TrainsAlike(sample, device, cpu);
        }
        foreach (var sample in Samples().Where(s => s.TimedBatch > 0)) Time(sample, device, cpu, "fp32");
        if (device.Kind is DeviceKind.Cuda or DeviceKind.CpuSimulator) ok &= Tf32(kind, cpu);
        Emit(("event", "done"), ("ok", ok ? "true" : "false"));
        return ok ? 0 : 1;
    }

    /// <summary>Prints every finding of the CUDA probe as a JSON line; exit code 1 when one failed.</summary>
    static int Probe()
    {
        bool failed = false;
        foreach (var f in DeviceProbe.Cuda())
        {
            Emit(("probe", f.Name), ("value", f.Value), ("ok", f.Failed ? "false" : "true"));
            failed |= f.Failed;
        }
        return failed ? 1 : 0;
    }

    /// <summary>A sample model behind one shape: how to build it, run it, and (for a classifier) train it.</summary>
    /// <param name="TrainCheck">Whether to compare three training steps (the simulator skips it for ViT-Tiny, whose 197-token attention
    /// takes it minutes there, and for the 64×64 segmenters; the tests train a small SETR on it instead).</param>
    /// <param name="Targets">Targets per sample of its training step: 1 for a classifier, H·W for a segmenter.</param>
    sealed record Sample(string Name, int[] Input, int Classes, int CheckBatch, int TimedBatch, Func<Device, Model> Create, bool TrainCheck = true,
        int Targets = 1);

    sealed record Model(IDisposable Self, ParameterSet Parameters, OpProfiler Profiler, Func<Tensor, Tensor> Forward, Action<Tensor> Backward,
        Func<Tensor, int[], IOptimizer, StepResult>? TrainStep) : IDisposable
    {
        public void Dispose() => Self.Dispose();
    }

    static IEnumerable<Sample> Samples()
    {
        // On the simulator every group of 256 threads runs as 256 OS threads meeting at each barrier, so it checks at batch 1–2.
        yield return new("gqa-encoder", new[] { 50, 64 }, 0, s_sim ? 2 : 3, 0, d =>
        {
            var m = new CheckEncoder(d, 1);
            return new(m, m.Parameters, m.Profiler, x => m.Forward(x, CheckEncoder.Padding(x.Shape[0])), m.Backward, null);
        });
        yield return new("fashion-vit", new[] { 1, 28, 28 }, 10, s_sim ? 2 : 8, s_sim ? 2 : 128, d =>
        {
            var m = new FashionVit(d, 1);
            return new(m, m.Parameters, m.Profiler, m.Forward, m.Backward, (x, y, o) => m.TrainStep(x, y, o, clipNorm: 1f));
        });
        yield return new("vit-tiny", new[] { 3, 224, 224 }, 1000, s_sim ? 1 : 2, s_sim ? 0 : 64, d =>
        {
            var m = new VitTiny(d, 1);
            return new(m, m.Parameters, m.Profiler, m.Forward, m.Backward, (x, y, o) => m.TrainStep(x, y, o, clipNorm: 1f));
        }, TrainCheck: !s_sim);
        yield return new("garment-setr", new[] { 1, 64, 64 }, GarmentCanvas.Classes, s_sim ? 1 : 2, s_sim ? 1 : 32, d =>
        {
            var m = new GarmentSetr(d, 1);
            return new(m, m.Parameters, m.Profiler, m.Forward, m.Backward, (x, y, o) => m.TrainStep(x, y, o, clipNorm: 1f));
        }, TrainCheck: !s_sim, Targets: 64 * 64);
        yield return new("garment-segmenter", new[] { 1, 64, 64 }, GarmentCanvas.Classes, s_sim ? 1 : 2, 0, d =>
        {
            var m = new GarmentSegmenter(d, 1);
            return new(m, m.Parameters, m.Profiler, m.Forward, m.Backward, (x, y, o) => m.TrainStep(x, y, o, clipNorm: 1f));
        }, TrainCheck: !s_sim, Targets: 64 * 64);
    }

    static Tensor Batch(Sample s, int batch, int seed) => Random(seed, new[] { batch }.Concat(s.Input).ToArray());

    static int[] Labels(Sample s, int batch, int seed) => Enumerable.Range(0, batch * s.Targets).Select(i => (i * 7 + seed) % s.Classes).ToArray();

    /// <summary>The opt-in TF32 tensor cores: the classifiers' and the SETR's output and gradients to TF32 accuracy (2 %), then their
    /// timed steps again. On the simulator only the Fashion ViT, whose fragments are emulated.</summary>
    static bool Tf32(string kind, Device cpu)
    {
        Device tf32;
        try
        {
            tf32 = Device.Parse(kind + "-tf32");
        }
        catch (DeviceUnavailableException e)
        {
            Emit(("event", "device"), ("kind", kind + "-tf32"), ("error", e.Message));
            return true;
        }
        using var _ = tf32;
        bool ok = true;
        foreach (var sample in Samples().Where(s => s.TimedBatch > 0 && s.Classes > 0 && (!s_sim || s.Name == "fashion-vit")))
        {
            ok &= Correct(sample, tf32, cpu, tolerance: 2e-2, precision: "tf32");
            Time(sample, tf32, cpu, "tf32");
        }
        return ok;
    }

    /// <summary>Forward and backward once on both, in training mode off: the output and every gradient agree.</summary>
    static bool Correct(Sample s, Device device, Device cpu, double tolerance = 1e-3, string precision = "fp32")
    {
        using var a = s.Create(cpu);
        using var b = s.Create(device);
        var x = Batch(s, s.CheckBatch, 1);
        var outA = a.Forward(x);
        var outB = b.Forward(x);
        var dy = Random(2, outA.Shape);
        a.Parameters.ZeroGrad();
        b.Parameters.ZeroGrad();
        a.Backward(dy);
        b.Backward(dy);
        double worst = RelativeError(outA.Data, outB.Data);
        string where = "output";
        // Some gradients are zero in exact arithmetic (a key bias shifts every score of a row equally), so each gradient's
        // error is measured against at least a thousandth of the model's largest gradient.
        double floor = 1e-3 * a.Parameters.Max(p => p.Grad.Length == 0 ? 0 : p.Grad.Max(Math.Abs));
        for (int i = 0; i < a.Parameters.Count; i++)
        {
            double e = RelativeError(a.Parameters[i].Grad, b.Parameters[i].Grad, floor);
            if (e > worst) (worst, where) = (e, a.Parameters[i].Name);
        }
        bool ok = worst <= tolerance;
        Emit(("check", "forward-backward"), ("model", s.Name), ("precision", precision), ("batch", Int(s.CheckBatch)), ("max_rel_error", Num(worst, "G3")), ("worst", where),
            ("gradients", Int(a.Parameters.Count)), ("ok", ok ? "true" : "false"));
        return ok;
    }

    /// <summary>Three device-resident training steps against the same steps on the CPU backend.</summary>
    static bool TrainsAlike(Sample s, Device device, Device cpu)
    {
        using var a = s.Create(cpu);
        using var b = s.Create(device);
        var optA = new AdamW(a.Parameters, 1e-3f, weightDecay: 0.05f);
        var optB = new AdamW(b.Parameters, 1e-3f, weightDecay: 0.05f);
        double worstLoss = 0;
        for (int step = 0; step < 3; step++)
        {
            var x = Batch(s, s.CheckBatch, 10 + step);
            var y = Labels(s, s.CheckBatch, step);
            float la = a.TrainStep!(x, y, optA).Loss, lb = b.TrainStep!(x, y, optB).Loss;
            worstLoss = Math.Max(worstLoss, Math.Abs(la - lb) / Math.Max(1, Math.Abs(la)));
        }
        b.Parameters.Synchronize();
        double worst = 0;
        string where = "";
        for (int i = 0; i < a.Parameters.Count; i++)
        {
            // A key projection's bias has a zero gradient in exact arithmetic: Adam turns its rounding noise into full
            // steps of either sign, so its values cannot agree between two summation orders.
            if (a.Parameters[i].Name.EndsWith("k_proj.bias", StringComparison.Ordinal)) continue;
            double e = RelativeError(a.Parameters[i].Value, b.Parameters[i].Value);
            if (e > worst) (worst, where) = (e, a.Parameters[i].Name);
        }
        bool ok = worstLoss <= 1e-4 && worst <= 1e-3;
        Emit(("check", "train-steps"), ("model", s.Name), ("batch", Int(s.CheckBatch)), ("steps", "3"), ("loss_rel_error", Num(worstLoss, "G3")),
            ("param_rel_error", Num(worst, "G3")), ("worst", where), ("ok", ok ? "true" : "false"));
        return ok;
    }

    /// <summary>Compile time, step time on the device and on the CPU backend, the launches and copies of a step, and for a
    /// classifier a per-op profile of its steps beside the roofline.</summary>
    static void Time(Sample s, Device device, Device cpu, string precision)
    {
        int batch = s.TimedBatch, reps = s_sim ? 1 : 20;
        using var m = s.Create(device);
        var x = Batch(s, batch, 3);
        var dy = Random(4, new[] { batch }.Concat(OutputShape(m, x)).ToArray());
        var opt = new AdamW(m.Parameters, 1e-3f, weightDecay: 0.05f);
        var y = s.Classes > 0 ? Labels(s, batch, 0) : null;
        Action step = s.Classes > 0 ? () => m.TrainStep!(x, y!, opt) : () => { m.Forward(x); m.Backward(dy); };
        double first = Ms(step, 1), warm = Ms(step, 1);
        var before = (device.Counters.Launches, device.Counters.Copies);
        double ms = Ms(step, reps);
        long launches = (device.Counters.Launches - before.Launches) / reps, copies = (device.Counters.Copies - before.Copies) / reps;
        double cpuMs = double.NaN;
        if (!s_sim && precision == "fp32")
        {
            using var c = s.Create(cpu);
            var optC = new AdamW(c.Parameters, 1e-3f, weightDecay: 0.05f);
            Action cpuStep = s.Classes > 0 ? () => c.TrainStep!(x, y!, optC) : () => { c.Forward(x); c.Backward(dy); };
            cpuStep();
            cpuMs = Ms(cpuStep, 3);
        }
        Emit(("timing", s.Classes > 0 ? "train-step" : "forward-backward"), ("model", s.Name), ("precision", precision), ("batch", Int(batch)),
            ("device_ms", Num(ms, "F3")), ("cpu_ms", Num(cpuMs, "F2")), ("jit_ms", Num(first - warm, "F0")),
            ("launches", Int(launches)), ("copies", Int(copies)), ("reps", Int(reps)));

        m.Profiler.Start();
        for (int i = 0; i < Math.Max(1, reps / 4); i++) step();
        var timings = m.Profiler.Stop();
        double roofline = timings.Sum(t => t.RooflineMilliseconds(PeakFlops, Bandwidth)), measured = timings.Sum(t => t.Milliseconds);
        foreach (var t in timings.OrderByDescending(t => t.Milliseconds).Take(12))
            Emit(("profile", s.Name), ("precision", precision), ("pass", t.Backward ? "backward" : "forward"), ("op", t.Op.Name), ("ms", Num(t.Milliseconds, "F4")),
                ("roofline_ms", Num(t.RooflineMilliseconds(PeakFlops, Bandwidth), "F4")), ("gflops", Num(t.Milliseconds > 0 ? t.Flops / (t.Milliseconds * 1e6) : 0, "F1")));
        Emit(("profile_total", s.Name), ("precision", precision), ("ops_ms", Num(measured, "F3")), ("roofline_ms", Num(roofline, "F4")),
            ("note", s_sim ? "simulator: times mean nothing; the roofline is an H200's" : "roofline: FP32 60 TFLOP/s, HBM 4.3 TB/s"));
    }

    static int[] OutputShape(Model m, Tensor x) => m.Forward(x).Shape.Skip(1).ToArray();

    static double Ms(Action action, int reps)
    {
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

    static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    static string Num(double v, string format) => double.IsNaN(v) ? "null" : v.ToString(format, CultureInfo.InvariantCulture);

    static void Emit(params (string Key, string Value)[] fields) =>
        Console.WriteLine("{" + string.Join(", ", fields.Select(f => $"\"{f.Key}\": " +
            (f.Value is "true" or "false" or "null" || double.TryParse(f.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? f.Value : "\"" + f.Value.Replace("\"", "'") + "\""))) + "}");
}

/// <summary>A causal, key-padded grouped-query encoder (4 heads sharing 2 key/value heads).</summary>
[Model]
[Input("x", 50, 64)]
[Input("padding", 50, Kind = InputKind.KeyPaddingMask)]
public partial class CheckEncoder
{
    [TransformerEncoder(4, 4, KvHeads = 2, FeedForward = 128, Causal = true, KeyPaddingMask = "padding")]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    /// <summary>Sample b pads its last b mod 7 keys.</summary>
    public static Tensor Padding(int batch)
    {
        var pad = Tensor.Zeros(batch, 50);
        for (int b = 0; b < batch; b++) for (int k = 50 - b % 7; k < 50; k++) pad[b, k] = 1f;
        return pad;
    }
}
