using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Linear attention of feature maps against its quadratic definition in double, o_i = Σ_j (φq_i·φk_j)·v_j / Σ_j φq_i·φk_j
/// (j ≤ i when causal), which the op never forms: forward, saved denominators, finite differences for every input, grouped
/// heads, and the kernels on the simulator against the CPU.</summary>
public class LinearAttentionTests
{
    static double[] Reference(double[] qf, double[] kf, double[] v, int batch, int tokens, int heads, int kvHeads, int m, int dv, bool causal, double[]? den = null)
    {
        var o = new double[batch * tokens * heads * dv];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                for (int i = 0; i < tokens; i++)
                {
                    double total = 0;
                    var sum = new double[dv];
                    for (int j = 0; j < (causal ? i + 1 : tokens); j++)
                    {
                        double a = 0;
                        for (int r = 0; r < m; r++) a += qf[((b * heads + h) * tokens + i) * m + r] * kf[((b * kvHeads + g) * tokens + j) * m + r];
                        total += a;
                        for (int e = 0; e < dv; e++) sum[e] += a * v[((b * tokens + j) * kvHeads + g) * dv + e];
                    }
                    if (den is not null) den[(b * heads + h) * tokens + i] = total;
                    for (int e = 0; e < dv; e++) o[((b * tokens + i) * heads + h) * dv + e] = sum[e] / total;
                }
            }
        return o;
    }

    /// <summary>Positive features, as φ always is.</summary>
    static float[] Features(int n, int seed) => Rng.Floats(n, seed).Select(f => 0.1f + Math.Abs(f)).ToArray();

    static (float[] O, float[] State, float[] Den) Run(float[] qf, float[] kf, float[] v, int batch, int tokens, int heads, int kvHeads, int m, int dv, bool causal)
    {
        var o = Arrays.Filled(batch * tokens * heads * dv, 9f);
        var state = Arrays.Filled(batch * kvHeads * m * (dv + 1), 9f);
        var den = Arrays.Filled(batch * heads * tokens, 9f);
        LinearAttention.Forward(o, state, den, qf, kf, v, batch, tokens, heads, kvHeads, m, dv, causal);
        return (o, state, den);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1, 1, false)]
    [InlineData(2, 9, 2, 2, 5, 3, false)]
    [InlineData(2, 9, 2, 2, 5, 3, true)]
    [InlineData(3, 17, 4, 2, 7, 6, true)]    // grouped heads
    [InlineData(2, 40, 6, 3, 12, 8, false)]
    public void Forward_MatchesTheQuadraticDefinition(int batch, int tokens, int heads, int kvHeads, int m, int dv, bool causal)
    {
        var qf = Features(batch * heads * tokens * m, 1);
        var kf = Features(batch * kvHeads * tokens * m, 2);
        var v = Rng.Floats(batch * tokens * kvHeads * dv, 3);
        var (o, _, den) = Run(qf, kf, v, batch, tokens, heads, kvHeads, m, dv, causal);
        var expectedDen = new double[den.Length];
        Approx.Equal(Reference(Rng.ToDouble(qf), Rng.ToDouble(kf), Rng.ToDouble(v), batch, tokens, heads, kvHeads, m, dv, causal, expectedDen), o, 1e-6, 1e-5, "o");
        Approx.Equal(expectedDen, den, 1e-6, 1e-5, "den");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(bool causal)
    {
        const int batch = 2, tokens = 5, heads = 4, kvHeads = 2, m = 3, dv = 2;
        var qf = Features(batch * heads * tokens * m, 4);
        var kf = Features(batch * kvHeads * tokens * m, 5);
        var v = Rng.Floats(batch * tokens * kvHeads * dv, 6);
        var dO = Rng.Floats(batch * tokens * heads * dv, 7);
        var (o, state, den) = Run(qf, kf, v, batch, tokens, heads, kvHeads, m, dv, causal);
        var dqf = Arrays.Filled(qf.Length, 0.25f);
        var dkf = Arrays.Filled(kf.Length, 0.25f);
        var dvs = Arrays.Filled(v.Length, 0.25f);
        LinearAttention.Backward(dqf, dkf, dvs, dO, qf, kf, v, o, state, den, batch, tokens, heads, kvHeads, m, dv, causal);
        double[] q = Rng.ToDouble(qf), k = Rng.ToDouble(kf), vd = Rng.ToDouble(v), r = Rng.ToDouble(dO);
        Func<double[]> f = () => Reference(q, k, vd, batch, tokens, heads, kvHeads, m, dv, causal);
        foreach (var (input, grad, name) in new[] { (q, dqf, "dqf"), (k, dkf, "dkf"), (vd, dvs, "dv") })
            Approx.Equal(FiniteDifference.Gradient(f, input, r).Select(g => g + 0.25).ToArray(), grad, 1e-6, 1e-4, name);
    }

    const int KB = 2, KN = 13, KH = 4, KG = 2, KM = 9, KDV = 5;

    static void State(Index1D i, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v) =>
        LinearAttention.StateKernel(i, o, s, d, q, k, v, KB, KN, KH, KG, KM, KDV);
    static void Numerator(Index1D i, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v) =>
        LinearAttention.NumeratorKernel(i, o, s, d, q, k, v, KB, KN, KH, KG, KM, KDV);
    static void CausalNumerator(Index1D i, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v) =>
        LinearAttention.CausalNumeratorKernel(i, o, s, d, q, k, v, KB, KN, KH, KG, KM, KDV);
    static void Normalize(Index1D i, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v) =>
        LinearAttention.NormalizeKernel(i, o, s, d, q, k, v, KB, KN, KH, KG, KM, KDV);

    static void Residual(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.ResidualKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);
    static void QueryGrad(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.QueryGradKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);
    static void StateGrad(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.StateGradKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);
    static void KeyGrad(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.KeyGradKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);
    static void ValueGrad(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.ValueGradKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);
    static void CausalQueryGrad(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.CausalQueryGradKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);
    static void CausalKeyGrad(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.CausalKeyGradKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);
    static void CausalValueGrad(Index1D i, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> res, ArrayView<float> sweep, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> s, ArrayView<float> d) =>
        LinearAttention.CausalValueGradKernel(i, dq, dk, dv, res, sweep, dO, q, k, v, o, s, d, KB, KN, KH, KG, KM, KDV);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Kernels_MatchCpu(bool causal)
    {
        int w = KDV + 1;
        var qf = Features(KB * KH * KN * KM, 8);
        var kf = Features(KB * KG * KN * KM, 9);
        var v = Rng.Floats(KB * KN * KG * KDV, 10);
        var dO = Rng.Floats(KB * KN * KH * KDV, 11);
        var (o, state, den) = Run(qf, kf, v, KB, KN, KH, KG, KM, KDV, causal);
        var dqf = Arrays.Filled(qf.Length, 0.5f);
        var dkf = Arrays.Filled(kf.Length, 0.5f);
        var dvs = Arrays.Filled(v.Length, 0.5f);
        LinearAttention.Backward(dqf, dkf, dvs, dO, qf, kf, v, o, state, den, KB, KN, KH, KG, KM, KDV, causal);

        using var h = new KernelHarness();
        using var gq = h.Upload(qf);
        using var gk = h.Upload(kf);
        using var gv = h.Upload(v);
        using var gdO = h.Upload(dO);
        using var go = h.Filled(o.Length, 9f);
        using var gs = h.Filled(state.Length, 9f);
        using var gd = h.Filled(den.Length, 9f);
        using var gdq = h.Filled(qf.Length, 0.5f);
        using var gdk = h.Filled(kf.Length, 0.5f);
        using var gdv = h.Filled(v.Length, 0.5f);
        using var gres = h.Filled(KB * KH * KN * w, 9f);
        using var gsweep = h.Filled(KB * KG * KM * w, 9f);
        void Forward(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> body, int extent) =>
            h.Accelerator.LoadAutoGroupedStreamKernel(body)(extent + 5, go.View, gs.View, gd.View, gq.View, gk.View, gv.View);
        void Backward(Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> body, int extent) =>
            h.Accelerator.LoadAutoGroupedStreamKernel(body)(extent + 5, gdq.View, gdk.View, gdv.View, gres.View, gsweep.View, gdO.View, gq.View, gk.View, gv.View,
                go.View, gs.View, gd.View);
        if (causal) Forward(CausalNumerator, KB * KG * w);
        else
        {
            Forward(State, KB * KG * KM * w);
            Forward(Numerator, KB * KH * KN * w);
        }
        Forward(Normalize, KB * KN * KH * KDV);
        Backward(Residual, KB * KH * KN * w);
        if (causal)
        {
            Backward(CausalQueryGrad, KB * KG * KM);
            Backward(CausalKeyGrad, KB * KG * KM);
            Backward(CausalValueGrad, KB * KG * KDV);
        }
        else
        {
            Backward(QueryGrad, KB * KH * KN * KM);
            Backward(StateGrad, KB * KG * KM * w);
            Backward(KeyGrad, KB * KG * KN * KM);
            Backward(ValueGrad, KB * KN * KG * KDV);
        }
        h.Accelerator.Synchronize();
        Approx.Equal(o, KernelHarness.Download(go), 1e-6, 1e-5, "kernel o");
        Approx.Equal(den, KernelHarness.Download(gd), 1e-6, 1e-5, "kernel den");
        Approx.Equal(state, KernelHarness.Download(gs), 1e-6, 1e-5, "kernel state");
        Approx.Equal(dqf, KernelHarness.Download(gdq), 1e-6, 1e-4, "kernel dqf");
        Approx.Equal(dkf, KernelHarness.Download(gdk), 1e-6, 1e-4, "kernel dkf");
        Approx.Equal(dvs, KernelHarness.Download(gdv), 1e-6, 1e-4, "kernel dv");
    }
}
