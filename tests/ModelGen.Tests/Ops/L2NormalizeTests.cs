using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class L2NormalizeTests
{
    const float Eps = 1e-12f;

    static double[] Reference(double[] x, int rows, int dim)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int j = 0; j < dim; j++) s += x[r * dim + j] * x[r * dim + j];
            double norm = Math.Max(Math.Sqrt(s), Eps);
            for (int j = 0; j < dim; j++) y[r * dim + j] = x[r * dim + j] / norm;
        }
        return y;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 16)]
    [InlineData(64, 33)]
    public void Forward_GivesUnitRows(int rows, int dim)
    {
        var x = Rng.Floats(rows * dim, 1);
        var y = new float[x.Length];
        L2Normalize.Forward(y, x, rows, dim, Eps);
        Approx.Equal(Reference(Rng.ToDouble(x), rows, dim), y, 1e-6, 1e-5, "y");
    }

    [Theory]
    [InlineData(3, 5)]
    [InlineData(6, 17)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int rows, int dim)
    {
        var x = Rng.Floats(rows * dim, 2);
        var r = Rng.Floats(rows * dim, 3);
        var y = new float[x.Length];
        L2Normalize.Forward(y, x, rows, dim, Eps);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, rows, dim), xd, Rng.ToDouble(r));
        var dx = new float[x.Length];
        Array.Fill(dx, 0.25f);
        L2Normalize.Backward(dx, r, x, y, rows, dim, Eps);
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.25;
        Approx.Equal(expected, dx, 1e-5, 1e-4, "dx");
    }

    /// <summary>A warp per row on the GPU-shaped simulator, rows narrower and wider than the warp, one of them all zeros (the eps branch).</summary>
    [Theory]
    [InlineData(9, 13)]
    [InlineData(5, 70)]
    public void Kernels_MatchCpu(int rows, int dim)
    {
        var x = Rng.Floats(rows * dim, 4);
        Array.Clear(x, dim, dim);
        var r = Rng.Floats(rows * dim, 5);
        var y = new float[x.Length];
        var dx = new float[x.Length];
        L2Normalize.Forward(y, x, rows, dim, Eps);
        L2Normalize.Backward(dx, r, x, y, rows, dim, Eps);
        using var h = new KernelHarness();
        var f = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float>(L2Normalize.ForwardKernel);
        var b = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(L2Normalize.BackwardKernel);
        using var xb = h.Upload(x);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(x.Length);
        using var dxb = h.Zeros(x.Length);
        f(L2Normalize.ForwardKernelConfig(rows), yb.View, xb.View, rows, dim, Eps);
        b(L2Normalize.BackwardKernelConfig(rows), dxb.View, rb.View, xb.View, yb.View, rows, dim, Eps);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(yb), 1e-6, 1e-5, "y");
        Approx.Equal(dx, KernelHarness.Download(dxb), 1e-5, 1e-4, "dx");
    }
}
