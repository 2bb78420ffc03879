using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class Pool2dTests
{
    /// <summary>Sizes as one kernel argument (plain ints, so ILGPU can pass it by value).</summary>
    public readonly record struct Shape(int B, int C, int H, int W, int K, int S)
    {
        public int Ho => (H - K) / S + 1;
        public int Wo => (W - K) / S + 1;
        public int XSize => B * C * H * W;
        public int YSize => B * C * Ho * Wo;
    }

    static double[] Reference(double[] x, Shape s, bool max)
    {
        var y = new double[s.YSize];
        for (int p = 0; p < s.B * s.C; p++)
            for (int oy = 0; oy < s.Ho; oy++)
                for (int ox = 0; ox < s.Wo; ox++)
                {
                    double acc = max ? double.NegativeInfinity : 0;
                    for (int ky = 0; ky < s.K; ky++)
                        for (int kx = 0; kx < s.K; kx++)
                        {
                            double v = x[(p * s.H + oy * s.S + ky) * s.W + ox * s.S + kx];
                            acc = max ? Math.Max(acc, v) : acc + v;
                        }
                    y[(p * s.Ho + oy) * s.Wo + ox] = max ? acc : acc / (s.K * s.K);
                }
        return y;
    }

    static void Forward(float[] y, float[] x, Shape s, bool max)
    {
        if (max) Pool2d.MaxForward(y, x, s.B, s.C, s.H, s.W, s.K, s.S);
        else Pool2d.AvgForward(y, x, s.B, s.C, s.H, s.W, s.K, s.S);
    }

    static void Backward(float[] dx, float[] dy, float[] x, Shape s, bool max)
    {
        if (max) Pool2d.MaxBackward(dx, dy, x, s.B, s.C, s.H, s.W, s.K, s.S);
        else Pool2d.AvgBackward(dx, dy, s.B, s.C, s.H, s.W, s.K, s.S);
    }

    [Theory]
    [InlineData(1, 1, 2, 2, 2, 2, true)]
    [InlineData(2, 3, 8, 6, 2, 2, true)]
    [InlineData(2, 3, 8, 6, 2, 2, false)]
    [InlineData(2, 3, 9, 7, 3, 2, true)]    // overlapping windows, odd sizes (floor mode drops the last column)
    [InlineData(2, 3, 9, 7, 3, 2, false)]
    [InlineData(1, 2, 10, 11, 2, 3, true)]  // stride beyond the kernel: untouched pixels
    [InlineData(1, 2, 10, 11, 2, 3, false)]
    [InlineData(3, 2, 5, 5, 5, 1, true)]    // the window is the whole image
    [InlineData(3, 2, 7, 9, 3, 1, false)]
    [InlineData(8, 64, 56, 56, 3, 2, true)] // big enough to run in parallel
    [InlineData(8, 64, 56, 56, 2, 2, false)]
    public void Forward_MatchesReference(int b, int c, int h, int w, int k, int stride, bool max)
    {
        var s = new Shape(b, c, h, w, k, stride);
        var x = Rng.Floats(s.XSize, 1);
        var y = Rng.Floats(s.YSize, 2, 100f);
        Forward(y, x, s, max);
        Approx.Equal(Reference(Rng.ToDouble(x), s, max), y, max ? 0 : 1e-6, max ? 0 : 1e-6, max ? "maxpool y" : "avgpool y");
    }

    [Theory]
    [InlineData(2, 2, 6, 5, 2, 2, true)]
    [InlineData(2, 2, 6, 5, 2, 2, false)]
    [InlineData(1, 2, 7, 7, 3, 2, true)]
    [InlineData(1, 2, 7, 7, 3, 2, false)]
    [InlineData(2, 1, 7, 8, 2, 3, true)]
    [InlineData(2, 1, 7, 8, 2, 3, false)]
    [InlineData(1, 3, 5, 4, 3, 1, true)]
    [InlineData(1, 3, 5, 4, 3, 1, false)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int b, int c, int h, int w, int k, int stride, bool max)
    {
        var s = new Shape(b, c, h, w, k, stride);
        var x = Rng.Floats(s.XSize, 3);
        var dy = Rng.Floats(s.YSize, 4);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, s, max), xd, Rng.ToDouble(dy));
        var dx = Filled(s.XSize, 0.5f);
        Backward(dx, dy, x, s, max);
        Approx.Equal(Array.ConvertAll(expected, e => e + 0.5), dx, 1e-6, 1e-5, max ? "maxpool dx" : "avgpool dx");
    }

    [Fact]
    public void MaxBackward_GivesATieToTheFirstMaximumInWindowOrder_AndNaNPropagates()
    {
        // One 4x4 plane, 2x2 windows, stride 2. Window 0 ties at (0,1) and (1,0); window 1 ties everywhere; window 3 holds a NaN.
        float nan = float.NaN;
        float[] x =
        {
            1, 5, 7, 7,
            5, 2, 7, 7,
            0, 0, 3, nan,
            0, 1, 9, 4,
        };
        var y = new float[4];
        Pool2d.MaxForward(y, x, 1, 1, 4, 4, 2, 2);
        Assert.Equal(new[] { 5f, 7f, 1f, nan }, y);
        var dx = new float[16];
        Pool2d.MaxBackward(dx, new[] { 10f, 20f, 30f, 40f }, x, 1, 1, 4, 4, 2, 2);
        float[] expected =
        {
            0, 10, 20, 0,
            0, 0, 0, 0,
            0, 0, 0, 40,
            0, 30, 0, 0,
        };
        Assert.Equal(expected, dx);
    }

    [Theory]
    [InlineData(8, 64, 56, 56, 3, 2)]
    [InlineData(4, 16, 33, 31, 2, 2)]
    public void Backward_Large_MatchesDirectRouting(int b, int c, int h, int w, int k, int stride)
    {
        var s = new Shape(b, c, h, w, k, stride);
        var x = Rng.Floats(s.XSize, 5);
        var dy = Rng.Floats(s.YSize, 6);
        // Straightforward routing in double: each output's dy to its window's first maximum, and dy/K² to each of its values.
        var emax = new double[s.XSize];
        var eavg = new double[s.XSize];
        for (int p = 0; p < b * c; p++)
            for (int oy = 0; oy < s.Ho; oy++)
                for (int ox = 0; ox < s.Wo; ox++)
                {
                    double g = dy[(p * s.Ho + oy) * s.Wo + ox];
                    int best = -1;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                        {
                            int j = (p * h + oy * stride + ky) * w + ox * stride + kx;
                            if (best < 0 || x[j] > x[best]) best = j;
                            eavg[j] += g / (k * k);
                        }
                    emax[best] += g;
                }
        var dmax = Filled(s.XSize, 0.25f);
        var davg = Filled(s.XSize, 0.25f);
        Backward(dmax, dy, x, s, true);
        Backward(davg, dy, x, s, false);
        Approx.Equal(Array.ConvertAll(emax, e => e + 0.25), dmax, 1e-6, 1e-6, "maxpool dx");
        Approx.Equal(Array.ConvertAll(eavg, e => e + 0.25), davg, 1e-6, 1e-6, "avgpool dx");
    }

    static void AvgForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, Shape s) => Pool2d.AvgForwardKernel(i, y, x, s.B, s.C, s.H, s.W, s.K, s.S);

    static void AvgBackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, Shape s) => Pool2d.AvgBackwardKernel(i, dx, dy, s.B, s.C, s.H, s.W, s.K, s.S);

    static void MaxForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, Shape s) => Pool2d.MaxForwardKernel(i, y, x, s.B, s.C, s.H, s.W, s.K, s.S);

    static void MaxBackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, Shape s) =>
        Pool2d.MaxBackwardKernel(i, dx, dy, x, s.B, s.C, s.H, s.W, s.K, s.S);

    [Theory]
    [InlineData(2, 3, 9, 7, 3, 2)]
    [InlineData(2, 2, 8, 6, 2, 2)]
    [InlineData(1, 2, 10, 11, 2, 3)]
    [InlineData(2, 1, 5, 6, 3, 1)]
    public void Kernels_MatchCpu(int b, int c, int h, int w, int k, int stride)
    {
        var s = new Shape(b, c, h, w, k, stride);
        var x = Rng.Floats(s.XSize, 7);
        // Ties inside windows: the kernels must pick the same maximum as the CPU.
        for (int i = 0; i < x.Length; i += 5) x[i] = 0.5f;
        var dy = Rng.Floats(s.YSize, 8);
        var yAvg = new float[s.YSize];
        var yMax = new float[s.YSize];
        Forward(yAvg, x, s, false);
        Forward(yMax, x, s, true);
        var dxAvg = Filled(s.XSize, 0.5f);
        var dxMax = Filled(s.XSize, 0.5f);
        Backward(dxAvg, dy, x, s, false);
        Backward(dxMax, dy, x, s, true);

        using var hr = new KernelHarness();
        var acc = hr.Accelerator;
        using var gx = hr.Upload(x);
        using var gdy = hr.Upload(dy);
        using var gyAvg = hr.Zeros(s.YSize);
        using var gyMax = hr.Zeros(s.YSize);
        using var gdxAvg = hr.Upload(Filled(s.XSize, 0.5f));
        using var gdxMax = hr.Upload(Filled(s.XSize, 0.5f));
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, Shape>(AvgForwardK)(s.YSize + 3, gyAvg.View, gx.View, s);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, Shape>(MaxForwardK)(s.YSize + 3, gyMax.View, gx.View, s);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, Shape>(AvgBackwardK)(s.XSize + 3, gdxAvg.View, gdy.View, s);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(MaxBackwardK)(s.XSize + 3, gdxMax.View, gdy.View, gx.View, s);
        acc.Synchronize();
        Approx.Equal(yAvg, KernelHarness.Download(gyAvg), 1e-6, 1e-6, "avgpool kernel y");
        Approx.Equal(yMax, KernelHarness.Download(gyMax), 0, 0, "maxpool kernel y");
        Approx.Equal(dxAvg, KernelHarness.Download(gdxAvg), 1e-6, 1e-6, "avgpool kernel dx");
        Approx.Equal(dxMax, KernelHarness.Download(gdxMax), 1e-6, 1e-6, "maxpool kernel dx");
    }

    [SkippableTheory]
    [InlineData(2, 3, 9, 7, 3, 2, true)]
    [InlineData(2, 3, 8, 8, 2, 2, true)]
    [InlineData(1, 4, 10, 11, 2, 3, true)]
    [InlineData(2, 3, 9, 7, 3, 2, false)]
    [InlineData(2, 3, 8, 8, 2, 2, false)]
    public void AgreesWithPyTorch(int b, int c, int h, int w, int k, int stride, bool max)
    {
        Torch.RequireOrSkip();
        var s = new Shape(b, c, h, w, k, stride);
        var x = Rng.Floats(s.XSize, 10);
        var dy = Rng.Floats(s.YSize, 11);
        var y = new float[s.YSize];
        Forward(y, x, s, max);
        var dx = new float[s.XSize];
        Backward(dx, dy, x, s, max);
        var torch = TorchOps.Run(new { op = max ? "max_pool2d" : "avg_pool2d", kernel = k, stride },
            new SafeTensor("x", [b, c, h, w], x), new SafeTensor("grad_output", [b, c, s.Ho, s.Wo], dy));
        TorchOps.Close(torch, "output", y);
        TorchOps.Close(torch, "grad.x", dx);
    }
}
