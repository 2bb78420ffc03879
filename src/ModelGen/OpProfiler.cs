using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ILGPU.Runtime;

namespace ModelGen;

/// <summary>One primitive op of a generated model (its <c>Ops</c> table): the op as the generated passes name it, and what
/// its forward costs — FLOPs and bytes per sample (activations read and written once) and fixed bytes (parameters).</summary>
public sealed record OpInfo(string Name, long Flops, long BytesPerSample, long FixedBytes)
{
    /// <summary>The layer path, the part of <see cref="Name"/> before its kind.</summary>
    public string Path => Name.IndexOf(" (", StringComparison.Ordinal) is int i and > 0 ? Name.Substring(0, i) : Name;
}

/// <summary>One op's time in one pass, averaged over the profiled passes, beside its roofline.</summary>
public sealed record OpTiming(OpInfo Op, bool Backward, double Milliseconds, long Flops, long Bytes)
{
    /// <summary>The least time the op can take on a device of the given peak FP32 rate and memory bandwidth: the larger of its
    /// FLOPs at peak and its bytes at full bandwidth.</summary>
    public double RooflineMilliseconds(double peakFlops, double bytesPerSecond) => 1e3 * Math.Max(Flops / peakFlops, Bytes / bytesPerSecond);
}

/// <summary>
/// Times every op of a model's device passes with the accelerator's profiling markers (CUDA events on a GPU): a marker is
/// recorded in the stream before each op and at <see cref="Stop"/>, so the time between two is what the device spent on
/// the op's kernels, with no synchronization while the passes run. Work between passes that is not an op (the loss, the
/// norm, the optimizer) falls under <see cref="Other"/>. Backward is costed at twice the forward's FLOPs and bytes.
/// </summary>
public sealed class OpProfiler
{
    /// <summary>The pseudo-op index of device work outside the passes (loss, clipping, optimizer).</summary>
    public const int Other = -1;

    readonly ModelRuntime _runtime;
    readonly IReadOnlyList<OpInfo> _ops;
    readonly List<(int Op, bool Backward, ProfilingMarker Marker)> _marks = new();
    int _batch;

    internal OpProfiler(ModelRuntime runtime, IReadOnlyList<OpInfo> ops)
    {
        _runtime = runtime;
        _ops = ops;
    }

    public bool Running { get; private set; }

    /// <summary>Starts recording (device only: the CPU backend runs no kernels to time).</summary>
    public void Start()
    {
        if (!_runtime.OnAccelerator) throw new InvalidOperationException("The profiler times device kernels; this model runs on the CPU backend.");
        Clear();
        Running = true;
    }

    /// <summary>Called by the generated passes before each op; free when not running.</summary>
    public void Mark(int op, bool backward)
    {
        if (!Running) return;
        _marks.Add((op, backward, _runtime.Accelerator.DefaultStream.AddProfilingMarker()));
    }

    internal void Batch(int batch) => _batch = batch;

    /// <summary>Stops, waits for the device, and returns each op's mean time per pass in forward order (backward ops after),
    /// and the device work outside the passes as one entry.</summary>
    public IReadOnlyList<OpTiming> Stop()
    {
        if (!Running) throw new InvalidOperationException("The profiler was not started.");
        Mark(Other, false);
        Running = false;
        _runtime.Accelerator.Synchronize();
        var total = new Dictionary<(int, bool), double>();
        var count = new Dictionary<(int, bool), int>();
        for (int i = 0; i + 1 < _marks.Count; i++)
        {
            var key = (_marks[i].Op, _marks[i].Backward);
            double ms = _marks[i + 1].Marker.MeasureFrom(_marks[i].Marker).TotalMilliseconds;
            total[key] = total.GetValueOrDefault(key) + ms;
            count[key] = count.GetValueOrDefault(key) + 1;
        }
        int passes = Math.Max(1, count.Where(k => k.Key.Item1 >= 0 && !k.Key.Item2).Select(k => k.Value).DefaultIfEmpty(1).Max());
        var result = new List<OpTiming>();
        foreach (bool backward in new[] { false, true })
            for (int op = 0; op < _ops.Count; op++)
                if (count.TryGetValue((op, backward), out int n))
                {
                    var info = _ops[op];
                    long flops = info.Flops * _batch * (backward ? 2 : 1);
                    long bytes = (info.BytesPerSample * _batch + info.FixedBytes) * (backward ? 2 : 1);
                    result.Add(new OpTiming(info, backward, total[(op, backward)] / n, flops, bytes));
                }
        if (total.TryGetValue((Other, false), out double other))
            result.Add(new OpTiming(new OpInfo("(between passes: loss, clipping, optimizer)", 0, 0, 0), false, other / passes, 0, 0));
        Clear();
        return result;
    }

    void Clear()
    {
        foreach (var m in _marks) m.Marker.Dispose();
        _marks.Clear();
    }

    /// <summary>A table of timings beside the roofline of a device with the given peak FP32 FLOP/s and bandwidth.</summary>
    public static string Format(IReadOnlyList<OpTiming> timings, double peakFlops, double bytesPerSecond)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(string.Format(inv, "{0,-9} {1,10} {2,12} {3,10} {4,8}  {5}", "pass", "ms", "roofline ms", "GFLOP/s", "of peak", "op"));
        foreach (var t in timings)
        {
            double roof = t.RooflineMilliseconds(peakFlops, bytesPerSecond);
            double gflops = t.Milliseconds > 0 ? t.Flops / (t.Milliseconds * 1e6) : 0;
            sb.AppendLine(string.Format(inv, "{0,-9} {1,10:F4} {2,12:F4} {3,10:F1} {4,7:P1}  {5}", t.Backward ? "backward" : "forward",
                t.Milliseconds, roof, gflops, t.Milliseconds > 0 ? roof / t.Milliseconds : 0, t.Op.Name));
        }
        return sb.ToString();
    }
}
