using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class SoftmaxTests
{
    static double[] Reference(double[] x, int rows, int n)
    {
        var y = new double[rows * n];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < n; j++) max = Math.Max(max, x[r * n + j]);
            double sum = 0;
            for (int j = 0; j < n; j++) sum += Math.Exp(x[r * n + j] - max);
            for (int j = 0; j < n; j++) y[r * n + j] = Math.Exp(x[r * n + j] - max) / sum;
        }
        return y;
    }

    /// <summary>Values with a per-row offset, so a softmax that forgets the max would overflow in some rows.</summary>
    static float[] Inputs(int rows, int n, int seed)
    {
        var x = Rng.Floats(rows * n, seed, 4f);
        for (int r = 0; r < rows; r++) for (int j = 0; j < n; j++) x[r * n + j] += (r % 3 - 1) * 100f;
        return x;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(5, 197)]
    [InlineData(64, 1000)]
    [InlineData(1000, 19)]
    [InlineData(2, 4096)]
    public void Forward_MatchesReference(int rows, int n)
    {
        var x = Inputs(rows, n, 1);
        var y = Rng.Floats(rows * n, 2, 100f);
        Softmax.Forward(y, x, rows, n);
        Approx.Equal(Reference(Rng.ToDouble(x), rows, n), y, 1e-7, 1e-5, "softmax y");
    }

    [Fact]
    public void Forward_NegativeInfinityGetsZero()
    {
        var x = new[] { 1f, float.NegativeInfinity, 2f, float.NegativeInfinity, 500f, -500f };
        var y = new float[6];
        Softmax.Forward(y, x, 2, 3);
        Approx.Equal(new[] { 1 / (1 + Math.E), 0, Math.E / (1 + Math.E), 0, 1, 0 }, y, 1e-7, 1e-6, "softmax with -inf");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(2, 33)]
    [InlineData(4, 5)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int rows, int n)
    {
        var x = Inputs(rows, n, 3);
        var r = Rng.Floats(rows * n, 4);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, rows, n), xd, Rng.ToDouble(r));
        var y = new float[rows * n];
        Softmax.Forward(y, x, rows, n);
        var dx = new float[rows * n];
        Array.Fill(dx, 0.25f);
        Softmax.Backward(dx, r, y, rows, n);
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.25;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "softmax dx");
    }

    [Theory]
    [InlineData(64, 1000)]
    [InlineData(3000, 17)]
    public void Backward_LargeParallel_MatchesAnalyticReference(int rows, int n)
    {
        var x = Inputs(rows, n, 5);
        var r = Rng.Floats(rows * n, 6);
        var y = new float[rows * n];
        Softmax.Forward(y, x, rows, n);
        var dx = new float[rows * n];
        Array.Fill(dx, -1f);
        Softmax.Backward(dx, r, y, rows, n);
        var yd = Reference(Rng.ToDouble(x), rows, n);
        var expected = new double[rows * n];
        for (int row = 0; row < rows; row++)
        {
            double dot = 0;
            for (int j = 0; j < n; j++) dot += r[row * n + j] * yd[row * n + j];
            for (int j = 0; j < n; j++) expected[row * n + j] = -1 + yd[row * n + j] * (r[row * n + j] - dot);
        }
        Approx.Equal(expected, dx, 1e-6, 1e-5, "softmax dx");
    }

    static void ForwardK(ArrayView<float> y, ArrayView<float> x, int rows, int n) => Softmax.ForwardKernel(y, x, rows, n);

    static void BackwardK(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int rows, int n) =>
        Softmax.BackwardKernel(dx, dy, y, rows, n);

    /// <summary>A warp per row on the GPU-shaped simulator: rows that do not fill a group of eight, widths below and across 32.</summary>
    [Theory]
    [InlineData(11, 45)]
    [InlineData(7, 13)]
    [InlineData(3, 197)]
    [InlineData(1, 1)]
    public void Kernels_MatchCpu(int rows, int n)
    {
        var x = Inputs(rows, n, 7);
        var r = Rng.Floats(rows * n, 8);
        var y = new float[rows * n];
        Softmax.Forward(y, x, rows, n);
        var dx = new float[rows * n];
        Array.Fill(dx, 0.5f);
        Softmax.Backward(dx, r, y, rows, n);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(ForwardK);
        var bwd = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(BackwardK);
        using var xb = h.Upload(x);
        using var rb = h.Upload(r);
        using var yb = h.Upload(Rng.Floats(rows * n, 9, 50f));
        using var dxb = h.Filled(rows * n, 0.5f);
        using var ysaved = h.Upload(y);
        fwd(Softmax.ForwardKernelConfig(rows), yb.View, xb.View, rows, n);
        bwd(Softmax.BackwardKernelConfig(rows), dxb.View, rb.View, ysaved.View, rows, n);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(yb), 1e-7, 1e-5, "softmax kernel y");
        Approx.Equal(dx, KernelHarness.Download(dxb), 1e-6, 1e-5, "softmax kernel dx");
    }
}
