using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace ModelGen.Benchmarks;

/// <summary>
/// BenchmarkDotNet runner (any BenchmarkDotNet arguments, e.g. <c>--filter *Attention*</c>, <c>--filter *Vit*</c>), or
/// <c>--json [--case LIST] [--warmup W] [--warmup-ms T] [--runs N] [--onnx DIR] [--threads N]</c>: a quick Stopwatch
/// timing (at least W warmup calls and T ms of them, default 10 and 2000, then the median and minimum of N runs, default
/// 31) that prints one JSON line per case, for bench/attention.sh and bench/vit.sh.
/// <list type="bullet">
/// <item><c>--case LIST</c>: comma-separated case ids, each matching the ids it equals or begins with, <c>*</c> as a
/// wildcard, or <c>all</c>; default <c>attention-core</c> (the line bench/attention.sh reads, format unchanged).
/// <c>--list-cases</c> prints the ids.</item>
/// <item><c>--onnx DIR</c>: instead of ModelGen, time ONNX Runtime's <c>InferenceSession.Run</c> on the files
/// <c>torch_vit.py export-onnx --out DIR</c> writes, for the forward cases among LIST, with <c>--threads N</c> intra-op
/// threads (default 2).</item>
/// </list>
/// </summary>
public static class Program
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The quick mode's ModelGen cases: the id --case selects, and the "case" and "batch" its JSON line prints.</summary>
    static readonly (string Id, string Case, int Batch)[] Cases =
    {
        ("attention-core", "attention-core", AttentionBenchmarks.Batch),
        ("fashion-vit-train-step", "fashion-vit-train-step", FashionVitBenchmarks.Batch),
        ("fashion-vit-forward", "fashion-vit-forward", FashionVitBenchmarks.Batch),
        ("vit-tiny-forward-b1", "vit-tiny-forward", 1),
        ("vit-tiny-forward-b8", "vit-tiny-forward", 8),
    };

    public static int Main(string[] args)
    {
        if (args.Contains("--list-cases"))
        {
            foreach (var c in Cases) Console.WriteLine(c.Id + (OnnxCase.Files.Any(f => f.Id == c.Id) ? "  (also --onnx)" : ""));
            return 0;
        }
        if (args.Contains("--json")) return QuickJson(args);
        if (StringArg(args, "--scaling") is { } n)
            return ScalingBenchmark.Run(int.Parse(n, Inv), StringArg(args, "--variant") ?? "memory-efficient", IntArg(args, "--runs", 3));
        if (StringArg(args, "--performer-error") is { } e) return ScalingBenchmark.ApproximationError(int.Parse(e, Inv));
        if (args.Length == 3 && args[0] == "--plot-scaling") return ScalingBenchmark.Plot(args[1], args[2]);
        var config = DefaultConfig.Instance.AddColumn(new GflopsColumn());
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }

    static int QuickJson(string[] args)
    {
        int warmup = IntArg(args, "--warmup", 10), warmupMs = IntArg(args, "--warmup-ms", 2000), runs = IntArg(args, "--runs", 31);
        if (warmup < 0 || warmupMs < 0 || runs < 1) { Console.Error.WriteLine("--warmup and --warmup-ms must be >= 0 and --runs >= 1"); return 2; }
        string? filter = StringArg(args, "--case"), onnxDir = StringArg(args, "--onnx");
        if (!TrySelect(filter ?? "attention-core", out var selected, out string? error)) { Console.Error.WriteLine(error); return 2; }
        if (onnxDir != null) return QuickOnnx(onnxDir, selected, IntArg(args, "--threads", 2), warmup, warmupMs, runs);

        foreach (var c in Cases.Where(c => selected.Contains(c.Id)))
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            if (c.Id == "attention-core") { Attention(warmup, warmupMs, runs); continue; }
            double median, min, check;
            switch (c.Id)
            {
                case "fashion-vit-train-step":
                case "fashion-vit-forward":
                {
                    using var b = new FashionVitBenchmarks();
                    b.Setup();
                    (median, min) = c.Id == "fashion-vit-forward" ? Time(() => b.Forward(), warmup, warmupMs, runs) : Time(b.TrainStep, warmup, warmupMs, runs);
                    check = b.LastValue;
                    break;
                }
                default:
                {
                    using var b = new VitTinyBenchmarks { Batch = c.Batch };
                    b.Setup();
                    (median, min) = Time(() => b.Forward(), warmup, warmupMs, runs);
                    check = b.LastValue;
                    break;
                }
            }
            Console.WriteLine(Line("modelgen", c.Case, c.Batch, median, min, warmup, warmupMs, runs, $"\"processors\":{Environment.ProcessorCount}", check));
        }
        return 0;
    }

    /// <summary>The attention core's line, exactly as bench/attention.sh has always read it.</summary>
    static void Attention(int warmup, int warmupMs, int runs)
    {
        var bench = new AttentionBenchmarks();
        bench.Setup();
        var (fwd, fwdMin) = Time(bench.Forward, warmup, warmupMs, runs);
        var (fb, fbMin) = Time(bench.ForwardBackward, warmup, warmupMs, runs);
        Console.WriteLine("{" +
            "\"impl\":\"modelgen\",\"case\":\"attention-core\"," +
            $"\"shape\":[{AttentionBenchmarks.Batch},{AttentionBenchmarks.Heads},{AttentionBenchmarks.Tokens},{AttentionBenchmarks.HeadDim}]," +
            $"\"forward_ms\":{F(fwd)},\"forward_backward_ms\":{F(fb)},\"forward_min_ms\":{F(fwdMin)},\"forward_backward_min_ms\":{F(fbMin)}," +
            $"\"forward_gflops\":{F(AttentionBenchmarks.ForwardFlops / fwd / 1e6)}," +
            $"\"forward_backward_gflops\":{F(AttentionBenchmarks.ForwardBackwardFlops / fb / 1e6)}," +
            $"\"warmup\":{warmup},\"warmup_ms\":{warmupMs},\"runs\":{runs},\"processors\":{Environment.ProcessorCount}," +
            $"\"checksum\":{bench.Checksum().ToString("R", Inv)}" + "}");
    }

    static int QuickOnnx(string dir, HashSet<string> selected, int threads, int warmup, int warmupMs, int runs)
    {
        if (threads < 1) { Console.Error.WriteLine("--threads must be >= 1"); return 2; }
        var files = OnnxCase.Files.Where(f => selected.Contains(f.Id)).ToList();
        if (files.Count == 0) { Console.Error.WriteLine("--onnx: none of the selected cases has an ONNX file (they are: " + string.Join(", ", OnnxCase.Files.Select(f => f.Id)) + ")"); return 2; }
        int status = 0;
        foreach (var f in files)
        {
            string path = OnnxCase.PathIn(dir, f.File);
            if (!File.Exists(path)) { Console.Error.WriteLine($"--onnx: {path} not found (write it with torch_vit.py export-onnx --out {dir})"); status = 1; continue; }
            GC.Collect();
            using var c = new OnnxCase(path, f.Shape, threads);
            var (median, min) = Time(c.Run, warmup, warmupMs, runs);
            Console.WriteLine(Line("onnxruntime", f.Case, f.Batch, median, min, warmup, warmupMs, runs,
                $"\"threads\":{threads},\"file\":\"{f.File}\"", c.LastValue));
        }
        return status;
    }

    static string Line(string impl, string @case, int batch, double median, double min, int warmup, int warmupMs, int runs, string extra, double check) =>
        "{" + $"\"impl\":\"{impl}\",\"case\":\"{@case}\",\"batch\":{batch},\"ms\":{F(median)},\"min_ms\":{F(min)}," +
        $"\"warmup\":{warmup},\"warmup_ms\":{warmupMs},\"runs\":{runs},{extra}," +
        $"\"check\":{(double.IsFinite(check) ? check.ToString("R", Inv) : "null")}" + "}";

    static string F(double x) => x.ToString("0.###", Inv);

    /// <summary>Resolves a comma-separated case list: exact ids, id prefixes, <c>*</c> wildcards, or <c>all</c>.</summary>
    static bool TrySelect(string filter, out HashSet<string> selected, out string? error)
    {
        selected = new HashSet<string>();
        error = null;
        foreach (var raw in filter.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var item = raw.ToLowerInvariant();
            var matches = item == "all" ? Cases.Select(c => c.Id).ToList()
                : item.Contains('*')
                    ? Cases.Select(c => c.Id).Where(id => Regex.IsMatch(id, "^" + Regex.Escape(item).Replace("\\*", ".*") + "$")).ToList()
                    : Cases.Select(c => c.Id).Where(id => id == item || id.StartsWith(item, StringComparison.Ordinal)).ToList();
            if (matches.Count == 0)
            {
                error = $"--case: '{raw}' matches no case (cases: {string.Join(", ", Cases.Select(c => c.Id))}, or all)";
                return false;
            }
            selected.UnionWith(matches);
        }
        if (selected.Count == 0) { error = "--case: empty list"; return false; }
        return true;
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

    static string? StringArg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
