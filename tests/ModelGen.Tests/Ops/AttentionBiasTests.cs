using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using BiasKind = ModelGen.Tests.Ops.AttentionFlashTests.BiasKind;

namespace ModelGen.Tests.Ops;

/// <summary>Attention with a score bias (ALiBi, relative position biases, attention masks): the CPU backend against a
/// double-precision reference and finite differences (dq, dk, dv and the bias's own gradient), and the row kernels (heads wider
/// than the flash kernels take) on the simulator against the CPU. The flash kernels' bias cases are in AttentionFlashTests.</summary>
public class AttentionBiasTests
{
    public sealed record Shape(int B, int Nq, int Nk, int H, int KvH, int Dk, int Dv, bool Causal)
    {
        public float Scale => 1f / MathF.Sqrt(Dk);
        public int QLen => B * Nq * H * Dk;
        public int KLen => B * Nk * KvH * Dk;
        public int VLen => B * Nk * KvH * Dv;
        public int OLen => B * Nq * H * Dv;
        public int PLen => B * H * Nq * Nk;
    }

    /// <summary>Double-precision attention with the bias read at b·bb + h·bh + i·Nk + j: added, or masking where nonzero.</summary>
    static double[] Reference(Shape s, double[] q, double[] k, double[] v, double[]? bias, int bb, int bh, bool mask)
    {
        var o = new double[s.OLen];
        var p = new double[s.Nk];
        for (int b = 0; b < s.B; b++)
            for (int h = 0; h < s.H; h++)
            {
                int kv = h / (s.H / s.KvH);
                for (int i = 0; i < s.Nq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < s.Nk; j++)
                    {
                        double extra = bias is null ? 0 : bias[b * bb + h * bh + i * s.Nk + j];
                        if ((s.Causal && j > i) || (mask && extra != 0)) { p[j] = double.NegativeInfinity; continue; }
                        double dot = 0;
                        for (int c = 0; c < s.Dk; c++)
                            dot += q[((b * s.Nq + i) * s.H + h) * s.Dk + c] * k[((b * s.Nk + j) * s.KvH + kv) * s.Dk + c];
                        p[j] = dot * s.Scale + (mask ? 0 : extra);
                        max = Math.Max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < s.Nk; j++) sum += p[j] = double.IsNegativeInfinity(p[j]) ? 0 : Math.Exp(p[j] - max);
                    for (int c = 0; c < s.Dv; c++)
                    {
                        double acc = 0;
                        for (int j = 0; j < s.Nk; j++) acc += (sum > 0 ? p[j] / sum : 0) * v[((b * s.Nk + j) * s.KvH + kv) * s.Dv + c];
                        o[((b * s.Nq + i) * s.H + h) * s.Dv + c] = acc;
                    }
                }
            }
        return o;
    }

    public static TheoryData<string, Shape, BiasKind> Cases() => new()
    {
        { "learned", new Shape(2, 5, 6, 4, 2, 3, 2, false), BiasKind.Learned },
        { "learned causal", new Shape(2, 6, 6, 2, 2, 4, 3, true), BiasKind.Learned },
        { "learned in place", new Shape(1, 7, 9, 2, 1, 16, 16, true), BiasKind.Learned },
        { "constant", new Shape(2, 5, 5, 3, 3, 3, 3, true), BiasKind.Constant },
        { "mask", new Shape(2, 5, 7, 2, 1, 3, 4, false), BiasKind.Mask },
        { "mask causal", new Shape(2, 6, 6, 2, 2, 17, 5, true), BiasKind.Mask },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference_AndFiniteDifferences(string name, Shape s, BiasKind kind)
    {
        var q = Rng.Floats(s.QLen, 1, 1.5f);
        var k = Rng.Floats(s.KLen, 2, 1.5f);
        var v = Rng.Floats(s.VLen, 3);
        var (bias, bb, bh) = AttentionFlashTests.MakeBias(kind, s.B, s.H, s.Nq, s.Nk);
        bool mask = kind == BiasKind.Mask;
        var o = new float[s.OLen];
        var p = new float[s.PLen];
        Array.Fill(o, 99f);
        Attention.Forward(o, p, q, k, v, null, bias, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, bb, bh, s.Causal, mask, s.Scale);
        double[] qd = Rng.ToDouble(q), kd = Rng.ToDouble(k), vd = Rng.ToDouble(v), bd = Rng.ToDouble(bias!);
        Func<double[]> f = () => Reference(s, qd, kd, vd, bd, bb, bh, mask);
        Approx.Equal(f(), o, 1e-5, 1e-4, name + " o");
        foreach (var x in o) Assert.False(float.IsNaN(x));

        const float pre = 0.25f;
        var r = Rng.Floats(s.OLen, 4);
        var dq = new float[s.QLen]; Array.Fill(dq, pre);
        var dk = new float[s.KLen]; Array.Fill(dk, pre);
        var dv = new float[s.VLen]; Array.Fill(dv, pre);
        float[]? dBias = null;
        if (kind == BiasKind.Learned) { dBias = new float[s.PLen]; Array.Fill(dBias, pre); }
        Attention.Backward(dq, dk, dv, dBias, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, s.Scale);
        double[] rd = Rng.ToDouble(r);
        Check(FiniteDifference.Gradient(f, qd, rd), dq, name + " dq");
        Check(FiniteDifference.Gradient(f, kd, rd), dk, name + " dk");
        Check(FiniteDifference.Gradient(f, vd, rd), dv, name + " dv");
        if (dBias is not null) Check(FiniteDifference.Gradient(f, bd, rd), dBias, name + " dBias");

        static void Check(double[] fd, float[] actual, string what)
        {
            for (int i = 0; i < fd.Length; i++) fd[i] += pre;
            Approx.Equal(fd, actual, 1e-4, 1e-3, what);
        }
    }

    [Fact]
    public void ABoolMaskEqualsAnAdditiveMaskOfMinusInfinity()
    {
        var s = new Shape(2, 6, 8, 2, 2, 4, 4, true);
        var q = Rng.Floats(s.QLen, 5);
        var k = Rng.Floats(s.KLen, 6);
        var v = Rng.Floats(s.VLen, 7);
        var (mask, bb, bh) = AttentionFlashTests.MakeBias(BiasKind.Mask, s.B, s.H, s.Nq, s.Nk);
        var additive = Array.ConvertAll(mask!, m => m != 0f ? float.NegativeInfinity : 0f);
        float[] o1 = new float[s.OLen], p1 = new float[s.PLen], o2 = new float[s.OLen], p2 = new float[s.PLen];
        Attention.Forward(o1, p1, q, k, v, null, mask, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, bb, bh, s.Causal, true, s.Scale);
        Attention.Forward(o2, p2, q, k, v, null, additive, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, bb, bh, s.Causal, false, s.Scale);
        Assert.Equal(o1, o2);
        Assert.Equal(p1, p2);
        // Sample 0's row 1 is masked whole: zeros, as for a row whose keys are all padding.
        for (int h = 0; h < s.H; h++)
            for (int j = 0; j < s.Nk; j++) Assert.Equal(0f, p1[(h * s.Nq + 1) * s.Nk + j]);
    }

    // ---------------- the row kernels (heads wider than 128) on the simulator ----------------
    const int B = 2, NQ = 5, NK = 6, H = 2, KV = 1, DK = 3, DV = 4;
    const float Scale = 0.57735026f;

    static void FwdLearned(Index1D i, ArrayView<float> o, ArrayView<float> p, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> bias) =>
        Attention.ForwardKernel(i, o, p, q, k, v, default, bias, B, NQ, NK, H, KV, DK, DV, H * NQ * NK, NQ * NK, true, false, true, false, Scale);

    static void FwdMask(Index1D i, ArrayView<float> o, ArrayView<float> p, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> bias) =>
        Attention.ForwardKernel(i, o, p, q, k, v, default, bias, B, NQ, NK, H, KV, DK, DV, NQ * NK, 0, false, false, true, true, Scale);

    static void BwdScores(Index1D i, ArrayView<float> dS, ArrayView<float> dq, ArrayView<float> dBias, ArrayView<float> dO, ArrayView<float> q,
        ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> p) =>
        Attention.BackwardScoresKernel(i, dS, dq, dBias, dO, q, k, v, o, p, B, NQ, NK, H, KV, DK, DV, true, Scale);

    [Theory]
    [InlineData(BiasKind.Learned)]
    [InlineData(BiasKind.Mask)]
    public void RowKernels_MatchTheCpu(BiasKind kind)
    {
        var s = new Shape(B, NQ, NK, H, KV, DK, DV, kind == BiasKind.Learned);
        var q = Rng.Floats(s.QLen, 11);
        var k = Rng.Floats(s.KLen, 12);
        var v = Rng.Floats(s.VLen, 13);
        var (bias, bb, bh) = AttentionFlashTests.MakeBias(kind, B, H, NQ, NK);
        var o = new float[s.OLen];
        var p = new float[s.PLen];
        Attention.Forward(o, p, q, k, v, null, bias, B, NQ, NK, H, KV, DK, DV, bb, bh, s.Causal, kind == BiasKind.Mask, Scale);
        var r = Rng.Floats(s.OLen, 14);
        var dq = new float[s.QLen];
        var dk = new float[s.KLen];
        var dv = new float[s.VLen];
        var dBias = Rng.Floats(s.PLen, 15, 0.1f);
        var dBias0 = (float[])dBias.Clone();
        Attention.Backward(dq, dk, dv, dBias, r, q, k, v, o, p, B, NQ, NK, H, KV, DK, DV, Scale);

        using var harness = new KernelHarness();
        var acc = harness.Accelerator;
        var forward = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>>(kind == BiasKind.Learned ? FwdLearned : FwdMask);
        var scores = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BwdScores);
        using var go = harness.Zeros(s.OLen);
        using var gp = harness.Zeros(s.PLen);
        using var gq = harness.Upload(q);
        using var gk = harness.Upload(k);
        using var gv = harness.Upload(v);
        using var gbias = harness.Upload(bias!);
        using var gdS = harness.Zeros(s.PLen);
        using var gdq = harness.Zeros(s.QLen);
        using var gdBias = harness.Upload(dBias0);
        using var gr = harness.Upload(r);
        forward(B * H * NQ, go.View, gp.View, gq.View, gk.View, gv.View, gbias.View);
        scores(B * H * NQ, gdS.View, gdq.View, gdBias.View, gr.View, gq.View, gk.View, gv.View, go.View, gp.View);
        acc.Synchronize();
        Approx.Equal(o, KernelHarness.Download(go), 1e-5, 1e-4, "o");
        Approx.Equal(p, KernelHarness.Download(gp), 1e-6, 1e-4, "probs");
        Approx.Equal(dq, KernelHarness.Download(gdq), 1e-5, 1e-4, "dq");
        Approx.Equal(dBias, KernelHarness.Download(gdBias), 1e-5, 1e-4, "dBias");
    }
}
