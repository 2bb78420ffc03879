using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class EmbeddingTests
{
    static double[] Reference(int[] tokens, double[] table, int d)
    {
        var y = new double[tokens.Length * d];
        for (int p = 0; p < tokens.Length; p++)
            for (int j = 0; j < d; j++) y[p * d + j] = table[tokens[p] * d + j];
        return y;
    }

    /// <summary>Ids with repeats (so rows gather several positions' gradients) and the padding id among them.</summary>
    static int[] Ids(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => i % 5 == 0 ? 0 : random.Next(vocab)).ToArray();
    }

    static float[] AsFloats(int[] ids) => ids.Select(i => (float)i).ToArray();

    [Theory]
    [InlineData(2, 6, 11, 4)]
    [InlineData(1, 1, 1, 3)]
    [InlineData(3, 17, 40, 24)]
    public void Forward_GathersTheRows(int batch, int n, int vocab, int d)
    {
        var ids = Ids(batch * n, vocab, 1);
        var table = Rng.Floats(vocab * d, 2);
        var y = new float[batch * n * d];
        Embedding.Forward(y, AsFloats(ids), table, batch, n, vocab, d, -1);
        Approx.Equal(Reference(ids, Rng.ToDouble(table), d), y, 0, 0, "y");
    }

    [Theory]
    [InlineData(2, 6, 11, 4, -1)]
    [InlineData(3, 9, 7, 5, 0)]
    public void Backward_MatchesFiniteDifferences_SkipsThePaddingRow_AndAccumulates(int batch, int n, int vocab, int d, int padding)
    {
        var ids = Ids(batch * n, vocab, 3);
        var table = Rng.ToDouble(Rng.Floats(vocab * d, 4));
        var r = Rng.Floats(batch * n * d, 5);
        var expected = FiniteDifference.Gradient(() => Reference(ids, table, d), table, Rng.ToDouble(r));
        // nn.Embedding's padding_idx: that row's gradient is held at zero.
        if (padding >= 0) Array.Clear(expected, padding * d, d);
        var dtable = new float[vocab * d];
        Array.Fill(dtable, 0.25f);
        Embedding.Backward(dtable, r, AsFloats(ids), batch, n, vocab, d, padding);
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.25;
        Approx.Equal(expected, dtable, 1e-6, 1e-5, "dtable");
    }

    [Fact]
    public void Draw_ZerosThePaddingRow()
    {
        var p = new Parameter("embed.weight", new[] { 9, 4 }, decay: false);
        Embedding.Draw(p, 3, 1.0, new Random(0));
        Assert.All(p.Value.Skip(12).Take(4), v => Assert.Equal(0f, v));
        Assert.Equal(32, p.Value.Count(v => v != 0f));
        double std = Math.Sqrt(p.Value.Select(v => (double)v * v).Sum() / 32);
        Assert.InRange(std, 0.6, 1.4);
        Embedding.Draw(p, -1, 0.02, new Random(1));
        Assert.InRange(Math.Sqrt(p.Value.Select(v => (double)v * v).Sum() / 36), 0.012, 0.028);
        Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Draw(p, -1, 0, new Random(1)));
    }

    [Theory]
    [InlineData(12f, "token id 12 is not a whole number in [0, 12)")]
    [InlineData(-1f, "token id -1 is not")]
    [InlineData(2.5f, "token id 2.5 is not")]
    [InlineData(float.NaN, "token id NaN is not")]
    public void CheckTokens_NamesTheSamplePositionAndId(float bad, string message)
    {
        var tokens = new float[] { 0, 3, 11, 5, 7, 1 };
        Embedding.CheckTokens(tokens, "ids", 3, 12);
        tokens[4] = bad;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.CheckTokens(tokens, "ids", 3, 12));
        Assert.Contains("Input 'ids' sample 1, position 1: " + message, e.Message);
    }

    static void Fwd(Index1D i, ArrayView<float> y, ArrayView<float> t, ArrayView<float> w, int batch, int n, int vocab, int d, int pad) =>
        Embedding.ForwardKernel(i, y, t, w, batch, n, vocab, d, pad);
    static void Bwd(Index1D i, ArrayView<float> dw, ArrayView<float> dy, ArrayView<float> t, int batch, int n, int vocab, int d, int pad) =>
        Embedding.BackwardKernel(i, dw, dy, t, batch, n, vocab, d, pad);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int batch = 3, n = 13, vocab = 6, d = 7, pad = 0;
        var ids = AsFloats(Ids(batch * n, vocab, 6));
        var table = Rng.Floats(vocab * d, 7);
        var r = Rng.Floats(batch * n * d, 8);
        var y = new float[r.Length];
        Embedding.Forward(y, ids, table, batch, n, vocab, d, pad);
        var dw = Rng.Floats(vocab * d, 9);
        var dwDevice = (float[])dw.Clone();
        Embedding.Backward(dw, r, ids, batch, n, vocab, d, pad);
        using var h = new KernelHarness();
        var f = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(Fwd);
        var b = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(Bwd);
        using var tb = h.Upload(ids);
        using var wb = h.Upload(table);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(r.Length);
        using var dwb = h.Upload(dwDevice);
        f(r.Length, yb.View, tb.View, wb.View, batch, n, vocab, d, pad);
        b(r.Length, dwb.View, rb.View, tb.View, batch, n, vocab, d, pad);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(yb));
        // Atomics add a row's positions in any order: equal to rounding.
        Approx.Equal(dw, KernelHarness.Download(dwb), 1e-6, 1e-6, "dtable");
    }
}
