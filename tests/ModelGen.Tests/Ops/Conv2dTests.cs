using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class Conv2dTests
{
    /// <summary>One convolution's sizes; also the kernels' size argument (plain ints, so ILGPU can pass it by value).</summary>
    public readonly record struct Shape(int B, int C, int H, int W, int O, int K, int S, int P)
    {
        public int Ho => (H + 2 * P - K) / S + 1;
        public int Wo => (W + 2 * P - K) / S + 1;
        public int XSize => B * C * H * W;
        public int YSize => B * O * Ho * Wo;
        public int WSize => O * C * K * K;
    }

    static double[] Reference(double[] x, double[] w, double[]? bias, Shape s)
    {
        var y = new double[s.YSize];
        for (int b = 0; b < s.B; b++)
            for (int o = 0; o < s.O; o++)
                for (int oy = 0; oy < s.Ho; oy++)
                    for (int ox = 0; ox < s.Wo; ox++)
                    {
                        double sum = bias == null ? 0 : bias[o];
                        for (int c = 0; c < s.C; c++)
                            for (int ky = 0; ky < s.K; ky++)
                                for (int kx = 0; kx < s.K; kx++)
                                {
                                    int iy = oy * s.S - s.P + ky, ix = ox * s.S - s.P + kx;
                                    if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                                    sum += w[((o * s.C + c) * s.K + ky) * s.K + kx] * x[((b * s.C + c) * s.H + iy) * s.W + ix];
                                }
                        y[((b * s.O + o) * s.Ho + oy) * s.Wo + ox] = sum;
                    }
        return y;
    }

    /// <summary>Analytic gradients in double, checked against finite differences below and used for sizes too big for them.</summary>
    static (double[] Dx, double[] Dw, double[] Db) ReferenceBackward(double[] dy, double[] x, double[] w, Shape s)
    {
        var dx = new double[s.XSize];
        var dw = new double[s.WSize];
        var db = new double[s.O];
        for (int b = 0; b < s.B; b++)
            for (int o = 0; o < s.O; o++)
                for (int oy = 0; oy < s.Ho; oy++)
                    for (int ox = 0; ox < s.Wo; ox++)
                    {
                        double g = dy[((b * s.O + o) * s.Ho + oy) * s.Wo + ox];
                        db[o] += g;
                        for (int c = 0; c < s.C; c++)
                            for (int ky = 0; ky < s.K; ky++)
                                for (int kx = 0; kx < s.K; kx++)
                                {
                                    int iy = oy * s.S - s.P + ky, ix = ox * s.S - s.P + kx;
                                    if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
                                    int xi = ((b * s.C + c) * s.H + iy) * s.W + ix, wi = ((o * s.C + c) * s.K + ky) * s.K + kx;
                                    dx[xi] += g * w[wi];
                                    dw[wi] += g * x[xi];
                                }
                    }
        return (dx, dw, db);
    }

    static (float[] X, float[] W, float[] Bias) Inputs(Shape s, int seed) =>
        (Rng.Floats(s.XSize, seed), Rng.Floats(s.WSize, seed + 1, 1f / MathF.Sqrt(s.C * s.K * s.K)), Rng.Floats(s.O, seed + 2));

    static void Forward(float[] y, float[] x, float[] w, float[]? bias, Shape s) =>
        Conv2d.Forward(y, x, w, bias, s.B, s.C, s.H, s.W, s.O, s.K, s.S, s.P);

    static void Backward(float[]? dx, float[] dw, float[]? db, float[] dy, float[] x, float[] w, Shape s) =>
        Conv2d.Backward(dx, dw, db, dy, x, w, s.B, s.C, s.H, s.W, s.O, s.K, s.S, s.P);

    static double[] Shift(double[] a, double v) => Array.ConvertAll(a, e => e + v);

    [Theory]
    [InlineData(1, 1, 1, 1, 1, 1, 1, 0, true)]
    [InlineData(2, 3, 5, 7, 4, 1, 1, 0, true)]      // pointwise: x multiplied directly
    [InlineData(2, 5, 6, 7, 3, 1, 2, 0, false)]     // pointwise with stride: unfolded
    [InlineData(1, 2, 3, 4, 3, 1, 1, 2, true)]      // padding wider than the kernel: whole rows and columns of zeros
    [InlineData(2, 3, 7, 5, 4, 3, 1, 1, false)]
    [InlineData(1, 2, 9, 11, 3, 7, 1, 3, true)]
    [InlineData(3, 4, 9, 8, 5, 3, 2, 1, true)]
    [InlineData(2, 3, 11, 13, 6, 7, 2, 3, false)]   // a ResNet stem, odd sizes
    [InlineData(2, 2, 10, 9, 3, 2, 3, 0, true)]     // stride larger than the kernel: skipped pixels
    [InlineData(4, 16, 33, 31, 24, 3, 1, 1, true)]  // enough work to spread images over threads
    [InlineData(1, 8, 40, 40, 16, 3, 2, 1, false)]  // one image: the GEMMs go parallel
    [InlineData(2, 64, 64, 64, 8, 3, 1, 1, true)]   // unfolded in more than one block of output rows
    public void Forward_MatchesReference(int b, int c, int h, int w, int o, int k, int stride, int pad, bool bias)
    {
        var s = new Shape(b, c, h, w, o, k, stride, pad);
        var (x, wt, bs) = Inputs(s, 1);
        var y = Rng.Floats(s.YSize, 4, 100f); // stale contents must be overwritten
        Forward(y, x, wt, bias ? bs : null, s);
        var expected = Reference(Rng.ToDouble(x), Rng.ToDouble(wt), bias ? Rng.ToDouble(bs) : null, s);
        Approx.Equal(expected, y, 2e-6 * Math.Sqrt(c * k * k), 1e-5, "conv2d y");
    }

    [Theory]
    [InlineData(2, 2, 5, 4, 3, 3, 1, 1)]
    [InlineData(1, 3, 6, 7, 2, 3, 2, 1)]
    [InlineData(2, 2, 4, 5, 3, 1, 1, 0)]
    [InlineData(1, 2, 7, 7, 2, 7, 1, 3)]
    [InlineData(1, 2, 5, 6, 2, 2, 3, 0)]
    [InlineData(2, 1, 3, 3, 2, 1, 1, 1)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int b, int c, int h, int w, int o, int k, int stride, int pad)
    {
        var s = new Shape(b, c, h, w, o, k, stride, pad);
        var (x, wt, bs) = Inputs(s, 2);
        var dy = Rng.Floats(s.YSize, 5);
        double[] xd = Rng.ToDouble(x), wd = Rng.ToDouble(wt), bd = Rng.ToDouble(bs), dyd = Rng.ToDouble(dy);
        Func<double[]> f = () => Reference(xd, wd, bd, s);
        var ex = FiniteDifference.Gradient(f, xd, dyd);
        var ew = FiniteDifference.Gradient(f, wd, dyd);
        var eb = FiniteDifference.Gradient(f, bd, dyd);
        var (ax, aw, ab) = ReferenceBackward(dyd, xd, wd, s);
        Approx.Equal(ex, Array.ConvertAll(ax, v => (float)v), 1e-6, 1e-5, "analytic reference dx");
        Approx.Equal(ew, Array.ConvertAll(aw, v => (float)v), 1e-6, 1e-5, "analytic reference dw");
        Approx.Equal(eb, Array.ConvertAll(ab, v => (float)v), 1e-6, 1e-5, "analytic reference db");

        var dx = Filled(s.XSize, 0.5f);
        var dw = Filled(s.WSize, -1f);
        var db = Filled(s.O, 2f);
        Backward(dx, dw, db, dy, x, wt, s);
        Approx.Equal(Shift(ex, 0.5), dx, 1e-5, 1e-5, "conv2d dx");
        Approx.Equal(Shift(ew, -1), dw, 1e-5, 1e-5, "conv2d dweight");
        Approx.Equal(Shift(eb, 2), db, 1e-5, 1e-5, "conv2d dbias");
    }

    [Theory]
    [InlineData(4, 16, 33, 31, 24, 3, 1, 1)]
    [InlineData(1, 8, 40, 40, 16, 3, 2, 1)]
    [InlineData(3, 32, 20, 20, 48, 1, 1, 0)]
    [InlineData(2, 3, 37, 35, 16, 7, 2, 3)]
    [InlineData(2, 64, 64, 64, 8, 3, 1, 1)]
    public void Backward_Large_MatchesAnalyticReference_AndAccumulates(int b, int c, int h, int w, int o, int k, int stride, int pad)
    {
        var s = new Shape(b, c, h, w, o, k, stride, pad);
        var (x, wt, _) = Inputs(s, 3);
        var dy = Rng.Floats(s.YSize, 6);
        var (ex, ew, eb) = ReferenceBackward(Rng.ToDouble(dy), Rng.ToDouble(x), Rng.ToDouble(wt), s);
        var dx = Filled(s.XSize, 0.25f);
        var dw = Filled(s.WSize, 0.75f);
        var db = Filled(s.O, -0.5f);
        Backward(dx, dw, db, dy, x, wt, s);
        double sums = s.B * s.Ho * s.Wo;
        Approx.Equal(Shift(ex, 0.25), dx, 2e-6 * Math.Sqrt(s.O * s.K * s.K), 1e-5, "conv2d dx");
        Approx.Equal(Shift(ew, 0.75), dw, 2e-6 * Math.Sqrt(sums), 1e-5, "conv2d dweight");
        Approx.Equal(Shift(eb, -0.5), db, 2e-6 * Math.Sqrt(sums), 1e-5, "conv2d dbias");

        // Without dx or a bias, the weight gradient is the same, bit for bit, and nothing else is touched.
        var dw2 = Filled(s.WSize, 0.75f);
        Backward(null, dw2, null, dy, x, wt, s);
        Assert.Equal(dw, dw2);
    }

    [Fact]
    public void RejectsAKernelLargerThanThePaddedImage_AndShortBuffers()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Conv2d.Forward(new float[64], new float[16], new float[25], null, 1, 1, 4, 4, 1, 5, 1, 0));
        Assert.Throws<ArgumentException>(() => Conv2d.Forward(new float[15], new float[16], new float[9], null, 1, 1, 4, 4, 1, 3, 1, 1));
        Assert.Equal(28, Conv2d.OutputSize(56, 3, 2, 1));
        Assert.Equal(112, Conv2d.OutputSize(224, 7, 2, 3));
    }

    static void ForwardK(ArrayView<float> y, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, Shape s, int hasBias) =>
        Conv2d.ForwardKernel(y, x, w, bias, s.B, s.C, s.H, s.W, s.O, s.K, s.S, s.P, hasBias != 0, tensorCores: false);

    static void InputK(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> w, Shape s) =>
        Conv2d.BackwardInputKernel(dx, dy, w, s.B, s.C, s.H, s.W, s.O, s.K, s.S, s.P, tensorCores: false);

    static void WeightK(ArrayView<float> dw, ArrayView<float> ws, ArrayView<float> dy, ArrayView<float> x, Shape s) =>
        Conv2d.BackwardWeightKernel(dw, ws, dy, x, s.B, s.C, s.H, s.W, s.O, s.K, s.S, s.P, tensorCores: false);

    static void BiasK(ArrayView<float> db, ArrayView<float> dy, Shape s) =>
        Conv2d.BackwardBiasKernel(db, dy, s.B, s.O, s.Ho, s.Wo);

    /// <summary>The implicit-GEMM kernels on the GPU-shaped simulator against the CPU backend (im2col + GEMM): strides, padding,
    /// kernels wider than the stride, 1×1, and (the last) 70 output channels across two row tiles with the weight gradient's
    /// 2·24·24 = 1152-deep sum cut into four split-K slices.</summary>
    [Theory]
    [InlineData(2, 3, 7, 6, 4, 3, 2, 1, true)]
    [InlineData(1, 2, 5, 5, 3, 1, 1, 0, false)]
    [InlineData(2, 2, 9, 8, 3, 7, 1, 3, true)]
    [InlineData(1, 2, 10, 9, 3, 2, 3, 0, true)]
    [InlineData(2, 5, 24, 24, 70, 3, 1, 1, true)]
    public void Kernels_MatchCpu(int b, int c, int h, int w, int o, int k, int stride, int pad, bool bias)
    {
        var s = new Shape(b, c, h, w, o, k, stride, pad);
        var (x, wt, bs) = Inputs(s, 7);
        var dy = Rng.Floats(s.YSize, 8);
        var y = new float[s.YSize];
        Forward(y, x, wt, bias ? bs : null, s);
        var dx = Filled(s.XSize, 0.5f);
        var dw = Filled(s.WSize, -0.25f);
        var db = Filled(s.O, 1.5f);
        Backward(dx, dw, bias ? db : null, dy, x, wt, s);

        using var h_ = new KernelHarness();
        var acc = h_.Accelerator;
        var fwd = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape, int>(ForwardK);
        var inp = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(InputK);
        var wgt = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(WeightK);
        var sum = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(TiledGemm.SumSplitsKernel);
        var bia = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, Shape>(BiasK);
        int rows = s.C * s.K * s.K, depth = s.B * s.Ho * s.Wo;
        if (o == 70) Assert.Equal(4, TiledGemm.Splits(s.O, rows, depth));
        using var gx = h_.Upload(x);
        using var gw = h_.Upload(wt);
        using var gb = bias ? h_.Upload(bs) : h_.Zeros(1);
        using var gdy = h_.Upload(dy);
        using var gy = h_.Upload(Rng.Floats(s.YSize, 9, 50f));
        using var gdx = h_.Upload(Filled(s.XSize, 0.5f));
        using var gdw = h_.Upload(Filled(s.WSize, -0.25f));
        using var gdb = h_.Upload(Filled(s.O, 1.5f));
        using var gws = h_.Upload(Rng.Floats((int)Math.Max(1, Conv2d.BackwardWeightWorkspace(s.C, s.O, s.K)), 12, 1e3f));
        fwd(Conv2d.ForwardKernelConfig(s.B, s.H, s.W, s.O, s.K, s.S, s.P), gy.View, gx.View, gw.View, gb.View, s, bias ? 1 : 0);
        inp(Conv2d.BackwardInputKernelConfig(s.B, s.C, s.H, s.W), gdx.View, gdy.View, gw.View, s);
        wgt(Conv2d.BackwardWeightKernelConfig(s.B, s.C, s.H, s.W, s.O, s.K, s.S, s.P), gdw.View, gws.View, gdy.View, gx.View, s);
        sum(s.WSize + 5, gdw.View, gws.View, s.O, rows, depth, rows);
        if (bias) bia(Conv2d.BackwardBiasKernelConfig(s.O), gdb.View, gdy.View, s);
        acc.Synchronize();
        double sums = Math.Sqrt(depth);
        Approx.Equal(y, KernelHarness.Download(gy), 1e-5, 1e-5, "conv2d kernel y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-5, 1e-5, "conv2d kernel dx");
        Approx.Equal(dw, KernelHarness.Download(gdw), 2e-6 * sums, 1e-5, "conv2d kernel dweight");
        if (bias) Approx.Equal(db, KernelHarness.Download(gdb), 2e-6 * sums, 1e-5, "conv2d kernel dbias");
    }

    [SkippableTheory]
    [InlineData(2, 3, 9, 8, 4, 3, 1, 1, true)]
    [InlineData(2, 4, 11, 10, 5, 7, 2, 3, false)]
    [InlineData(3, 6, 7, 9, 8, 1, 1, 0, true)]
    [InlineData(2, 3, 10, 10, 4, 3, 2, 1, true)]
    public void AgreesWithPyTorch(int b, int c, int h, int w, int o, int k, int stride, int pad, bool bias)
    {
        Torch.RequireOrSkip();
        var s = new Shape(b, c, h, w, o, k, stride, pad);
        var (x, wt, bs) = Inputs(s, 10);
        var dy = Rng.Floats(s.YSize, 11);
        var y = new float[s.YSize];
        Forward(y, x, wt, bias ? bs : null, s);
        var dx = new float[s.XSize];
        var dw = new float[s.WSize];
        var db = new float[s.O];
        Backward(dx, dw, bias ? db : null, dy, x, wt, s);

        var inputs = new System.Collections.Generic.List<SafeTensor>
        {
            new("x", [s.B, s.C, s.H, s.W], x),
            new("weight", [s.O, s.C, s.K, s.K], wt),
            new("grad_output", [s.B, s.O, s.Ho, s.Wo], dy),
        };
        if (bias) inputs.Add(new SafeTensor("bias", [s.O], bs));
        var torch = TorchOps.Run(new { op = "conv2d", stride, padding = pad }, inputs.ToArray());
        TorchOps.Close(torch, "output", y);
        TorchOps.Close(torch, "grad.x", dx);
        TorchOps.Close(torch, "grad.weight", dw);
        if (bias) TorchOps.Close(torch, "grad.bias", db);
        else Assert.False(torch.ContainsKey("grad.bias"));
    }
}
