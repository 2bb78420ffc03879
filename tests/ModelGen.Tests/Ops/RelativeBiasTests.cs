using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Relative position biases: T5's buckets against T5's PyTorch bucket function, ALiBi's slopes against the paper's
/// values, the bucket positions that backward reads, the gather and its scatter against a double reference and finite
/// differences, ScoreBias (a position bias with a mask), and the kernels on the simulator against the CPU.</summary>
public class RelativeBiasTests
{
    static int[] Ints(float[] bits) => bits.Select(BitConverter.SingleToInt32Bits).ToArray();

    [SkippableTheory]
    [InlineData(12, 12, 8, 10, true)]
    [InlineData(9, 14, 8, 10, false)]
    [InlineData(200, 200, 32, 128, true)]
    [InlineData(70, 70, 32, 128, false)]
    [InlineData(40, 40, 6, 5, false)]
    public void T5Buckets_AgreeWithPyTorch(int nq, int nk, int buckets, int maxDistance, bool bidirectional)
    {
        var reference = TorchOps.Run(new { op = "t5_buckets", queries = nq, keys = nk, buckets, max_distance = maxDistance, bidirectional },
            new SafeTensor("x", new[] { 1 }, new[] { 0f }));
        var expected = reference["index"].Data.Select(f => (int)f).ToArray();
        Assert.Equal(expected, Ints(RelativeBias.T5Index(nq, nk, buckets, maxDistance, bidirectional)));
    }

    [Fact]
    public void T5Buckets_SplitTheSidesAndClampFarKeys()
    {
        var index = Ints(RelativeBias.T5Index(1, 200, 32, 128, bidirectional: true));
        Assert.Equal(0, index[0]);                    // the query itself
        Assert.Equal(16 + 1, index[1]);               // one key after it: the second half, exact
        Assert.Equal(16 + 7, index[7]);               // the last exact distance
        Assert.Equal(31, index[199]);                 // beyond the maximum distance: the last bucket
        var causal = Ints(RelativeBias.T5Index(200, 1, 32, 128, bidirectional: false));
        Assert.Equal(0, causal[0]);
        Assert.Equal(15, causal[15]);                 // exact up to half of the 32 buckets
        Assert.Equal(31, causal[199]);
    }

    [Fact]
    public void ClippedDistances_AreShawsBuckets()
    {
        var index = Ints(RelativeBias.ClippedIndex(3, 6, 2));
        Assert.Equal(new[] { 2, 3, 4, 4, 4, 4, 1, 2, 3, 4, 4, 4, 0, 1, 2, 3, 4, 4 }, index);
    }

    [Fact]
    public void AlibiSlopes_AreThePapers()
    {
        Assert.Equal(Enumerable.Range(1, 8).Select(h => Math.Pow(2, -h)), RelativeBias.AlibiSlopes(8));
        // 12 heads: the 8 slopes of 8 heads, then every other slope of 16 heads.
        var twelve = RelativeBias.AlibiSlopes(12);
        Assert.Equal(Math.Pow(2, -8), twelve[7]);
        Assert.Equal(new[] { Math.Pow(2, -0.5), Math.Pow(2, -1.5), Math.Pow(2, -2.5), Math.Pow(2, -3.5) }, twelve.Skip(8));
        var bias = RelativeBias.Alibi(2, 3, 4);
        Assert.Equal(-3f / 256, bias[(1 * 3 + 0) * 4 + 3]);   // head 1 (slope 2^-8 of two heads), query 0, key 3
        Assert.Equal(-1f / 16, bias[(0 * 3 + 2) * 4 + 1]);    // head 0 (slope 2^-4), query 2, key 1
    }

    [Fact]
    public void Positions_ListEachBucketsScoresInOrder()
    {
        var index = RelativeBias.ClippedIndex(3, 4, 1);
        var table = Ints(RelativeBias.Positions(index, 3));
        var ints = Ints(index);
        Assert.Equal(0, table[0]);
        Assert.Equal(ints.Length, table[3]);
        for (int t = 0; t < 3; t++)
        {
            var listed = table.Skip(4 + table[t]).Take(table[t + 1] - table[t]).ToArray();
            Assert.Equal(Enumerable.Range(0, ints.Length).Where(p => ints[p] == t), listed);
        }
        Assert.Throws<ArgumentException>(() => RelativeBias.Positions(index, 2));
    }

    static double[] Gather(double[] table, int[] index, int batch, int heads, int scores)
    {
        var y = new double[batch * heads * scores];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int p = 0; p < scores; p++) y[(b * heads + h) * scores + p] = table[index[p] * heads + h];
        return y;
    }

    [Fact]
    public void GatherAndScatter_MatchTheReference_AndFiniteDifferences()
    {
        const int batch = 3, heads = 2, nq = 5, nk = 7, buckets = 6;
        var index = RelativeBias.T5Index(nq, nk, buckets, 5, bidirectional: true);
        var table = Rng.Floats(buckets * heads, 1);
        var y = new float[batch * heads * nq * nk];
        RelativeBias.Forward(y, table, index, batch, heads, nq, nk);
        var td = Rng.ToDouble(table);
        Approx.Equal(Gather(td, Ints(index), batch, heads, nq * nk), y, 0, 0, "gather");

        var dy = Rng.Floats(y.Length, 2);
        var dTable = Arrays.Filled(table.Length, 0.25f);
        RelativeBias.Backward(dTable, dy, RelativeBias.Positions(index, buckets), batch, heads, buckets, nq, nk);
        var expected = FiniteDifference.Gradient(() => Gather(td, Ints(index), batch, heads, nq * nk), td, Rng.ToDouble(dy));
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.25;
        Approx.Equal(expected, dTable, 1e-5, 1e-5, "dtable");
    }

    [Fact]
    public void ScoreBias_AddsOrMasks_AndPassesTheGradientToTheLearnedBias()
    {
        const int batch = 2, heads = 3, nq = 4, nk = 5, scores = nq * nk;
        var alibi = RelativeBias.Alibi(heads, nq, nk);
        var mask = new float[batch * scores];
        mask[scores + 7] = 1f;
        var y = new float[batch * heads * scores];
        ScoreBias.Forward(y, alibi, mask, batch, heads, nq, nk, 0, 1, boolean: true);
        for (int h = 0; h < heads; h++)
        {
            Assert.Equal(alibi[h * scores + 7], y[h * scores + 7]);                       // sample 0: not masked
            Assert.Equal(float.NegativeInfinity, y[(heads + h) * scores + 7]);            // sample 1: masked in every head
            Assert.Equal(alibi[h * scores + 8], y[(heads + h) * scores + 8]);
        }
        var learned = Rng.Floats(batch * heads * scores, 3);
        var additive = Rng.Floats(batch * heads * scores, 4);
        ScoreBias.Forward(y, learned, additive, batch, heads, nq, nk, heads * scores, heads, boolean: false);
        for (int i = 0; i < y.Length; i++) Assert.Equal(learned[i] + additive[i], y[i]);
        var dy = Rng.Floats(y.Length, 5);
        var da = Arrays.Filled(y.Length, 1f);
        ScoreBias.Backward(da, dy, batch, heads, nq, nk);
        for (int i = 0; i < y.Length; i++) Assert.Equal(1f + dy[i], da[i]);
        ScoreBias.Backward(null, dy, batch, heads, nq, nk); // a constant position bias: nothing to do
    }

    const int KB = 2, KH = 3, KNQ = 6, KNK = 5, KBuckets = 8;

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> t, ArrayView<float> index) => RelativeBias.ForwardKernel(i, y, t, index, KB, KH, KNQ, KNK);

    static void Backward(Index1D i, ArrayView<float> dt, ArrayView<float> dy, ArrayView<float> positions) =>
        RelativeBias.BackwardKernel(i, dt, dy, positions, KB, KH, KBuckets, KNQ, KNK);

    static void Combine(Index1D i, ArrayView<float> y, ArrayView<float> a, ArrayView<float> m) => ScoreBias.ForwardKernel(i, y, a, m, KB, KH, KNQ, KNK, 0, 1, true);

    static void CombineBackward(Index1D i, ArrayView<float> da, ArrayView<float> dy) => ScoreBias.BackwardKernel(i, da, dy, KB, KH, KNQ, KNK);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = KB * KH * KNQ * KNK;
        var index = RelativeBias.T5Index(KNQ, KNK, KBuckets, 6, bidirectional: true);
        var positions = RelativeBias.Positions(index, KBuckets);
        var table = Rng.Floats(KBuckets * KH, 6);
        var dy = Rng.Floats(n, 7);
        var y = new float[n];
        var dt = Arrays.Filled(table.Length, 0.5f);
        RelativeBias.Forward(y, table, index, KB, KH, KNQ, KNK);
        RelativeBias.Backward(dt, dy, positions, KB, KH, KBuckets, KNQ, KNK);
        var alibi = RelativeBias.Alibi(KH, KNQ, KNK);
        var mask = new float[KB * KNQ * KNK];
        for (int i = 0; i < mask.Length; i += 3) mask[i] = 1f;
        var combined = new float[n];
        ScoreBias.Forward(combined, alibi, mask, KB, KH, KNQ, KNK, 0, 1, boolean: true);
        var da = Arrays.Filled(n, 0.5f);
        ScoreBias.Backward(da, dy, KB, KH, KNQ, KNK);

        using var h = new KernelHarness();
        var acc = h.Accelerator;
        using var gy = h.Zeros(n);
        using var gt = h.Upload(table);
        using var gi = h.Upload(index);
        using var gp = h.Upload(positions);
        using var gdy = h.Upload(dy);
        using var gdt = h.Filled(table.Length, 0.5f);
        using var ga = h.Upload(alibi);
        using var gm = h.Upload(mask);
        using var gc = h.Zeros(n);
        using var gda = h.Filled(n, 0.5f);
        // A few threads past the end, which must do nothing.
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Forward)(n + 5, gy.View, gt.View, gi.View);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Backward)(table.Length + 3, gdt.View, gdy.View, gp.View);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Combine)(n + 5, gc.View, ga.View, gm.View);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(CombineBackward)(n + 5, gda.View, gdy.View);
        acc.Synchronize();
        Assert.Equal(y, KernelHarness.Download(gy));
        Assert.Equal(dt, KernelHarness.Download(gdt));
        Assert.Equal(combined, KernelHarness.Download(gc));
        Assert.Equal(da, KernelHarness.Download(gda));
    }
}
