using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Adaptive span's score bias against the paper's mask in double, finite differences for the span parameters (inside
/// (0, 1), where the straight-through clamp is the true derivative), and the kernels on the simulator against the CPU.</summary>
public class AdaptiveSpanTests
{
    static double[] Reference(double[] p, int batch, int heads, int nq, int nk, double maxSpan, double ramp)
    {
        var y = new double[batch * heads * nq * nk];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < nq; i++)
                    for (int j = 0; j < nk; j++)
                    {
                        double m = Math.Clamp((ramp + maxSpan * Math.Clamp(p[h], 0, 1) - Math.Abs(i - j)) / ramp, 0, 1);
                        y[((b * heads + h) * nq + i) * nk + j] = Math.Log(m);
                    }
        return y;
    }

    [Fact]
    public void Forward_IsTheLogOfThePapersMask()
    {
        const int batch = 2, heads = 3, n = 12;
        var p = new[] { 0f, 0.35f, 1f };
        var y = new float[batch * heads * n * n];
        AdaptiveSpan.Forward(y, p, batch, heads, n, n, 8, 3);
        var expected = Reference(Rng.ToDouble(p), batch, heads, n, n, 8, 3);
        for (int e = 0; e < y.Length; e++)
            if (double.IsNegativeInfinity(expected[e])) Assert.Equal(float.NegativeInfinity, y[e]);
            else Assert.Equal(expected[e], y[e], 5);
        // Head 0 (span 0, ramp 3): distance 0 kept, 1 and 2 fading, 3 and beyond gone.
        Assert.Equal(0f, y[0]);
        Assert.Equal(MathF.Log(2f / 3f), y[1], 5);
        Assert.Equal(float.NegativeInfinity, y[3]);
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_AndAccumulates()
    {
        const int batch = 2, heads = 2, nq = 9, nk = 9;
        var pf = new[] { 0.3f, 0.62f };
        var y = Reference(Rng.ToDouble(pf), batch, heads, nq, nk, 6, 2.5);
        // The softmax gives −∞ scores no gradient: their upstream is 0.
        var dy = Rng.Floats(y.Length, 3).Select((g, e) => double.IsNegativeInfinity(y[e]) ? 0f : g).ToArray();
        var dp = Arrays.Filled(heads, 0.25f);
        AdaptiveSpan.Backward(dp, dy, pf, batch, heads, nq, nk, 6, 2.5f);
        var p = Rng.ToDouble(pf);
        var r = Rng.ToDouble(dy);
        var expected = FiniteDifference.Gradient(() => Reference(p, batch, heads, nq, nk, 6, 2.5).Select(v => double.IsNegativeInfinity(v) ? 0 : v).ToArray(), p, r);
        Approx.Equal(expected.Select(g => g + 0.25).ToArray(), dp, 1e-5, 1e-4, "dspan");
    }

    const int KB = 2, KH = 3, KN = 13;
    const float KS = 7f, KR = 3f;

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> p) => AdaptiveSpan.ForwardKernel(i, y, p, KB, KH, KN, KN, KS, KR);

    static void Backward(ArrayView<float> dp, ArrayView<float> dy, ArrayView<float> p) => AdaptiveSpan.BackwardKernel(dp, dy, p, KB, KH, KN, KN, KS, KR);

    [Fact]
    public void Kernels_MatchCpu()
    {
        var p = new[] { 0.1f, 0.5f, 0.9f };
        var y = new float[KB * KH * KN * KN];
        AdaptiveSpan.Forward(y, p, KB, KH, KN, KN, KS, KR);
        var dy = Rng.Floats(y.Length, 4).Select((g, e) => float.IsNegativeInfinity(y[e]) ? 0f : g).ToArray();
        var dp = Arrays.Filled(KH, 0.5f);
        AdaptiveSpan.Backward(dp, dy, p, KB, KH, KN, KN, KS, KR);
        using var h = new KernelHarness();
        using var gp = h.Upload(p);
        using var gy = h.Zeros(y.Length);
        using var gdy = h.Upload(dy);
        using var gdp = h.Filled(KH, 0.5f);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Forward)(y.Length + 3, gy.View, gp.View);
        h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(Backward)(AdaptiveSpan.BackwardKernelConfig(KH), gdp.View, gdy.View, gp.View);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(gy));
        Approx.Equal(dp, KernelHarness.Download(gdp), 1e-5, 1e-4, "kernel dspan");
    }
}
