using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace ModelGen.Benchmarks;

/// <summary>
/// BenchmarkDotNet runner (any BenchmarkDotNet arguments, e.g. <c>--filter *Attention*</c>), or
/// <c>--json [--warmup W] [--warmup-ms T] [--runs N]</c>: a quick Stopwatch timing (at least W warmup calls and T ms of
/// them, default 10 and 2000, then the median and minimum of N runs, default 31) that prints one JSON line per case for
/// bench/attention.sh.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Contains("--json")) return QuickJson(args);
        var config = DefaultConfig.Instance.AddColumn(new GflopsColumn());
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }

    static int QuickJson(string[] args)
    {
        int warmup = IntArg(args, "--warmup", 10), warmupMs = IntArg(args, "--warmup-ms", 2000), runs = IntArg(args, "--runs", 31);
        if (warmup < 0 || warmupMs < 0 || runs < 1) { Console.Error.WriteLine("--warmup and --warmup-ms must be >= 0 and --runs >= 1"); return 2; }
        var bench = new AttentionBenchmarks();
        bench.Setup();
        var (fwd, fwdMin) = Time(bench.Forward, warmup, warmupMs, runs);
        var (fb, fbMin) = Time(bench.ForwardBackward, warmup, warmupMs, runs);
        var inv = CultureInfo.InvariantCulture;
        string F(double x) => x.ToString("0.###", inv);
        Console.WriteLine("{" +
            "\"impl\":\"modelgen\",\"case\":\"attention-core\"," +
            $"\"shape\":[{AttentionBenchmarks.Batch},{AttentionBenchmarks.Heads},{AttentionBenchmarks.Tokens},{AttentionBenchmarks.HeadDim}]," +
            $"\"forward_ms\":{F(fwd)},\"forward_backward_ms\":{F(fb)},\"forward_min_ms\":{F(fwdMin)},\"forward_backward_min_ms\":{F(fbMin)}," +
            $"\"forward_gflops\":{F(AttentionBenchmarks.ForwardFlops / fwd / 1e6)}," +
            $"\"forward_backward_gflops\":{F(AttentionBenchmarks.ForwardBackwardFlops / fb / 1e6)}," +
            $"\"warmup\":{warmup},\"warmup_ms\":{warmupMs},\"runs\":{runs},\"processors\":{Environment.ProcessorCount}," +
            $"\"checksum\":{bench.Checksum().ToString("R", inv)}" + "}");
        return 0;
    }

    /// <summary>
    /// Median and minimum wall time in milliseconds of <paramref name="runs"/> calls, after untimed warmup calls: at least
    /// <paramref name="warmup"/> of them and for at least <paramref name="warmupMs"/> ms. The time matters more than the count:
    /// tiered JIT only promotes the per-head lambda and the TensorPrimitives calls to tier 1 after its call-counting delay and
    /// a background compile, which took ~1 s (≈120 forwards, 5-10× slower than steady state) on a loaded 2-core machine.
    /// </summary>
    static (double Median, double Min) Time(Action action, int warmup, int warmupMs, int runs)
    {
        long w0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < warmup || Stopwatch.GetElapsedTime(w0).TotalMilliseconds < warmupMs; i++) action();
        var ms = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(ms);
        return (runs % 2 == 1 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2, ms[0]);
    }

    static int IntArg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : fallback;
    }
}
