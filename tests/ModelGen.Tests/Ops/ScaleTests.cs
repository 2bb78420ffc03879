using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class ScaleTests
{
    static double[] Reference(double[] x, double alpha)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = alpha * x[i];
        return y;
    }

    [Theory]
    [InlineData(1, 0.125f)]
    [InlineData(37, -3f)]
    [InlineData(197, 0.17677669f)]
    [InlineData(1000, 0f)]
    [InlineData(100003, 2.5f)]
    public void Forward_MatchesReference(int n, float alpha)
    {
        var x = Rng.Floats(n, 1);
        var y = new float[n];
        Array.Fill(y, 9f);
        Scale.Forward(y, x, n, alpha);
        Approx.Equal(Reference(Rng.ToDouble(x), alpha), y, 1e-7, 1e-7, "scale y");
    }

    [Theory]
    [InlineData(1, 0.125f)]
    [InlineData(37, -3f)]
    [InlineData(197, 0.17677669f)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int n, float alpha)
    {
        var x = Rng.Floats(n, 2);
        var r = Rng.Floats(n, 3);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, alpha), xd, Rng.ToDouble(r));
        var dx = new float[n];
        Array.Fill(dx, 0.75f);
        Scale.Backward(dx, r, n, alpha);
        for (int i = 0; i < n; i++) expected[i] += 0.75;
        Approx.Equal(expected, dx, 1e-6, 1e-6, "scale dx");
    }

    [Fact]
    public void Backward_Large()
    {
        int n = 100003;
        float alpha = -1.5f;
        var r = Rng.Floats(n, 4);
        var dx = new float[n];
        Array.Fill(dx, 1f);
        Scale.Backward(dx, r, n, alpha);
        var expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = 1.0 + alpha * (double)r[i];
        Approx.Equal(expected, dx, 1e-6, 1e-6, "scale dx large");
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, int n, float alpha) => Scale.ForwardKernel(i, y, x, n, alpha);

    static void BackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int n, float alpha) => Scale.BackwardKernel(i, dx, dy, n, alpha);

    [Theory]
    [InlineData(1003, 0.35355338f)]
    [InlineData(17, -2f)]
    public void Kernels_MatchCpu(int n, float alpha)
    {
        var x = Rng.Floats(n, 5);
        var r = Rng.Floats(n, 6);
        var y = new float[n];
        Scale.Forward(y, x, n, alpha);
        var dx = new float[n];
        Array.Fill(dx, 0.5f);
        Scale.Backward(dx, r, n, alpha);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float>(ForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float>(BackwardK);
        using var xb = h.Upload(x);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(n);
        using var dxb = h.Filled(n, 0.5f);
        fwd(n, yb.View, xb.View, n, alpha);
        bwd(n, dxb.View, rb.View, n, alpha);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(yb));
        Approx.Equal(dx, KernelHarness.Download(dxb), 1e-7, 1e-7, "scale kernel dx");
    }
}
