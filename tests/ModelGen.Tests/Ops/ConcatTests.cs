using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class ConcatTests
{
    static double[] Reference(double[] x1, double[] x2, int outer, int a, int b, int inner)
    {
        var y = new double[outer * (a + b) * inner];
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < a + b; j++)
                for (int k = 0; k < inner; k++)
                    y[(o * (a + b) + j) * inner + k] = j < a ? x1[(o * a + j) * inner + k] : x2[(o * b + j - a) * inner + k];
        return y;
    }

    static double[] Shift(double[] a, double v)
    {
        var s = new double[a.Length];
        for (int i = 0; i < a.Length; i++) s[i] = a[i] + v;
        return s;
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 1, 1, 49)]     // CBAM: [avg; max] channel maps of 7×7
    [InlineData(3, 5, 7, 1)]      // last axis
    [InlineData(1, 3, 4, 6)]      // first axis (outer 1)
    [InlineData(4, 64, 64, 33)]   // coordinate attention: [pool_h; pool_w] along H
    [InlineData(2, 256, 128, 197)]
    [InlineData(5000, 3, 2, 1)]   // many small rows
    public void Forward_MatchesReference(int outer, int a, int b, int inner)
    {
        var x1 = Rng.Floats(outer * a * inner, 1);
        var x2 = Rng.Floats(outer * b * inner, 2);
        var y = Rng.Floats(outer * (a + b) * inner, 3, 100f);
        Concat.Forward(y, x1, x2, outer, a, b, inner);
        Approx.Equal(Reference(Rng.ToDouble(x1), Rng.ToDouble(x2), outer, a, b, inner), y, 0, 0, "y");
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 1, 2, 5)]
    [InlineData(3, 4, 1, 2)]
    [InlineData(2, 3, 2, 1)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int outer, int a, int b, int inner)
    {
        var x1 = Rng.Floats(outer * a * inner, 4);
        var x2 = Rng.Floats(outer * b * inner, 5);
        var r = Rng.Floats(outer * (a + b) * inner, 6);
        double[] d1 = Rng.ToDouble(x1), d2 = Rng.ToDouble(x2), rd = Rng.ToDouble(r);
        var e1 = FiniteDifference.Gradient(() => Reference(d1, d2, outer, a, b, inner), d1, rd);
        var e2 = FiniteDifference.Gradient(() => Reference(d1, d2, outer, a, b, inner), d2, rd);
        var dx1 = Filled(x1.Length, 0.5f);
        var dx2 = Filled(x2.Length, -2f);
        Concat.Backward(dx1, dx2, r, outer, a, b, inner);
        Approx.Equal(Shift(e1, 0.5), dx1, 1e-6, 1e-6, "dx1");
        Approx.Equal(Shift(e2, -2), dx2, 1e-6, 1e-6, "dx2");
    }

    [Theory]
    [InlineData(2, 256, 128, 197)]
    [InlineData(5000, 3, 2, 1)]
    public void Backward_LargeParallel_Splits(int outer, int a, int b, int inner)
    {
        var r = Rng.Floats(outer * (a + b) * inner, 7);
        var dx1 = Filled(outer * a * inner, 1f);
        var dx2 = Filled(outer * b * inner, 1f);
        Concat.Backward(dx1, dx2, r, outer, a, b, inner);
        var y = new float[r.Length];
        // Concatenating the gradients back must give 1 + r exactly.
        Concat.Forward(y, dx1, dx2, outer, a, b, inner);
        for (int i = 0; i < r.Length; i++) Assert.Equal(1f + r[i], y[i]);
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x1, ArrayView<float> x2, int outer, int a, int b, int inner) =>
        Concat.ForwardKernel(i, y, x1, x2, outer, a, b, inner);

    static void BackwardK(Index1D i, ArrayView<float> dx1, ArrayView<float> dx2, ArrayView<float> dy, int outer, int a, int b, int inner) =>
        Concat.BackwardKernel(i, dx1, dx2, dy, outer, a, b, inner);

    [Theory]
    [InlineData(2, 1, 1, 49)]
    [InlineData(3, 5, 7, 1)]
    [InlineData(1, 3, 4, 6)]
    public void Kernels_MatchCpu(int outer, int a, int b, int inner)
    {
        int n1 = outer * a * inner, n2 = outer * b * inner, n = n1 + n2;
        var x1 = Rng.Floats(n1, 8);
        var x2 = Rng.Floats(n2, 9);
        var r = Rng.Floats(n, 10);
        var y = new float[n];
        Concat.Forward(y, x1, x2, outer, a, b, inner);
        var dx1 = Filled(n1, 0.5f);
        var dx2 = Filled(n2, -0.5f);
        Concat.Backward(dx1, dx2, r, outer, a, b, inner);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(ForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(BackwardK);
        using var x1b = h.Upload(x1);
        using var x2b = h.Upload(x2);
        using var rb = h.Upload(r);
        using var yb = h.Upload(Rng.Floats(n, 11, 50f));
        using var dx1b = h.Upload(Filled(n1, 0.5f));
        using var dx2b = h.Upload(Filled(n2, -0.5f));
        fwd(n, yb.View, x1b.View, x2b.View, outer, a, b, inner);
        bwd(n, dx1b.View, dx2b.View, rb.View, outer, a, b, inner);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(yb));
        Assert.Equal(dx1, KernelHarness.Download(dx1b));
        Assert.Equal(dx2, KernelHarness.Download(dx2b));
    }
}
