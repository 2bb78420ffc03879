using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class ReluTests
{
    static double[] Reference(double[] x)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = Math.Max(x[i], 0);
        return y;
    }

    /// <summary>Random values kept away from the kink at 0, where finite differences are meaningless.</summary>
    static float[] Inputs(int n, int seed)
    {
        var x = Rng.Floats(n, seed);
        for (int i = 0; i < n; i++) if (MathF.Abs(x[i]) < 1e-3f) x[i] = x[i] < 0 ? -0.01f : 0.01f;
        return x;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(197)]
    [InlineData(1000)]
    [InlineData(100003)]
    public void Forward_MatchesReference(int n)
    {
        var x = Inputs(n, 1);
        var y = new float[n];
        Relu.Forward(y, x, n);
        Approx.Equal(Reference(Rng.ToDouble(x)), y, 0, 0, "relu y");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(197)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int n)
    {
        var x = Inputs(n, 2);
        var r = Rng.Floats(n, 3);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd), xd, Rng.ToDouble(r));
        var dx = new float[n];
        Array.Fill(dx, 0.75f);
        Relu.Backward(dx, r, x, n);
        for (int i = 0; i < n; i++) expected[i] += 0.75;
        Approx.Equal(expected, dx, 1e-6, 1e-6, "relu dx");
    }

    [Fact]
    public void Backward_Large()
    {
        int n = 100003;
        var x = Inputs(n, 4);
        var r = Rng.Floats(n, 5);
        var dx = new float[n];
        Array.Fill(dx, 1f);
        Relu.Backward(dx, r, x, n);
        for (int i = 0; i < n; i++) Assert.Equal(x[i] > 0 ? 1f + r[i] : 1f, dx[i]);
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, int n) => Relu.ForwardKernel(i, y, x, n);

    static void BackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int n) => Relu.BackwardKernel(i, dx, dy, x, n);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = 1003;
        var x = Inputs(n, 6);
        var r = Rng.Floats(n, 7);
        var y = new float[n];
        Relu.Forward(y, x, n);
        var dx = new float[n];
        Array.Fill(dx, 0.5f);
        Relu.Backward(dx, r, x, n);

        KernelHarness.CheckActivation("relu", ForwardK, BackwardK, x, r, x, y, dx, 0, 0); // exact
    }
}
