using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class AttentionTests
{
    /// <summary>Shape of one attention call.</summary>
    public sealed record Shape(int B, int Nq, int Nk, int H, int KvH, int Dk, int Dv, bool Causal, bool Padding)
    {
        public float Scale => 1f / MathF.Sqrt(Dk);
        public int QLen => B * Nq * H * Dk;
        public int KLen => B * Nk * KvH * Dk;
        public int VLen => B * Nk * KvH * Dv;
        public int OLen => B * Nq * H * Dv;
        public int PLen => B * H * Nq * Nk;

        /// <summary>Masks a varying set of keys per batch; key 0 stays so no row is fully masked.</summary>
        public float[]? PaddingMask()
        {
            if (!Padding) return null;
            var m = new float[B * Nk];
            for (int b = 0; b < B; b++)
                for (int j = 1; j < Nk; j++)
                    if ((j + b) % 3 == 2) m[b * Nk + j] = (j % 2 == 0) ? 1f : -2.5f; // any nonzero value masks
            return m;
        }
    }

    static bool Masked(Shape s, float[]? pad, int b, int i, int j) =>
        (s.Causal && j > i) || (pad != null && pad[b * s.Nk + j] != 0f);

    /// <summary>Double-precision attention with explicit loops; fully masked rows give probs 0 and output 0.</summary>
    static double[] Reference(Shape s, double[] q, double[] k, double[] v, float[]? pad, double[]? probs = null)
    {
        var o = new double[s.OLen];
        int group = s.H / s.KvH;
        var p = new double[s.Nk];
        for (int b = 0; b < s.B; b++)
            for (int h = 0; h < s.H; h++)
            {
                int kv = h / group;
                for (int i = 0; i < s.Nq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < s.Nk; j++)
                    {
                        if (Masked(s, pad, b, i, j)) { p[j] = double.NegativeInfinity; continue; }
                        double dot = 0;
                        for (int c = 0; c < s.Dk; c++)
                            dot += q[((b * s.Nq + i) * s.H + h) * s.Dk + c] * k[((b * s.Nk + j) * s.KvH + kv) * s.Dk + c];
                        p[j] = dot * s.Scale;
                        max = Math.Max(max, p[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < s.Nk; j++)
                    {
                        p[j] = double.IsNegativeInfinity(p[j]) ? 0 : Math.Exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int j = 0; j < s.Nk; j++)
                    {
                        p[j] = sum > 0 ? p[j] / sum : 0;
                        if (probs != null) probs[((b * s.H + h) * s.Nq + i) * s.Nk + j] = p[j];
                    }
                    for (int c = 0; c < s.Dv; c++)
                    {
                        double acc = 0;
                        for (int j = 0; j < s.Nk; j++) acc += p[j] * v[((b * s.Nk + j) * s.KvH + kv) * s.Dv + c];
                        o[((b * s.Nq + i) * s.H + h) * s.Dv + c] = acc;
                    }
                }
            }
        return o;
    }

    /// <summary>Analytic double backward, used where finite differences would be too slow.</summary>
    static (double[] Dq, double[] Dk, double[] Dv) ReferenceBackward(Shape s, double[] q, double[] k, double[] v, float[]? pad, double[] dO)
    {
        var probs = new double[s.PLen];
        var o = Reference(s, q, k, v, pad, probs);
        var dq = new double[s.QLen];
        var dk = new double[s.KLen];
        var dv = new double[s.VLen];
        int group = s.H / s.KvH;
        var ds = new double[s.Nk];
        for (int b = 0; b < s.B; b++)
            for (int h = 0; h < s.H; h++)
            {
                int kv = h / group;
                for (int i = 0; i < s.Nq; i++)
                {
                    int oRow = ((b * s.Nq + i) * s.H + h) * s.Dv, qRow = ((b * s.Nq + i) * s.H + h) * s.Dk;
                    double d = 0;
                    for (int c = 0; c < s.Dv; c++) d += dO[oRow + c] * o[oRow + c];
                    for (int j = 0; j < s.Nk; j++)
                    {
                        double pij = probs[((b * s.H + h) * s.Nq + i) * s.Nk + j];
                        int vRow = ((b * s.Nk + j) * s.KvH + kv) * s.Dv;
                        double dp = 0;
                        for (int c = 0; c < s.Dv; c++)
                        {
                            dp += dO[oRow + c] * v[vRow + c];
                            dv[vRow + c] += pij * dO[oRow + c];
                        }
                        ds[j] = pij * (dp - d) * s.Scale;
                        int kRow = ((b * s.Nk + j) * s.KvH + kv) * s.Dk;
                        for (int c = 0; c < s.Dk; c++)
                        {
                            dq[qRow + c] += ds[j] * k[kRow + c];
                            dk[kRow + c] += ds[j] * q[qRow + c];
                        }
                    }
                }
            }
        return (dq, dk, dv);
    }

    static (float[] Q, float[] K, float[] V) Inputs(Shape s, int seed) =>
        (Rng.Floats(s.QLen, seed, 1.5f), Rng.Floats(s.KLen, seed + 1, 1.5f), Rng.Floats(s.VLen, seed + 2));

    static (float[] O, float[] P) RunForward(Shape s, float[] q, float[] k, float[] v, float[]? pad)
    {
        var o = new float[s.OLen];
        var p = new float[s.PLen];
        Array.Fill(o, 99f); // forward must overwrite
        Array.Fill(p, 99f);
        Attention.Forward(o, p, q, k, v, pad, null, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, 0, 0, s.Causal, false, s.Scale);
        return (o, p);
    }

    public static TheoryData<string, Shape> ForwardShapes() => new()
    {
        { "plain", new Shape(2, 5, 5, 2, 2, 4, 4, false, false) },
        { "causal", new Shape(2, 5, 5, 2, 2, 4, 4, true, false) },
        { "padding", new Shape(2, 6, 6, 2, 2, 4, 4, false, true) },
        { "causal+padding", new Shape(2, 6, 6, 2, 2, 4, 4, true, true) },
        { "gqa", new Shape(2, 5, 5, 4, 2, 3, 3, true, true) },
        { "mqa", new Shape(2, 5, 5, 4, 1, 3, 3, false, true) },
        { "dk!=dv", new Shape(2, 5, 5, 2, 2, 5, 3, true, false) },
        { "cross", new Shape(2, 3, 7, 2, 1, 4, 6, false, true) },
        { "cross causal", new Shape(1, 7, 4, 3, 3, 4, 2, true, false) },
        { "simd tails", new Shape(1, 37, 41, 2, 1, 20, 33, true, true) },
        { "wide", new Shape(1, 9, 70, 2, 2, 70, 80, false, false) },
        // Head widths of whole vectors read V and write O in place: one task per (batch, head) with its own staging; few
        // heads split into row blocks over shared staging (on two or more cores).
        { "in place", new Shape(3, 9, 11, 2, 2, 16, 16, true, true) },
        { "in place gqa", new Shape(1, 21, 23, 4, 2, 16, 32, true, true) },
        { "in place row blocks", new Shape(1, 21, 23, 2, 1, 16, 32, true, true) },
    };

    [Theory]
    [MemberData(nameof(ForwardShapes))]
    public void Forward_MatchesReference(string name, Shape s)
    {
        var (q, k, v) = Inputs(s, 11);
        var pad = s.PaddingMask();
        var refP = new double[s.PLen];
        var refO = Reference(s, Rng.ToDouble(q), Rng.ToDouble(k), Rng.ToDouble(v), pad, refP);
        var (o, p) = RunForward(s, q, k, v, pad);
        Approx.Equal(refO, o, 1e-5, 1e-4, name + " o");
        Approx.Equal(refP, p, 1e-6, 1e-4, name + " probs");
    }

    public static TheoryData<string, Shape> BackwardShapes() => new()
    {
        { "plain", new Shape(2, 5, 5, 4, 2, 3, 2, false, false) },
        { "causal", new Shape(2, 5, 5, 4, 2, 3, 2, true, false) },
        { "padding", new Shape(2, 5, 5, 4, 2, 3, 2, false, true) },
        { "causal+padding", new Shape(2, 5, 5, 4, 2, 3, 2, true, true) },
        { "mha", new Shape(2, 5, 5, 2, 2, 3, 2, true, false) },
        { "mqa", new Shape(1, 5, 5, 3, 1, 2, 3, false, true) },
        { "cross", new Shape(2, 3, 6, 2, 1, 3, 4, true, true) },
        { "simd tails", new Shape(1, 18, 19, 2, 1, 17, 5, true, true) },
        // Whole-vector head widths are read and accumulated in place; each operand on its own.
        { "in place", new Shape(2, 9, 11, 4, 2, 16, 32, true, true) },
        { "k in place", new Shape(1, 7, 9, 2, 1, 16, 5, false, true) },
        { "v in place", new Shape(1, 7, 9, 2, 2, 3, 16, true, false) },
    };

    [Theory]
    [MemberData(nameof(BackwardShapes))]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(string name, Shape s)
    {
        var (q, k, v) = Inputs(s, 21);
        var pad = s.PaddingMask();
        var r = Rng.Floats(s.OLen, 23);
        var (o, p) = RunForward(s, q, k, v, pad);

        const float pre = 0.25f;
        var dq = new float[s.QLen]; Array.Fill(dq, pre);
        var dk = new float[s.KLen]; Array.Fill(dk, pre);
        var dv = new float[s.VLen]; Array.Fill(dv, pre);
        Attention.Backward(dq, dk, dv, null, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, s.Scale);

        double[] qd = Rng.ToDouble(q), kd = Rng.ToDouble(k), vd = Rng.ToDouble(v), rd = Rng.ToDouble(r);
        Func<double[]> f = () => Reference(s, qd, kd, vd, pad);
        Check(FiniteDifference.Gradient(f, qd, rd), dq, name + " dq");
        Check(FiniteDifference.Gradient(f, kd, rd), dk, name + " dk");
        Check(FiniteDifference.Gradient(f, vd, rd), dv, name + " dv");

        static void Check(double[] fd, float[] actual, string what)
        {
            for (int i = 0; i < fd.Length; i++) fd[i] += pre;
            Approx.Equal(fd, actual, 1e-4, 1e-3, what);
        }
    }

    [Fact]
    public void Backward_IsUnchangedInputsAndRepeatable()
    {
        var s = new Shape(2, 6, 6, 4, 2, 3, 2, true, true);
        var (q, k, v) = Inputs(s, 31);
        var pad = s.PaddingMask();
        var (o, p) = RunForward(s, q, k, v, pad);
        var r = Rng.Floats(s.OLen, 33);
        float[] q0 = (float[])q.Clone(), k0 = (float[])k.Clone(), v0 = (float[])v.Clone(), o0 = (float[])o.Clone(), p0 = (float[])p.Clone();
        var dq = new float[s.QLen]; var dk = new float[s.KLen]; var dv = new float[s.VLen];
        Attention.Backward(dq, dk, dv, null, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, s.Scale);
        float[] dq1 = (float[])dq.Clone(), dk1 = (float[])dk.Clone(), dv1 = (float[])dv.Clone();
        Attention.Backward(dq, dk, dv, null, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, s.Scale);
        for (int i = 0; i < dq.Length; i++) Assert.Equal(2 * dq1[i], dq[i], 5);
        for (int i = 0; i < dk.Length; i++) Assert.Equal(2 * dk1[i], dk[i], 5);
        for (int i = 0; i < dv.Length; i++) Assert.Equal(2 * dv1[i], dv[i], 5);
        Assert.Equal(q0, q); Assert.Equal(k0, k); Assert.Equal(v0, v); Assert.Equal(o0, o); Assert.Equal(p0, p);
    }

    [Fact]
    public void FullyMaskedRows_GiveZeroProbsOutputAndGradients()
    {
        // Batch 1 masks every key; in batch 0 key 0 is padding, so with causal masking query row 0 sees no key.
        var s = new Shape(2, 4, 4, 2, 1, 3, 2, true, true);
        var pad = new float[s.B * s.Nk];
        pad[0] = 1f;
        for (int j = 0; j < s.Nk; j++) pad[s.Nk + j] = 1f;
        var (q, k, v) = Inputs(s, 41);
        var (o, p) = RunForward(s, q, k, v, pad);
        foreach (var x in o) Assert.False(float.IsNaN(x));
        for (int h = 0; h < s.H; h++)
        {
            for (int c = 0; c < s.Dv; c++) Assert.Equal(0f, o[(0 * s.H + h) * s.Dv + c]); // batch 0, row 0
            for (int j = 0; j < s.Nk; j++) Assert.Equal(0f, p[(0 * s.H + h) * s.Nq * s.Nk + j]);
        }
        int half = s.OLen / 2;
        for (int i = half; i < s.OLen; i++) Assert.Equal(0f, o[i]);
        for (int i = s.PLen / 2; i < s.PLen; i++) Assert.Equal(0f, p[i]);
        var refO = Reference(s, Rng.ToDouble(q), Rng.ToDouble(k), Rng.ToDouble(v), pad);
        Approx.Equal(refO, o, 1e-5, 1e-4, "o");

        var dq = new float[s.QLen]; var dk = new float[s.KLen]; var dv = new float[s.VLen];
        var r = Rng.Floats(s.OLen, 43);
        Attention.Backward(dq, dk, dv, null, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, s.Scale);
        for (int i = s.QLen / 2; i < s.QLen; i++) Assert.Equal(0f, dq[i]);
        for (int i = s.KLen / 2; i < s.KLen; i++) Assert.Equal(0f, dk[i]);
        for (int i = s.VLen / 2; i < s.VLen; i++) Assert.Equal(0f, dv[i]);
        for (int h = 0; h < s.H; h++)
            for (int c = 0; c < s.Dk; c++) Assert.Equal(0f, dq[h * s.Dk + c]);
        foreach (var x in dq) Assert.False(float.IsNaN(x));
    }

    [Fact]
    public void VitSize_MatchesReference()
    {
        var s = new Shape(2, 197, 197, 3, 3, 64, 64, false, false);
        var (q, k, v) = Inputs(s, 51);
        double[] qd = Rng.ToDouble(q), kd = Rng.ToDouble(k), vd = Rng.ToDouble(v);
        var refP = new double[s.PLen];
        var refO = Reference(s, qd, kd, vd, null, refP);
        var (o, p) = RunForward(s, q, k, v, null);
        Approx.Equal(refO, o, 1e-5, 1e-4, "o");
        Approx.Equal(refP, p, 1e-6, 1e-4, "probs");

        var r = Rng.Floats(s.OLen, 53);
        var dq = new float[s.QLen]; var dk = new float[s.KLen]; var dv = new float[s.VLen];
        Attention.Backward(dq, dk, dv, null, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, s.Scale);
        var (rq, rk, rv) = ReferenceBackward(s, qd, kd, vd, null, Rng.ToDouble(r));
        Approx.Equal(rq, dq, 1e-5, 1e-3, "dq");
        Approx.Equal(rk, dk, 1e-5, 1e-3, "dk");
        Approx.Equal(rv, dv, 1e-5, 1e-3, "dv");
    }

    [Fact]
    public void ASample_GetsTheSameBits_AloneOrInABatch()
    {
        // Batch 1 splits each head's rows into blocks over staged keys shared by the tasks; batch 8 gives each task a
        // whole head and its own staging. Both must compute every row the same way.
        var big = new Shape(8, 197, 197, 3, 3, 64, 64, false, false);
        var one = big with { B = 1 };
        var (q, k, v) = Inputs(big, 71);
        var (o8, p8) = RunForward(big, q, k, v, null);
        int sample = 5;
        var (o1, p1) = RunForward(one, q.AsSpan(sample * one.QLen, one.QLen).ToArray(), k.AsSpan(sample * one.KLen, one.KLen).ToArray(),
            v.AsSpan(sample * one.VLen, one.VLen).ToArray(), null);
        Assert.Equal(o8.AsSpan(sample * one.OLen, one.OLen).ToArray(), o1);
        Assert.Equal(p8.AsSpan(sample * one.PLen, one.PLen).ToArray(), p1);
    }

    [Fact]
    public void LargeGqaCausalPadded_BackwardMatchesAnalyticReference()
    {
        var s = new Shape(2, 67, 67, 4, 2, 24, 40, true, true);
        var (q, k, v) = Inputs(s, 61);
        var pad = s.PaddingMask();
        var (o, p) = RunForward(s, q, k, v, pad);
        var r = Rng.Floats(s.OLen, 63);
        var dq = new float[s.QLen]; var dk = new float[s.KLen]; var dv = new float[s.VLen];
        Attention.Backward(dq, dk, dv, null, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, s.Scale);
        var (rq, rk, rv) = ReferenceBackward(s, Rng.ToDouble(q), Rng.ToDouble(k), Rng.ToDouble(v), pad, Rng.ToDouble(r));
        Approx.Equal(rq, dq, 1e-5, 1e-3, "dq");
        Approx.Equal(rk, dk, 1e-5, 1e-3, "dk");
        Approx.Equal(rv, dv, 1e-5, 1e-3, "dv");
    }

    // ---------------- GPU kernels on the ILGPU CPU simulator ----------------
    // Wrappers bake the sizes as literals, as the generator does.
    const int KB = 2, KNQ = 4, KNK = 5, KH = 4, KKV = 2, KDK = 3, KDV = 2;
    static readonly Shape KShape = new(KB, KNQ, KNK, KH, KKV, KDK, KDV, true, true);
    const float KScale = 0.57735026f; // 1/sqrt(3)

    static void FwdMasked(Index1D i, ArrayView<float> o, ArrayView<float> p, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> pad) =>
        Attention.ForwardKernel(i, o, p, q, k, v, pad, default, KB, KNQ, KNK, KH, KKV, KDK, KDV, 0, 0, true, true, false, false, KScale);

    const int CB = 1, CNQ = 3, CNK = 6, CH = 2, CKV = 1, CDK = 4, CDV = 3;
    static readonly Shape CShape = new(CB, CNQ, CNK, CH, CKV, CDK, CDV, false, false);

    static void FwdCross(Index1D i, ArrayView<float> o, ArrayView<float> p, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> pad) =>
        Attention.ForwardKernel(i, o, p, q, k, v, pad, default, CB, CNQ, CNK, CH, CKV, CDK, CDV, 0, 0, false, false, false, false, 0.5f);

    static void BwdScores(Index1D i, ArrayView<float> dS, ArrayView<float> dq, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> p) =>
        Attention.BackwardScoresKernel(i, dS, dq, default, dO, q, k, v, o, p, KB, KNQ, KNK, KH, KKV, KDK, KDV, false, KScale);

    static void BwdKeyValue(Index1D i, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dS, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> p) =>
        Attention.BackwardKeyValueKernel(i, dk, dv, dS, dO, q, p, KB, KNQ, KNK, KH, KKV, KDK, KDV, KScale);

    [Fact]
    public void Kernels_ForwardMatchCpu()
    {
        using var harness = new KernelHarness();
        var fwd = harness.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>>(FwdMasked);
        var cross = harness.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>>(FwdCross);

        foreach (var (s, kernel, scale) in new[] { (KShape, fwd, KScale), (CShape, cross, 0.5f) })
        {
            var (q, k, v) = Inputs(s, 71);
            var pad = s.PaddingMask() ?? new float[1];
            var o = new float[s.OLen];
            var p = new float[s.PLen];
            Attention.Forward(o, p, q, k, v, s.Padding ? pad : null, null, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, 0, 0, s.Causal, false, scale);

            using var go = harness.Zeros(s.OLen);
            using var gp = harness.Zeros(s.PLen);
            using var gq = harness.Upload(q);
            using var gk = harness.Upload(k);
            using var gv = harness.Upload(v);
            using var gpad = harness.Upload(pad);
            kernel(s.B * s.H * s.Nq, go.View, gp.View, gq.View, gk.View, gv.View, gpad.View);
            harness.Accelerator.Synchronize();
            Approx.Equal(o, KernelHarness.Download(go), 1e-5, 1e-4, "kernel o");
            Approx.Equal(p, KernelHarness.Download(gp), 1e-6, 1e-4, "kernel probs");
        }
    }

    [Fact]
    public void Kernels_BackwardMatchCpu()
    {
        var s = KShape;
        var (q, k, v) = Inputs(s, 81);
        var pad = s.PaddingMask()!;
        var (o, p) = RunForward(s, q, k, v, pad);
        var r = Rng.Floats(s.OLen, 83);
        var dq = new float[s.QLen]; Array.Fill(dq, 0.5f);
        var dk = new float[s.KLen]; Array.Fill(dk, 0.5f);
        var dv = new float[s.VLen]; Array.Fill(dv, 0.5f);
        var gdq0 = (float[])dq.Clone(); var gdk0 = (float[])dk.Clone(); var gdv0 = (float[])dv.Clone();
        Attention.Backward(dq, dk, dv, null, r, q, k, v, o, p, s.B, s.Nq, s.Nk, s.H, s.KvH, s.Dk, s.Dv, KScale);

        using var harness = new KernelHarness();
        var scores = harness.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BwdScores);
        var keyValue = harness.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>>(BwdKeyValue);
        using var gdS = harness.Zeros(s.PLen);
        using var gdq = harness.Upload(gdq0);
        using var gdk = harness.Upload(gdk0);
        using var gdv = harness.Upload(gdv0);
        using var gr = harness.Upload(r);
        using var gq = harness.Upload(q);
        using var gk = harness.Upload(k);
        using var gv = harness.Upload(v);
        using var go = harness.Upload(o);
        using var gp = harness.Upload(p);
        scores(s.B * s.H * s.Nq, gdS.View, gdq.View, gr.View, gq.View, gk.View, gv.View, go.View, gp.View);
        keyValue(s.B * s.KvH * s.Nk, gdk.View, gdv.View, gdS.View, gr.View, gq.View, gp.View);
        harness.Accelerator.Synchronize();
        Approx.Equal(dq, KernelHarness.Download(gdq), 1e-5, 1e-4, "kernel dq");
        Approx.Equal(dk, KernelHarness.Download(gdk), 1e-5, 1e-4, "kernel dk");
        Approx.Equal(dv, KernelHarness.Download(gdv), 1e-5, 1e-4, "kernel dv");
    }
}
