using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelGen.Ops;

namespace ModelGen.Benchmarks;

/// <summary>
/// Attention over long sequences (B 1, H 4, d 64; N from the command line) for bench/scaling.sh, one case per process so each
/// peak is its own: <c>--scaling N --variant V [--runs R]</c> prints one JSON line with the median forward and
/// forward+backward times and the peak working set the case added beyond its inputs. Variants: <c>memory-efficient</c> (the
/// CPU attention ModelGen runs on long sequences: row log-sum-exp kept, probabilities recomputed in backward),
/// <c>probabilities</c> (the attention that keeps the N² probabilities, as short sequences run), <c>linformer</c> (keys
/// and values projected along the tokens onto k = 256 mixtures, then attention over them: the ops a LinformerAttention layer
/// runs between its q/k/v and output projections), <c>performer</c> (FAVOR+ with m = 256 random features, then linear attention),
/// <c>reformer</c> (LSH attention of shared queries and keys: 2 hash rounds into 64 buckets, chunks of 64),
/// <c>bigbird</c> (blocks of 64: a window of ±1 block, 2 global and 3 random blocks) and <c>sliding-window</c> (the window alone).
/// <c>--plot-scaling IN.jsonl OUT.png</c> draws the lines of a run, log-log.
/// </summary>
public static class ScalingBenchmark
{
    public const int Heads = 4, HeadDim = 64, Projected = 256, Features = 256, SparseBlock = 64, LshBuckets = 64, LshRounds = 2, LshChunk = 64;
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(int n, string variant, int runs)
    {
        if (n < 1 || runs < 1) { Console.Error.WriteLine("--scaling needs N >= 1 and --runs >= 1"); return 2; }
        int width = Heads * HeadDim;
        var rng = new Random(1234);
        float[] Rand(int len)
        {
            var a = new float[len];
            for (int i = 0; i < len; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
            return a;
        }
        float scale = 1f / MathF.Sqrt(HeadDim);
        var q = Rand(n * width);
        var k = Rand(n * width);
        var v = Rand(n * width);
        var dO = Rand(n * width);
        var o = new float[n * width];
        var dq = new float[n * width];
        var dk = new float[n * width];
        var dv = new float[n * width];
        Action forward, backward;
        int pairs = 0;
        switch (variant)
        {
            case "memory-efficient":
            {
                var lse = new float[Heads * n];
                forward = () => Attention.StreamingForward(o, lse, q, k, v, null, null, 1, n, n, Heads, Heads, HeadDim, HeadDim, 0, 0, false, false, scale);
                backward = () => Attention.StreamingBackward(dq, dk, dv, null, dO, q, k, v, o, lse, null, null, 1, n, n, Heads, Heads, HeadDim, HeadDim, 0, 0, false, false, scale);
                break;
            }
            case "probabilities":
            {
                float[]? probs = null;
                forward = () =>
                {
                    probs ??= new float[(long)Heads * n * n > Array.MaxLength ? throw new OutOfMemoryException($"{(long)Heads * n * n} probabilities exceed one array") : Heads * n * n];
                    Attention.Forward(o, probs, q, k, v, null, null, 1, n, n, Heads, Heads, HeadDim, HeadDim, 0, 0, false, false, scale);
                };
                backward = () => Attention.Backward(dq, dk, dv, null, dO, q, k, v, o, probs!, 1, n, n, Heads, Heads, HeadDim, HeadDim, scale);
                break;
            }
            case "linformer":
            {
                // E (k × n) mixes the tokens of k and v: transpose (n, width) -> (width, n), Linear over n, transpose back.
                int kp = Math.Min(Projected, n);
                var e = Rand(kp * n);
                var f = Rand(kp * n);
                float[] kt = new float[width * n], vt = new float[width * n], km = new float[width * kp], vm = new float[width * kp];
                float[] k2 = new float[kp * width], v2 = new float[kp * width], probs = new float[Heads * n * kp];
                float[] dk2 = new float[kp * width], dv2 = new float[kp * width], dkm = new float[width * kp], dvm = new float[width * kp];
                float[] dkt = new float[width * n], dvt = new float[width * n], de = new float[kp * n], df = new float[kp * n];
                forward = () =>
                {
                    TokenMap.ToMapForward(kt, k, 1, 0, width, n, 1);
                    TokenMap.ToMapForward(vt, v, 1, 0, width, n, 1);
                    Linear.Forward(km, kt, e, null, width, n, kp);
                    Linear.Forward(vm, vt, f, null, width, n, kp);
                    TokenMap.ToTokensForward(k2, km, 1, width, kp, 1);
                    TokenMap.ToTokensForward(v2, vm, 1, width, kp, 1);
                    Attention.Forward(o, probs, q, k2, v2, null, null, 1, n, kp, Heads, Heads, HeadDim, HeadDim, 0, 0, false, false, scale);
                };
                backward = () =>
                {
                    Array.Clear(dk2); Array.Clear(dv2); Array.Clear(dkm); Array.Clear(dvm); Array.Clear(dkt); Array.Clear(dvt);
                    Attention.Backward(dq, dk2, dv2, null, dO, q, k2, v2, o, probs, 1, n, kp, Heads, Heads, HeadDim, HeadDim, scale);
                    TokenMap.ToTokensBackward(dkm, dk2, 1, width, kp, 1);
                    TokenMap.ToTokensBackward(dvm, dv2, 1, width, kp, 1);
                    Linear.Backward(dkt, de, null, dkm, kt, e, width, n, kp);
                    Linear.Backward(dvt, df, null, dvm, vt, f, width, n, kp);
                    TokenMap.ToMapBackward(dk, dkt, 1, 0, width, n, 1);
                    TokenMap.ToMapBackward(dv, dvt, 1, 0, width, n, 1);
                };
                break;
            }
            case "performer":
            {
                // FAVOR+ with m = 256 features: the random features of q and k, then linear attention (the ops a PerformerAttention
                // layer runs between its q/k/v and output projections).
                var w = RandomFeatures.Orthogonal(Features, HeadDim, new Random(5));
                float[] qf = new float[Heads * n * Features], kf = new float[Heads * n * Features], dqf = new float[Heads * n * Features], dkf = new float[Heads * n * Features];
                float[] state = new float[Heads * Features * (HeadDim + 1)], den = new float[Heads * n];
                forward = () =>
                {
                    RandomFeatures.Forward(qf, q, w, null, 1, n, Heads, HeadDim, Features, keys: false);
                    RandomFeatures.Forward(kf, k, w, null, 1, n, Heads, HeadDim, Features, keys: true);
                    LinearAttention.Forward(o, state, den, qf, kf, v, 1, n, Heads, Heads, Features, HeadDim, causal: false);
                };
                backward = () =>
                {
                    Array.Clear(dqf); Array.Clear(dkf);
                    LinearAttention.Backward(dqf, dkf, dv, dO, qf, kf, v, o, state, den, 1, n, Heads, Heads, Features, HeadDim, causal: false);
                    RandomFeatures.Backward(dq, dqf, qf, q, w, 1, n, Heads, HeadDim, Features);
                    RandomFeatures.Backward(dk, dkf, kf, k, w, 1, n, Heads, HeadDim, Features);
                };
                break;
            }
            case "reformer":
            {
                // q serves as the shared queries and keys. A fixed number of buckets keeps the hashing linear in N (the paper's
                // 2·N/chunk buckets would make it N²·d/chunk).
                int chunk = Math.Min(LshChunk, n);
                var rotations = Rand(LshRounds * HeadDim * LshBuckets / 2);
                float[] lse = new float[Heads * n], keys = new float[Heads * n * HeadDim], order = new float[Heads * LshRounds * n], rank = new float[Heads * LshRounds * n];
                forward = () => ReformerAttention.Forward(o, lse, keys, order, rank, q, v, null, rotations, 1, n, Heads, HeadDim, HeadDim, LshBuckets, LshRounds, chunk, false);
                backward = () => ReformerAttention.Backward(dq, dv, dO, q, v, o, lse, keys, order, rank, null, 1, n, Heads, HeadDim, HeadDim, LshRounds, chunk, false);
                break;
            }
            case "bigbird" or "sliding-window":
            {
                // Blocks of 64: BigBird's window of ±1 block, 2 global and 3 random blocks, or the window alone.
                bool bigBird = variant == "bigbird";
                int blocks = n / SparseBlock;
                var layout = BlockSparseAttention.Layout(blocks, 1, bigBird ? Math.Min(2, blocks) : 0, bigBird ? 3 : 0, 0, false, 7);
                var lse = new float[Heads * n];
                pairs = BlockSparseAttention.Pairs(layout);
                forward = () => BlockSparseAttention.Forward(o, lse, q, k, v, null, layout, 1, n, Heads, Heads, HeadDim, HeadDim, SparseBlock, false, scale);
                backward = () => BlockSparseAttention.Backward(dq, dk, dv, dO, q, k, v, o, lse, null, layout, 1, n, Heads, Heads, HeadDim, HeadDim, SparseBlock, false, scale);
                break;
            }
            default:
                Console.Error.WriteLine($"--variant must be memory-efficient, probabilities, linformer, performer, reformer, bigbird or sliding-window, not '{variant}'");
                return 2;
        }
        using var self = Process.GetCurrentProcess();
        GC.Collect();
        self.Refresh();
        long baseline = self.PeakWorkingSet64;
        double forwardMs, totalMs;
        try
        {
            // Warm: scratch, and the JIT's optimised tier (a method reaches it after some thirty calls), for at least 1.5 s.
            var warm = Stopwatch.StartNew();
            do { forward(); backward(); } while (warm.Elapsed.TotalSeconds < 1.5);
            forwardMs = Median(runs, forward);
            totalMs = Median(runs, () => { forward(); backward(); });
        }
        catch (OutOfMemoryException ex)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { impl = "modelgen", variant, n, error = "out of memory: " + ex.Message }));
            return 0;
        }
        self.Refresh();
        long peak = self.PeakWorkingSet64 - baseline;
        double flops = variant switch
        {
            "linformer" => 4.0 * Heads * n * Math.Min(Projected, n) * HeadDim,
            // Features of q and k (2·m·d each per head and token), then S and the numerators (2·m·(d + 1) each).
            "performer" => 4.0 * Heads * n * Features * HeadDim + 4.0 * Heads * n * Features * (HeadDim + 1),
            // Hashing (d·buckets/2 a round) and each query's windows (2·chunk keys a round, scores and values).
            "reformer" => 2.0 * Heads * n * LshRounds * (HeadDim * LshBuckets / 2.0 + 4.0 * Math.Min(LshChunk, n) * HeadDim),
            "bigbird" or "sliding-window" => 4.0 * Heads * pairs * SparseBlock * SparseBlock * HeadDim,
            _ => 4.0 * Heads * n * (double)n * HeadDim,
        };
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            impl = "modelgen", variant, n, heads = Heads, head_dim = HeadDim, forward_ms = Math.Round(forwardMs, 3), forward_backward_ms = Math.Round(totalMs, 3),
            peak_mib = Math.Round(peak / 1048576.0, 1), forward_gflops = Math.Round(flops / forwardMs / 1e6, 1), runs, processors = Environment.ProcessorCount,
        }));
        return 0;
    }

    static double Median(int runs, Action body)
    {
        var t = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            body();
            t[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(t);
        return t[runs / 2];
    }

    /// <summary>Performer's estimate of softmax attention as the features grow (<c>--performer-error N</c>): for m = 16 … 1024
    /// the relative error ‖Â − A‖_F / ‖A‖_F of the attention matrix it implies, Â_ij = φ(q_i)·φ(k_j) / Σ_j′ φ(q_i)·φ(k_j′),
    /// against the exact softmax A, for one head (d 64) of N tokens: the mean and spread over five draws of the projection, one
    /// JSON line per m, with queries and keys U(−0.5, 0.5) and as the benchmark draws them, U(−1, 1). FAVOR+'s variance grows as
/// exp(|q + k|²/√d), so the larger queries and keys need many more features for the same error.</summary>
    public static int ApproximationError(int n)
    {
        if (n < 1) { Console.Error.WriteLine("--performer-error needs N >= 1"); return 2; }
        var rng = new Random(1234);
        float[] Rand(int len, float scale)
        {
            var a = new float[len];
            for (int i = 0; i < len; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
            return a;
        }
        foreach (float sharpness in new[] { 0.5f, 1f })
        {
            var q = Rand(n * HeadDim, sharpness);
            var k = Rand(n * HeadDim, sharpness);
            var exact = new float[n * n];
            for (int i = 0; i < n; i++)
            {
                var row = exact.AsSpan(i * n, n);
                for (int j = 0; j < n; j++) row[j] = System.Numerics.Tensors.TensorPrimitives.Dot(q.AsSpan(i * HeadDim, HeadDim), k.AsSpan(j * HeadDim, HeadDim)) / MathF.Sqrt(HeadDim);
                System.Numerics.Tensors.TensorPrimitives.SoftMax(row, row);
            }
            double norm = Math.Sqrt(exact.Sum(a => (double)a * a));
            foreach (int m in new[] { 16, 32, 64, 128, 256, 512, 1024 })
            {
                var errors = new List<double>();
                for (int draw = 0; draw < 5; draw++)
                {
                    var w = RandomFeatures.Orthogonal(m, HeadDim, new Random(100 + draw));
                    float[] qf = new float[n * m], kf = new float[n * m], row = new float[n];
                    RandomFeatures.Forward(qf, q, w, null, 1, n, 1, HeadDim, m, keys: false);
                    RandomFeatures.Forward(kf, k, w, null, 1, n, 1, HeadDim, m, keys: true);
                    double squared = 0;
                    for (int i = 0; i < n; i++)
                    {
                        for (int j = 0; j < n; j++) row[j] = System.Numerics.Tensors.TensorPrimitives.Dot(qf.AsSpan(i * m, m), kf.AsSpan(j * m, m));
                        float total = System.Numerics.Tensors.TensorPrimitives.Sum(row);
                        for (int j = 0; j < n; j++) squared += Math.Pow(row[j] / total - exact[i * n + j], 2);
                    }
                    errors.Add(Math.Sqrt(squared) / norm);
                }
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    impl = "modelgen", variant = "performer-error", n, features = m, query_key_scale = sharpness, mean_relative_error = Math.Round(errors.Average(), 5),
                    min = Math.Round(errors.Min(), 5), max = Math.Round(errors.Max(), 5),
                }));
            }
        }
        return 0;
    }

    /// <summary>Forward+backward time and peak memory against N, one line per (implementation, variant), log-log.</summary>
    public static int Plot(string input, string output)
    {
        var rows = File.ReadAllLines(input).Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.TryGetProperty("forward_backward_ms", out _)).ToList();
        foreach (var (key, label, file) in new[] { ("forward_backward_ms", "forward+backward (ms)", output), ("peak_mib", "peak memory added (MiB)", Path.ChangeExtension(output, null) + "-memory.png") })
        {
            var plot = new ScottPlot.Plot();
            foreach (var g in rows.GroupBy(r => r.GetProperty("impl").GetString() + " " + r.GetProperty("variant").GetString()))
            {
                var points = g.Select(r => (N: r.GetProperty("n").GetDouble(), Y: r.GetProperty(key).GetDouble())).Where(p => p.Y > 0).OrderBy(p => p.N).ToArray();
                if (points.Length == 0) continue;
                var line = plot.Add.Scatter(points.Select(p => Math.Log10(p.N)).ToArray(), points.Select(p => Math.Log10(p.Y)).ToArray());
                line.LegendText = g.Key;
            }
            plot.Title($"attention, B 1, H {Heads}, d {HeadDim} (log10 axes)");
            plot.XLabel("log10 N");
            plot.YLabel("log10 " + label);
            plot.ShowLegend();
            plot.SavePng(file, 720, 480);
            Console.WriteLine("wrote " + file);
        }
        return 0;
    }
}
