using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Block-sparse attention: the patterns (window, global, strided, random, BigBird, causal) as block masks; forward and
/// backward against dense softmax attention in double under the same mask (which the op never forms), finite differences, grouped
/// heads; the kernels on the simulator against the CPU.</summary>
public class BlockSparseAttentionTests
{
    static string Rows(float[] layout, int blocks)
    {
        var mask = BlockSparseAttention.BlockMask(layout);
        return string.Join("|", Enumerable.Range(0, blocks).Select(i => string.Concat(Enumerable.Range(0, blocks).Select(j => mask[i * blocks + j] == 1f ? '1' : '.'))));
    }

    [Fact]
    public void Patterns_AreTheDeclaredBlocks()
    {
        Assert.Equal("11....|111...|.111..|..111.|...111|....11", Rows(BlockSparseAttention.Layout(6, 1, 0, 0, 0, false, 0), 6));
        Assert.Equal("1.....|11....|.11...|..11..|...11.|....11", Rows(BlockSparseAttention.Layout(6, 1, 0, 0, 0, true, 0), 6));
        // Global: the first block's row and column are full.
        Assert.Equal("111111|11....|1.1...|1..1..|1...1.|1....1", Rows(BlockSparseAttention.Layout(6, 0, 1, 0, 0, false, 0), 6));
        // Strided: every block at a distance that is a multiple of 3.
        Assert.Equal("1..1..|.1..1.|..1..1|1..1..|.1..1.|..1..1", Rows(BlockSparseAttention.Layout(6, 0, 0, 0, 3, false, 0), 6));
    }

    [Fact]
    public void RandomBlocks_AreSeeded_NewToTheRow_AndCausalWhenAsked()
    {
        var a = BlockSparseAttention.Layout(16, 1, 2, 3, 0, false, 7);
        Assert.Equal(a, BlockSparseAttention.Layout(16, 1, 2, 3, 0, false, 7));
        Assert.NotEqual(a, BlockSparseAttention.Layout(16, 1, 2, 3, 0, false, 8));
        var mask = BlockSparseAttention.BlockMask(a);
        for (int i = 2; i < 16; i++)
        {
            // BigBird: 3 window blocks (2 at the edge), the 2 global ones not already in it, 3 random.
            int window = Enumerable.Range(i - 1, 3).Count(j => j >= 0 && j < 16), global = Enumerable.Range(0, 2).Count(j => j < i - 1 || j > i + 1);
            Assert.Equal(window + global + 3, (int)Enumerable.Range(0, 16).Sum(j => mask[i * 16 + j]));
        }
        var causal = BlockSparseAttention.BlockMask(BlockSparseAttention.Layout(16, 1, 1, 2, 0, true, 7));
        for (int i = 0; i < 16; i++)
            for (int j = i + 1; j < 16; j++) Assert.Equal(0f, causal[i * 16 + j]);
        Assert.Equal(16 * 16, BlockSparseAttention.Pairs(BlockSparseAttention.Layout(16, 20, 0, 0, 0, false, 0)));
    }

    /// <summary>Dense masked softmax attention in double: allowed(i, j) = the block mask, and j ≤ i when causal.</summary>
    static double[] Reference(double[] q, double[] k, double[] v, float[] mask, int batch, int n, int heads, int kvHeads, int dk, int dv, int block, bool causal,
        double scale, float[]? padding = null)
    {
        int blocks = n / block;
        var o = new double[batch * n * heads * dv];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                for (int i = 0; i < n; i++)
                {
                    var s = new double[n];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < n; j++)
                    {
                        if (mask[i / block * blocks + j / block] == 0f || (causal && j > i) || (padding is not null && padding[b * n + j] != 0f))
                        {
                            s[j] = double.NegativeInfinity;
                            continue;
                        }
                        double dot = 0;
                        for (int e = 0; e < dk; e++) dot += q[((b * n + i) * heads + h) * dk + e] * k[((b * n + j) * kvHeads + g) * dk + e];
                        s[j] = dot * scale;
                        max = Math.Max(max, s[j]);
                    }
                    if (double.IsNegativeInfinity(max)) continue;   // nothing to attend to: 0
                    double sum = s.Sum(x => Math.Exp(x - max));
                    for (int j = 0; j < n; j++)
                    {
                        double p = Math.Exp(s[j] - max) / sum;
                        for (int e = 0; e < dv; e++) o[((b * n + i) * heads + h) * dv + e] += p * v[((b * n + j) * kvHeads + g) * dv + e];
                    }
                }
            }
        return o;
    }

    // batch, n, heads, kvHeads, dk, dv, block, window, global, random, stride, causal
    public static System.Collections.Generic.IEnumerable<object[]> Cases => new[]
    {
        new object[] { 1, 4, 1, 1, 3, 2, 4, 1, 0, 0, 0, false },
        new object[] { 2, 24, 2, 2, 5, 4, 4, 1, 0, 0, 0, false },
        new object[] { 2, 24, 2, 2, 5, 4, 4, 1, 0, 0, 0, true },
        new object[] { 2, 32, 4, 2, 6, 3, 4, 1, 1, 2, 0, false },   // BigBird, grouped heads
        new object[] { 1, 30, 2, 1, 4, 5, 3, 0, 1, 1, 4, true },    // strided + global + random, causal
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_MatchesDenseMaskedAttention(int batch, int n, int heads, int kvHeads, int dk, int dv, int block, int window, int global, int random, int stride,
        bool causal)
    {
        var layout = BlockSparseAttention.Layout(n / block, window, global, random, stride, causal, 3);
        var q = Rng.Floats(batch * n * heads * dk, 1);
        var k = Rng.Floats(batch * n * kvHeads * dk, 2);
        var v = Rng.Floats(batch * n * kvHeads * dv, 3);
        var o = Arrays.Filled(batch * n * heads * dv, 9f);
        var lse = new float[batch * heads * n];
        float scale = 1f / MathF.Sqrt(dk);
        BlockSparseAttention.Forward(o, lse, q, k, v, null, layout, batch, n, heads, kvHeads, dk, dv, block, causal, scale);
        Approx.Equal(Reference(Rng.ToDouble(q), Rng.ToDouble(k), Rng.ToDouble(v), BlockSparseAttention.BlockMask(layout), batch, n, heads, kvHeads, dk, dv, block,
            causal, scale), o, 1e-6, 1e-5, "o");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(bool causal)
    {
        const int batch = 2, n = 12, heads = 4, kvHeads = 2, dk = 3, dv = 2, block = 3;
        var layout = BlockSparseAttention.Layout(n / block, 0, 1, 1, 0, causal, 5);
        var mask = BlockSparseAttention.BlockMask(layout);
        // Causal with a key padding mask: the second sample's first 4 keys padded, so its first queries see nothing.
        float[]? padding = causal ? Enumerable.Range(0, batch * n).Select(i => i >= n && i < n + 4 ? 1f : 0f).ToArray() : null;
        var qf = Rng.Floats(batch * n * heads * dk, 4);
        var kf = Rng.Floats(batch * n * kvHeads * dk, 5);
        var vf = Rng.Floats(batch * n * kvHeads * dv, 6);
        var dO = Rng.Floats(batch * n * heads * dv, 7);
        float scale = 0.7f;
        var o = new float[dO.Length];
        var lse = new float[batch * heads * n];
        BlockSparseAttention.Forward(o, lse, qf, kf, vf, padding, layout, batch, n, heads, kvHeads, dk, dv, block, causal, scale);
        var dq = Arrays.Filled(qf.Length, 0.25f);
        var dk_ = Arrays.Filled(kf.Length, 0.25f);
        var dv_ = Arrays.Filled(vf.Length, 0.25f);
        BlockSparseAttention.Backward(dq, dk_, dv_, dO, qf, kf, vf, o, lse, padding, layout, batch, n, heads, kvHeads, dk, dv, block, causal, scale);
        double[] q = Rng.ToDouble(qf), k = Rng.ToDouble(kf), v = Rng.ToDouble(vf), r = Rng.ToDouble(dO);
        Func<double[]> f = () => Reference(q, k, v, mask, batch, n, heads, kvHeads, dk, dv, block, causal, scale, padding);
        foreach (var (input, grad, name) in new[] { (q, dq, "dq"), (k, dk_, "dk"), (v, dv_, "dv") })
            Approx.Equal(FiniteDifference.Gradient(f, input, r).Select(g => g + 0.25).ToArray(), grad, 1e-6, 1e-4, name);
    }

    const int KB = 2, KN = 20, KH = 4, KG = 2, KDK = 6, KDV = 5, KBlock = 4;
    const float KScale = 0.4f;
    static readonly float[] s_layoutTable = BlockSparseAttention.Layout(KN / KBlock, 1, 1, 1, 0, false, 9);
    static readonly float[] s_causalTable = BlockSparseAttention.Layout(KN / KBlock, 1, 1, 1, 0, true, 9);

    // The causal kernels also take the key padding mask s_padding (uploaded as the last view).
    static void Forward(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> l,
        ArrayView<float> pad) => BlockSparseAttention.ForwardKernel(i, o, lse, q, k, v, pad, l, KB, KN, KH, KG, KDK, KDV, KBlock, false, false, KScale);
    static void CausalForward(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> l,
        ArrayView<float> pad) => BlockSparseAttention.ForwardKernel(i, o, lse, q, k, v, pad, l, KB, KN, KH, KG, KDK, KDV, KBlock, true, true, KScale);
    static void Query(Index1D i, ArrayView<float> dq, ArrayView<float> dsum, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> l, ArrayView<float> pad) =>
        BlockSparseAttention.BackwardQueryKernel(i, dq, dsum, dO, q, k, v, o, lse, pad, l, KB, KN, KH, KG, KDK, KDV, KBlock, false, false, KScale);
    static void CausalQuery(Index1D i, ArrayView<float> dq, ArrayView<float> dsum, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> l, ArrayView<float> pad) =>
        BlockSparseAttention.BackwardQueryKernel(i, dq, dsum, dO, q, k, v, o, lse, pad, l, KB, KN, KH, KG, KDK, KDV, KBlock, true, true, KScale);
    static void KeyValue(Index1D i, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> lse, ArrayView<float> dsum, ArrayView<float> l, ArrayView<float> pad) =>
        BlockSparseAttention.BackwardKeyValueKernel(i, dk, dv, dO, q, k, v, lse, dsum, pad, l, KB, KN, KH, KG, KDK, KDV, KBlock, false, false, KScale);
    static void CausalKeyValue(Index1D i, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> lse, ArrayView<float> dsum, ArrayView<float> l, ArrayView<float> pad) =>
        BlockSparseAttention.BackwardKeyValueKernel(i, dk, dv, dO, q, k, v, lse, dsum, pad, l, KB, KN, KH, KG, KDK, KDV, KBlock, true, true, KScale);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Kernels_MatchCpu(bool causal)
    {
        var layout = causal ? s_causalTable : s_layoutTable;
        var q = Rng.Floats(KB * KN * KH * KDK, 10);
        var k = Rng.Floats(KB * KN * KG * KDK, 11);
        var v = Rng.Floats(KB * KN * KG * KDV, 12);
        var dO = Rng.Floats(KB * KN * KH * KDV, 13);
        var o = new float[dO.Length];
        var lse = new float[KB * KH * KN];
        // Causal runs with a key padding mask: the second sample's first 5 keys, so its first queries see nothing.
        var padding = Enumerable.Range(0, KB * KN).Select(i => i >= KN && i < KN + 5 ? 1f : 0f).ToArray();
        float[]? cpuPadding = causal ? padding : null;
        BlockSparseAttention.Forward(o, lse, q, k, v, cpuPadding, layout, KB, KN, KH, KG, KDK, KDV, KBlock, causal, KScale);
        var dq = Arrays.Filled(q.Length, 0.5f);
        var dk = Arrays.Filled(k.Length, 0.5f);
        var dv = Arrays.Filled(v.Length, 0.5f);
        BlockSparseAttention.Backward(dq, dk, dv, dO, q, k, v, o, lse, cpuPadding, layout, KB, KN, KH, KG, KDK, KDV, KBlock, causal, KScale);
        if (causal) Assert.Contains(lse, float.IsNegativeInfinity);

        using var h = new KernelHarness();
        using var gq = h.Upload(q);
        using var gk = h.Upload(k);
        using var gv = h.Upload(v);
        using var gdO = h.Upload(dO);
        using var gl = h.Upload(layout);
        using var gpad = h.Upload(padding);
        using var go = h.Filled(o.Length, 9f);
        using var glse = h.Zeros(lse.Length);
        using var gdsum = h.Zeros(lse.Length);
        using var gdq = h.Filled(q.Length, 0.5f);
        using var gdk = h.Filled(k.Length, 0.5f);
        using var gdv = h.Filled(v.Length, 0.5f);
        int rows = KB * KH * KN;
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>>(causal ? CausalForward : Forward)(rows + 3, go.View, glse.View, gq.View, gk.View, gv.View, gl.View, gpad.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(causal ? CausalQuery : Query)(rows + 3, gdq.View, gdsum.View, gdO.View, gq.View, gk.View,
            gv.View, go.View, glse.View, gl.View, gpad.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(causal ? CausalKeyValue : KeyValue)(KB * KG * KN + 3, gdk.View, gdv.View, gdO.View, gq.View,
            gk.View, gv.View, glse.View, gdsum.View, gl.View, gpad.View);
        h.Accelerator.Synchronize();
        Approx.Equal(o, KernelHarness.Download(go), 1e-6, 1e-5, "kernel o");
        var klse = KernelHarness.Download(glse);
        Assert.Equal(lse.Select(float.IsNegativeInfinity), klse.Select(float.IsNegativeInfinity));
        Approx.Equal(lse.Select(x => float.IsNegativeInfinity(x) ? 0f : x).ToArray(), klse.Select(x => float.IsNegativeInfinity(x) ? 0f : x).ToArray(), 1e-6, 1e-5, "kernel lse");
        Approx.Equal(dq, KernelHarness.Download(gdq), 1e-6, 1e-4, "kernel dq");
        Approx.Equal(dk, KernelHarness.Download(gdk), 1e-6, 1e-4, "kernel dk");
        Approx.Equal(dv, KernelHarness.Download(gdv), 1e-6, 1e-4, "kernel dv");
    }
}
