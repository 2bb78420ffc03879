using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Reformer's LSH attention: the hashing and sort; forward against the authors' formulation in double (a softmax per
/// round and chunk window, the rounds weighted by their log-sum-exps), which the op computes as one softmax per query; finite
/// differences with the buckets held; a query with nothing allowed attends to itself; the kernels on the simulator against the
/// CPU.</summary>
public class ReformerAttentionTests
{
    /// <summary>The sorted order of each (sample, head) in double: per round the bucket argmax [xΩ_r, −xΩ_r], then (bucket, position).</summary>
    static int[][] Orders(double[] qk, float[] rotations, int batch, int n, int heads, int d, int buckets, int rounds)
    {
        int half = buckets / 2;
        var orders = new int[batch * heads][];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                var all = new int[rounds * n];
                for (int r = 0; r < rounds; r++)
                {
                    var bucket = new int[n];
                    for (int t = 0; t < n; t++)
                    {
                        var values = new double[buckets];
                        for (int k = 0; k < half; k++)
                        {
                            double dot = 0;
                            for (int e = 0; e < d; e++) dot += qk[((b * n + t) * heads + h) * d + e] * rotations[(r * d + e) * half + k];
                            values[k] = dot;
                            values[k + half] = -dot;
                        }
                        bucket[t] = Array.IndexOf(values, values.Max());
                    }
                    var sorted = Enumerable.Range(0, n).OrderBy(t => bucket[t]).ThenBy(t => t).ToArray();
                    sorted.CopyTo(all, r * n);
                }
                orders[b * heads + h] = all;
            }
        return orders;
    }

    /// <summary>LSH attention as the authors' code writes it, in double, on the given sorted orders: each sorted position attends
    /// to its chunk and the chunk before (cyclic over all rounds' chunks); a softmax per round; the rounds' outputs weighted by the
    /// softmax of their log-sum-exps.</summary>
    static double[] Reference(double[] qk, double[] v, float[]? padding, int[][] orders, int batch, int n, int heads, int d, int dv, int rounds, int chunk, bool causal)
    {
        var o = new double[batch * n * heads * dv];
        int chunks = rounds * n / chunk;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                var order = orders[b * heads + h];
                double[] Q(int t) => Enumerable.Range(0, d).Select(e => qk[((b * n + t) * heads + h) * d + e]).ToArray();
                double[] K(int t)
                {
                    var x = Q(t);
                    double mean = x.Sum(e => e * e) / d;
                    return x.Select(e => e / Math.Sqrt(d * (mean + 1e-6))).ToArray();
                }
                var outs = new double[rounds, n, dv];
                var lses = new double[rounds, n];
                for (int s = 0; s < rounds * n; s++)
                {
                    int r = s / n, t = order[s], c = s / chunk;
                    var keys = Enumerable.Range(0, chunk).Select(j => order[(c + chunks - 1) % chunks * chunk + j])
                        .Concat(Enumerable.Range(0, chunk).Select(j => order[c * chunk + j])).ToArray();
                    var scores = keys.Select(u => u == t ? -1e5 : (causal && u > t) || (padding is not null && padding[b * n + u] != 0) ? -1e9
                        : Q(t).Zip(K(u), (x, y) => x * y).Sum()).ToArray();
                    double max = scores.Max(), lse = max + Math.Log(scores.Sum(x => Math.Exp(x - max)));
                    lses[r, t] = lse;
                    for (int j = 0; j < keys.Length; j++)
                        for (int e = 0; e < dv; e++) outs[r, t, e] += Math.Exp(scores[j] - lse) * v[((b * n + keys[j]) * heads + h) * dv + e];
                }
                for (int t = 0; t < n; t++)
                {
                    double max = Enumerable.Range(0, rounds).Max(r => lses[r, t]);
                    double total = max + Math.Log(Enumerable.Range(0, rounds).Sum(r => Math.Exp(lses[r, t] - max)));
                    for (int r = 0; r < rounds; r++)
                        for (int e = 0; e < dv; e++) o[((b * n + t) * heads + h) * dv + e] += Math.Exp(lses[r, t] - total) * outs[r, t, e];
                }
            }
        return o;
    }

    static float[] Padding(int batch, int n, int seed)
    {
        var random = new Random(seed);
        var padding = new float[batch * n];
        for (int b = 0; b < batch; b++)
            for (int t = n - 1 - random.Next(n / 3); t < n; t++) padding[b * n + t] = 1f;
        return padding;
    }

    static float[] Rotations(int rounds, int d, int buckets, int seed) => Rng.Floats(rounds * d * buckets / 2, seed);

    sealed record Run(float[] O, float[] Lse, float[] Keys, float[] Order, float[] Rank);

    static Run Forward(float[] qk, float[] v, float[]? padding, float[] rotations, int batch, int n, int heads, int d, int dv, int buckets, int rounds, int chunk, bool causal)
    {
        var run = new Run(Arrays.Filled(batch * n * heads * dv, 9f), new float[batch * heads * n], new float[batch * heads * n * d], new float[batch * heads * rounds * n],
            new float[batch * heads * rounds * n]);
        ReformerAttention.Forward(run.O, run.Lse, run.Keys, run.Order, run.Rank, qk, v, padding, rotations, batch, n, heads, d, dv, buckets, rounds, chunk, causal);
        return run;
    }

    // batch, n, heads, d, dv, buckets, rounds, chunk, causal, padded
    public static System.Collections.Generic.IEnumerable<object[]> Cases => new[]
    {
        new object[] { 1, 8, 1, 4, 3, 4, 1, 4, false, false },
        new object[] { 2, 24, 2, 6, 5, 6, 2, 4, false, false },
        new object[] { 2, 24, 2, 6, 5, 6, 3, 6, true, false },
        new object[] { 2, 16, 3, 5, 4, 4, 2, 8, false, true },
        new object[] { 1, 6, 2, 4, 4, 2, 1, 6, true, true },    // one chunk in all: it is its own chunk before
        new object[] { 2, 12, 2, 4, 3, 4, 2, 3, true, true },
        new object[] { 2, 12, 2, 4, 3, 4, 2, 3, false, true },
        new object[] { 2, 12, 2, 5, 4, 4, 2, 3, true, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_MatchesTheAuthorsFormulation(int batch, int n, int heads, int d, int dv, int buckets, int rounds, int chunk, bool causal, bool padded)
    {
        var qk = Rng.Floats(batch * n * heads * d, 1);
        var v = Rng.Floats(batch * n * heads * dv, 2);
        var rotations = Rotations(rounds, d, buckets, 3);
        var padding = padded ? Padding(batch, n, 4) : null;
        var run = Forward(qk, v, padding, rotations, batch, n, heads, d, dv, buckets, rounds, chunk, causal);
        var orders = Orders(Rng.ToDouble(qk), rotations, batch, n, heads, d, buckets, rounds);
        Assert.Equal(orders.SelectMany(o => o).Select(t => (float)t).ToArray(), run.Order);
        Approx.Equal(Reference(Rng.ToDouble(qk), Rng.ToDouble(v), padding, orders, batch, n, heads, d, dv, rounds, chunk, causal), run.O, 1e-6, 1e-5, "o");
    }

    [Fact]
    public void TheSort_IsByBucketThenPosition_AndRankInvertsIt()
    {
        const int batch = 2, n = 40, heads = 2, d = 8, buckets = 8, rounds = 3, chunk = 5;
        var qk = Rng.Floats(batch * n * heads * d, 5);
        var rotations = Rotations(rounds, d, buckets, 6);
        var run = Forward(qk, Rng.Floats(batch * n * heads * d, 7), null, rotations, batch, n, heads, d, d, buckets, rounds, chunk, false);
        for (int bh = 0; bh < batch * heads; bh++)
            for (int r = 0; r < rounds; r++)
            {
                var round = Enumerable.Range(0, n).Select(s => (int)run.Order[(bh * rounds + r) * n + s]).ToArray();
                Assert.Equal(Enumerable.Range(0, n), round.OrderBy(t => t));
                for (int t = 0; t < n; t++) Assert.Equal(r * n + Array.IndexOf(round, t), (int)run.Rank[bh * rounds * n + r * n + t]);
            }
        // More than one bucket is used: the hashing separates the tokens.
        Assert.NotEqual(run.Order.AsSpan(0, n).ToArray(), Enumerable.Range(0, n).Select(t => (float)t).ToArray());
    }

    [Fact]
    public void AQueryWithNothingAllowed_AttendsToItself()
    {
        // Causal: the first token may see no other key, so its output is its own value; padded keys are never seen.
        const int batch = 1, n = 12, heads = 1, d = 4, dv = 3, buckets = 4, rounds = 2, chunk = 4;
        var qk = Rng.Floats(n * d, 8);
        var v = Rng.Floats(n * dv, 9);
        var run = Forward(qk, v, null, Rotations(rounds, d, buckets, 10), batch, n, heads, d, dv, buckets, rounds, chunk, causal: true);
        Approx.Equal(v.AsSpan(0, dv), run.O.AsSpan(0, dv), 1e-7, 1e-6, "first token");
        var padding = new float[n];
        for (int t = 1; t < n; t++) padding[t] = 1f;
        var padded = Forward(qk, v, padding, Rotations(rounds, d, buckets, 10), batch, n, heads, d, dv, buckets, rounds, chunk, causal: false);
        for (int t = 0; t < n; t++)
        {
            // Only token 0 is a key; a token whose windows miss it sees nothing else and keeps its own value.
            var own = v.AsSpan(t * dv, dv).ToArray();
            var first = v.AsSpan(0, dv).ToArray();
            var o = padded.O.AsSpan(t * dv, dv).ToArray();
            Assert.True(Approx.RelativeError(own, o) < 1e-5 || Approx.RelativeError(first, o) < 1e-5, $"token {t} attends only to itself or to token 0");
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Backward_MatchesFiniteDifferences_WithTheBucketsHeld_AndAccumulates(bool causal, bool padded)
    {
        const int batch = 2, n = 12, heads = 2, d = 4, dv = 3, buckets = 4, rounds = 2, chunk = 3;
        var qkf = Rng.Floats(batch * n * heads * d, 11);
        var vf = Rng.Floats(batch * n * heads * dv, 12);
        var dO = Rng.Floats(batch * n * heads * dv, 13);
        var rotations = Rotations(rounds, d, buckets, 14);
        var padding = padded ? Padding(batch, n, 15) : null;
        var run = Forward(qkf, vf, padding, rotations, batch, n, heads, d, dv, buckets, rounds, chunk, causal);
        var dqk = Arrays.Filled(qkf.Length, 0.25f);
        var dv_ = Arrays.Filled(vf.Length, 0.25f);
        ReformerAttention.Backward(dqk, dv_, dO, qkf, vf, run.O, run.Lse, run.Keys, run.Order, run.Rank, padding, batch, n, heads, d, dv, rounds, chunk, causal);
        double[] qk = Rng.ToDouble(qkf), v = Rng.ToDouble(vf), r = Rng.ToDouble(dO);
        var orders = Orders(qk, rotations, batch, n, heads, d, buckets, rounds);
        Func<double[]> f = () => Reference(qk, v, padding, orders, batch, n, heads, d, dv, rounds, chunk, causal);
        Assert.Equal(orders.SelectMany(o => o).Select(t => (float)t).ToArray(), run.Order);
        foreach (var (input, grad, name) in new[] { (qk, dqk, "dqk"), (v, dv_, "dv") })
            Approx.Equal(FiniteDifference.Gradient(f, input, r).Select(g => g + 0.25).ToArray(), grad, 1e-6, 1e-4, name);
    }

    const int KB = 2, KN = 12, KH = 2, KD = 5, KDV = 4, KBuckets = 4, KRounds = 2, KChunk = 3;

    static void Keys(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> bucket,
        ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations) =>
        ReformerAttention.KeysKernel(i, o, lse, keys, order, rank, bucket, qk, v, padding, rotations, KB, KN, KH, KD, KDV, KBuckets, KRounds, KChunk, true, true);
    static void Hash(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> bucket,
        ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations) =>
        ReformerAttention.HashKernel(i, o, lse, keys, order, rank, bucket, qk, v, padding, rotations, KB, KN, KH, KD, KDV, KBuckets, KRounds, KChunk, true, true);
    static void Sort(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> bucket,
        ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations) =>
        ReformerAttention.SortKernel(i, o, lse, keys, order, rank, bucket, qk, v, padding, rotations, KB, KN, KH, KD, KDV, KBuckets, KRounds, KChunk, true, true);
    static void Attend(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> bucket,
        ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations) =>
        ReformerAttention.ForwardKernel(i, o, lse, keys, order, rank, bucket, qk, v, padding, rotations, KB, KN, KH, KD, KDV, KBuckets, KRounds, KChunk, true, true);
    static void QueryGrad(Index1D i, ArrayView<float> dQk, ArrayView<float> dValues, ArrayView<float> dKeys, ArrayView<float> dO, ArrayView<float> qk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> padding) =>
        ReformerAttention.QueryGradKernel(i, dQk, dValues, dKeys, dO, qk, v, o, lse, keys, order, rank, padding, KB, KN, KH, KD, KDV, KRounds, KChunk, true, true);
    static void KeyGrad(Index1D i, ArrayView<float> dQk, ArrayView<float> dValues, ArrayView<float> dKeys, ArrayView<float> dO, ArrayView<float> qk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> padding) =>
        ReformerAttention.KeyGradKernel(i, dQk, dValues, dKeys, dO, qk, v, o, lse, keys, order, rank, padding, KB, KN, KH, KD, KDV, KRounds, KChunk, true, true);

    [Fact]
    public void Kernels_MatchCpu()
    {
        var qk = Rng.Floats(KB * KN * KH * KD, 16);
        var v = Rng.Floats(KB * KN * KH * KDV, 17);
        var dO = Rng.Floats(KB * KN * KH * KDV, 18);
        var rotations = Rotations(KRounds, KD, KBuckets, 19);
        var padding = Padding(KB, KN, 20);
        var run = Forward(qk, v, padding, rotations, KB, KN, KH, KD, KDV, KBuckets, KRounds, KChunk, true);
        var dqk = Arrays.Filled(qk.Length, 0.5f);
        var dv = Arrays.Filled(v.Length, 0.5f);
        ReformerAttention.Backward(dqk, dv, dO, qk, v, run.O, run.Lse, run.Keys, run.Order, run.Rank, padding, KB, KN, KH, KD, KDV, KRounds, KChunk, true);

        using var h = new KernelHarness();
        using var gqk = h.Upload(qk);
        using var gv = h.Upload(v);
        using var gdO = h.Upload(dO);
        using var grot = h.Upload(rotations);
        using var gpad = h.Upload(padding);
        using var go = h.Filled(run.O.Length, 9f);
        using var glse = h.Zeros(run.Lse.Length);
        using var gkeys = h.Zeros(run.Keys.Length);
        using var gorder = h.Zeros(run.Order.Length);
        using var grank = h.Zeros(run.Rank.Length);
        using var gbucket = h.Zeros(run.Order.Length);
        using var gdkeys = h.Filled(run.Keys.Length, 7f);
        using var gdqk = h.Filled(qk.Length, 0.5f);
        using var gdv = h.Filled(v.Length, 0.5f);
        int rows = KB * KH * KN;
        foreach (var (kernel, extent) in new (Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                     ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>, int)[]
                 { (Keys, rows), (Hash, rows * KRounds), (Sort, KB * KH * KRounds * KBuckets), (Attend, rows) })
            h.Accelerator.LoadAutoGroupedStreamKernel(kernel)(extent + 3, go.View, glse.View, gkeys.View, gorder.View, grank.View, gbucket.View, gqk.View, gv.View,
                gpad.View, grot.View);
        foreach (var kernel in new Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                     ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>[] { QueryGrad, KeyGrad })
            h.Accelerator.LoadAutoGroupedStreamKernel(kernel)(rows + 3, gdqk.View, gdv.View, gdkeys.View, gdO.View, gqk.View, gv.View, go.View, glse.View, gkeys.View,
                gorder.View, grank.View, gpad.View);
        h.Accelerator.Synchronize();
        Assert.Equal(run.Order, KernelHarness.Download(gorder));
        Assert.Equal(run.Rank, KernelHarness.Download(grank));
        Approx.Equal(run.Keys, KernelHarness.Download(gkeys), 1e-6, 1e-5, "kernel keys");
        Approx.Equal(run.O, KernelHarness.Download(go), 1e-6, 1e-5, "kernel o");
        Approx.Equal(run.Lse, KernelHarness.Download(glse), 1e-6, 1e-5, "kernel lse");
        Approx.Equal(dqk, KernelHarness.Download(gdqk), 1e-6, 1e-4, "kernel dqk");
        Approx.Equal(dv, KernelHarness.Download(gdv), 1e-6, 1e-4, "kernel dv");
    }
}
