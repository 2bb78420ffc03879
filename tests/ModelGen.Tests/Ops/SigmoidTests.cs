using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class SigmoidTests
{
    static double[] Reference(double[] x)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = 1 / (1 + Math.Exp(-x[i]));
        return y;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(197)]
    [InlineData(100003)]
    public void Forward_MatchesReference(int n)
    {
        var x = Rng.Floats(n, 1, 8f);
        var y = Rng.Floats(n, 2, 100f);
        Sigmoid.Forward(y, x, n);
        Approx.Equal(Reference(Rng.ToDouble(x)), y, 1e-7, 1e-6, "sigmoid y");
    }

    [Fact]
    public void Forward_SaturatesWithoutNaN()
    {
        var x = new[] { -1000f, -88f, -20f, 0f, 20f, 88f, 1000f, float.NegativeInfinity, float.PositiveInfinity };
        var y = new float[x.Length];
        Sigmoid.Forward(y, x, x.Length);
        Approx.Equal(Reference(Rng.ToDouble(x)), y, 1e-7, 1e-6, "sigmoid extremes");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(197)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int n)
    {
        var x = Rng.Floats(n, 3, 4f);
        var r = Rng.Floats(n, 4);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd), xd, Rng.ToDouble(r));
        var y = new float[n];
        Sigmoid.Forward(y, x, n);
        var dx = new float[n];
        Array.Fill(dx, 0.75f);
        Sigmoid.Backward(dx, r, y, n);
        for (int i = 0; i < n; i++) expected[i] += 0.75;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "sigmoid dx");
    }

    [Fact]
    public void Backward_LargeParallel()
    {
        int n = 100003;
        var y = Rng.Floats(n, 5);
        for (int i = 0; i < n; i++) y[i] = 0.5f + 0.5f * y[i];
        var r = Rng.Floats(n, 6);
        var dx = new float[n];
        Array.Fill(dx, 1f);
        Sigmoid.Backward(dx, r, y, n);
        var expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = 1 + (double)r[i] * y[i] * (1 - (double)y[i]);
        Approx.Equal(expected, dx, 1e-6, 1e-6, "sigmoid dx");
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, int n) => Sigmoid.ForwardKernel(i, y, x, n);

    static void BackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int n) => Sigmoid.BackwardKernel(i, dx, dy, y, n);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = 1003;
        var x = Rng.Floats(n, 7, 10f);
        var r = Rng.Floats(n, 8);
        var y = new float[n];
        Sigmoid.Forward(y, x, n);
        var dx = new float[n];
        Array.Fill(dx, 0.5f);
        Sigmoid.Backward(dx, r, y, n);

        // Backward from the CPU's saved output, so only the backward formula is compared.
        KernelHarness.CheckActivation("sigmoid", ForwardK, BackwardK, x, r, y, y, dx, 1e-7, 1e-6);
    }
}
