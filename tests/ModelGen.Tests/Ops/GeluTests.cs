using System;
using System.Numerics;
using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class GeluTests
{
    /// <summary>erf(x) = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): all terms positive, so no cancellation.</summary>
    static double ErfReference(double x)
    {
        double term = x, sum = x, x2 = x * x;
        for (int n = 1; n < 1000; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) < 1e-18 * Math.Abs(sum)) break;
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
    }

    static double[] Reference(double[] x)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = 0.5 * x[i] * (1 + ErfReference(x[i] / Math.Sqrt(2)));
        return y;
    }

    [Fact]
    public void ErfReferenceIsSound()
    {
        Assert.Equal(0.8427007929497149, ErfReference(1), 1e-14);
        Assert.Equal(-0.9953222650189527, ErfReference(-2), 1e-14);
        Assert.Equal(0.9999999845827421, ErfReference(4), 1e-14);
        Assert.Equal(1.0, ErfReference(6), 1e-14);
    }

    [Fact]
    public void Erf_IsWithin2e7OfDoubleErf_OnMinus6To6()
    {
        const int steps = 240000;
        double worst = 0, at = 0;
        var xs = new float[steps + 1];
        for (int k = 0; k <= steps; k++)
        {
            float x = (float)(-6.0 + 12.0 * k / steps);
            xs[k] = x;
            double err = Math.Abs(Gelu.Erf(x) - ErfReference(x));
            if (err > worst) { worst = err; at = x; }
        }
        Assert.True(worst <= 2e-7, $"scalar Erf worst error {worst:G3} at x={at}");

        worst = 0;
        int w = Vector<float>.Count;
        for (int k = 0; k + w <= xs.Length; k += w)
        {
            var r = Gelu.Erf(new Vector<float>(xs, k));
            for (int l = 0; l < w; l++)
            {
                double err = Math.Abs(r[l] - ErfReference(xs[k + l]));
                if (err > worst) { worst = err; at = xs[k + l]; }
            }
        }
        Assert.True(worst <= 2e-7, $"vector Erf worst error {worst:G3} at x={at}");
    }

    [Fact]
    public void Erf_HandlesExtremes()
    {
        Assert.Equal(1f, Gelu.Erf(100f));
        Assert.Equal(-1f, Gelu.Erf(-100f));
        Assert.Equal(1f, Gelu.Erf(float.PositiveInfinity));
        Assert.Equal(-1f, Gelu.Erf(float.NegativeInfinity));
        Assert.Equal(0f, Gelu.Erf(0f));
        Assert.True(float.IsNaN(Gelu.Erf(float.NaN)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(37)]
    [InlineData(197)]
    [InlineData(1000)]
    [InlineData(70001)]
    public void Forward_MatchesReference(int n)
    {
        var x = Rng.Floats(n, 1, 6f);
        var y = new float[n];
        Gelu.Forward(y, x, n);
        Approx.Equal(Reference(Rng.ToDouble(x)), y, 3e-7, 2e-6, "gelu y");
    }

    /// <summary>
    /// Every 2⁻¹² from −8 to 8, so each of the 16 polynomial pieces per sign, their joins, and the tails past |x| = 4√2
    /// (where erfc is taken as 0) are all visited: y within 1e-7 + 1e-6·|y| of double precision, and x·Φ'(x) + Φ(x) the
    /// same in backward. The far negative tail is held to the same absolute bound although y is tiny there.
    /// </summary>
    [Fact]
    public void ForwardAndBackward_AreWithin1e7OfDouble_OnADenseGridFromMinus8To8()
    {
        int n = 16 * 4096 + 1;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -8f + i / 4096f;
        var y = new float[n];
        Gelu.Forward(y, x, n);
        Approx.Equal(Reference(Rng.ToDouble(x)), y, 1e-7, 1e-6, "gelu y on the grid");

        var ones = new float[n];
        Array.Fill(ones, 1f);
        var dx = new float[n];
        Gelu.Backward(dx, ones, x, n);
        var slope = new double[n];
        for (int i = 0; i < n; i++)
        {
            double v = x[i];
            slope[i] = 0.5 * (1 + ErfReference(v / Math.Sqrt(2))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI);
        }
        Approx.Equal(slope, dx, 2e-7, 1e-6, "gelu slope on the grid");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(197)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int n)
    {
        var x = Rng.Floats(n, 2, 4f);
        var r = Rng.Floats(n, 3);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd), xd, Rng.ToDouble(r));
        var dx = new float[n];
        Array.Fill(dx, 0.25f);
        Gelu.Backward(dx, r, x, n);
        for (int i = 0; i < n; i++) expected[i] += 0.25;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "gelu dx");
    }

    [Fact]
    public void Backward_LargeMatchesAnalyticDerivative()
    {
        int n = 70001;
        var x = Rng.Floats(n, 4, 6f);
        var r = Rng.Floats(n, 5);
        var dx = new float[n];
        Gelu.Backward(dx, r, x, n);
        var expected = new double[n];
        for (int i = 0; i < n; i++)
        {
            double v = x[i];
            expected[i] = r[i] * (0.5 * (1 + ErfReference(v / Math.Sqrt(2))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI));
        }
        Approx.Equal(expected, dx, 1e-6, 1e-5, "gelu dx");
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, int n) => Gelu.ForwardKernel(i, y, x, n);

    static void BackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int n) => Gelu.BackwardKernel(i, dx, dy, x, n);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = 1003;
        var x = Rng.Floats(n, 6, 6f);
        var r = Rng.Floats(n, 7);
        var y = new float[n];
        Gelu.Forward(y, x, n);
        var dx = new float[n];
        Array.Fill(dx, 0.5f);
        Gelu.Backward(dx, r, x, n);

        KernelHarness.CheckActivation("gelu", ForwardK, BackwardK, x, r, x, y, dx, 1e-7, 1e-6);
    }
}
