using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class SplitTests
{
    /// <summary>y1 and y2 concatenated into one output [y1 | y2] (so one upstream weights both).</summary>
    static double[] Reference(double[] x, int outer, int a, int b, int inner)
    {
        var y = new double[outer * (a + b) * inner];
        int la = a * inner;
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < a + b; k++)
                for (int t = 0; t < inner; t++)
                {
                    double v = x[(o * (a + b) + k) * inner + t];
                    if (k < a) y[(o * a + k) * inner + t] = v;
                    else y[outer * la + (o * b + (k - a)) * inner + t] = v;
                }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(3, 2, 5, 7)]
    [InlineData(5, 7, 3, 1)]
    [InlineData(1, 4, 9, 3)]
    [InlineData(2, 0, 3, 4)]
    [InlineData(7, 97, 31, 61)]
    public void Forward_MatchesReference(int outer, int a, int b, int inner)
    {
        var x = Rng.Floats(outer * (a + b) * inner, 1);
        var y1 = new float[outer * a * inner];
        var y2 = new float[outer * b * inner];
        Array.Fill(y1, 9f);
        Array.Fill(y2, 9f);
        Split.Forward(y1, y2, x, outer, a, b, inner);
        var e = Reference(Rng.ToDouble(x), outer, a, b, inner);
        Approx.Equal(e.AsSpan(0, y1.Length), y1, 0, 0, "split y1");
        Approx.Equal(e.AsSpan(y1.Length), y2, 0, 0, "split y2");
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(3, 2, 5, 7)]
    [InlineData(5, 7, 3, 1)]
    [InlineData(2, 3, 0, 2)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int outer, int a, int b, int inner)
    {
        int n = outer * (a + b) * inner, n1 = outer * a * inner, n2 = outer * b * inner;
        var x = Rng.Floats(n, 2);
        var r1 = Rng.Floats(n1, 3);
        var r2 = Rng.Floats(n2, 4);
        var r = new double[n1 + n2];
        Rng.ToDouble(r1).CopyTo(r, 0);
        Rng.ToDouble(r2).CopyTo(r, n1);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, outer, a, b, inner), xd, r);
        var dx = new float[n];
        Array.Fill(dx, 0.75f);
        Split.Backward(dx, r1, r2, outer, a, b, inner);
        for (int i = 0; i < n; i++) expected[i] += 0.75;
        Approx.Equal(expected, dx, 1e-6, 1e-6, "split dx");
    }

    [Fact]
    public void Large_RoundTripsAndAccumulates()
    {
        int outer = 9, a = 130, b = 61, inner = 33;
        int n = outer * (a + b) * inner;
        var x = Rng.Floats(n, 5);
        var y1 = new float[outer * a * inner];
        var y2 = new float[outer * b * inner];
        Split.Forward(y1, y2, x, outer, a, b, inner);
        var dx = new float[n];
        Array.Fill(dx, 1f);
        Split.Backward(dx, y1, y2, outer, a, b, inner);
        for (int i = 0; i < n; i++) Assert.Equal(1f + x[i], dx[i]);
    }

    static void ForwardK(Index1D i, ArrayView<float> y1, ArrayView<float> y2, ArrayView<float> x, int outer, int a, int b, int inner) =>
        Split.ForwardKernel(i, y1, y2, x, outer, a, b, inner);

    static void BackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy1, ArrayView<float> dy2, int outer, int a, int b, int inner) =>
        Split.BackwardKernel(i, dx, dy1, dy2, outer, a, b, inner);

    [Theory]
    [InlineData(3, 5, 7, 11)]
    [InlineData(4, 1, 13, 1)]
    public void Kernels_MatchCpu(int outer, int a, int b, int inner)
    {
        int n = outer * (a + b) * inner, n1 = outer * a * inner, n2 = outer * b * inner;
        var x = Rng.Floats(n, 6);
        var r1 = Rng.Floats(n1, 7);
        var r2 = Rng.Floats(n2, 8);
        var y1 = new float[n1];
        var y2 = new float[n2];
        Split.Forward(y1, y2, x, outer, a, b, inner);
        var dx = new float[n];
        Array.Fill(dx, 0.5f);
        Split.Backward(dx, r1, r2, outer, a, b, inner);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(ForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(BackwardK);
        using var xb = h.Upload(x);
        using var r1b = h.Upload(r1);
        using var r2b = h.Upload(r2);
        using var y1b = h.Zeros(n1);
        using var y2b = h.Zeros(n2);
        using var dxb = h.Filled(n, 0.5f);
        fwd(n, y1b.View, y2b.View, xb.View, outer, a, b, inner);
        bwd(n, dxb.View, r1b.View, r2b.View, outer, a, b, inner);
        h.Accelerator.Synchronize();
        Assert.Equal(y1, KernelHarness.Download(y1b));
        Assert.Equal(y2, KernelHarness.Download(y2b));
        Assert.Equal(dx, KernelHarness.Download(dxb));
    }
}
