using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class GroupNormTests
{
    const float Eps = 1e-5f;

    /// <summary>Sizes as one kernel argument (plain ints, so ILGPU can pass it by value).</summary>
    public readonly record struct Shape(int B, int C, int H, int W, int G)
    {
        public int Size => B * C * H * W;
        public int Per => C / G;
    }

    static (double[] Y, double[] Mean, double[] Rstd) Reference(double[] x, double[] gamma, double[] beta, Shape s)
    {
        int plane = s.H * s.W, n = s.Per * plane;
        var y = new double[s.Size];
        var mean = new double[s.B * s.G];
        var rstd = new double[s.B * s.G];
        for (int b = 0; b < s.B; b++)
            for (int g = 0; g < s.G; g++)
            {
                int start = (b * s.C + g * s.Per) * plane;
                double m = 0;
                for (int j = 0; j < n; j++) m += x[start + j];
                m /= n;
                double v = 0;
                for (int j = 0; j < n; j++) v += (x[start + j] - m) * (x[start + j] - m);
                v /= n;
                double r = 1 / Math.Sqrt(v + Eps);
                mean[b * s.G + g] = m;
                rstd[b * s.G + g] = r;
                for (int j = 0; j < n; j++)
                {
                    int c = g * s.Per + j / plane;
                    y[start + j] = (x[start + j] - m) * r * gamma[c] + beta[c];
                }
            }
        return (y, mean, rstd);
    }

    /// <summary>Analytic gradients in double: checked against finite differences below and used for sizes too big for them.</summary>
    static (double[] Dx, double[] Dgamma, double[] Dbeta) ReferenceBackward(double[] dy, double[] x, double[] gamma, Shape s)
    {
        var (_, mean, rstd) = Reference(x, gamma, new double[s.C], s);
        int plane = s.H * s.W, n = s.Per * plane;
        var dx = new double[s.Size];
        var dg = new double[s.C];
        var db = new double[s.C];
        for (int b = 0; b < s.B; b++)
            for (int g = 0; g < s.G; g++)
            {
                int start = (b * s.C + g * s.Per) * plane, bg = b * s.G + g;
                double a = 0, bb = 0;
                for (int j = 0; j < n; j++)
                {
                    int c = g * s.Per + j / plane;
                    double xhat = (x[start + j] - mean[bg]) * rstd[bg];
                    a += dy[start + j] * gamma[c];
                    bb += dy[start + j] * gamma[c] * xhat;
                    dg[c] += dy[start + j] * xhat;
                    db[c] += dy[start + j];
                }
                a /= n;
                bb /= n;
                for (int j = 0; j < n; j++)
                {
                    int c = g * s.Per + j / plane;
                    double xhat = (x[start + j] - mean[bg]) * rstd[bg];
                    dx[start + j] = (dy[start + j] * gamma[c] - a - xhat * bb) * rstd[bg];
                }
            }
        return (dx, dg, db);
    }

    static (float[] X, float[] Gamma, float[] Beta) Inputs(Shape s, int seed)
    {
        var x = Rng.Floats(s.Size, seed, 2f);
        // A different offset per (sample, group) so that the statistics matter.
        int groupSize = s.Per * s.H * s.W;
        for (int i = 0; i < x.Length; i++) x[i] += i / groupSize % 5 - 2;
        var gamma = Rng.Floats(s.C, seed + 1);
        for (int c = 0; c < s.C; c++) gamma[c] += 1.2f;
        return (x, gamma, Rng.Floats(s.C, seed + 2));
    }

    static double[] Shift(double[] a, double v) => Array.ConvertAll(a, e => e + v);

    [Theory]
    [InlineData(1, 1, 1, 2, 1)]
    [InlineData(2, 6, 5, 7, 3)]
    [InlineData(2, 6, 5, 7, 1)]   // one group: layer norm over (C, H, W)
    [InlineData(2, 6, 5, 7, 6)]   // one channel per group: instance norm
    [InlineData(3, 8, 3, 9, 4)]
    [InlineData(4, 32, 17, 15, 8)]
    [InlineData(8, 64, 28, 28, 32)]
    public void Forward_MatchesReference(int b, int c, int h, int w, int g)
    {
        var s = new Shape(b, c, h, w, g);
        var (x, gamma, beta) = Inputs(s, 1);
        var y = Rng.Floats(s.Size, 9, 100f);
        var mean = new float[b * g];
        var rstd = new float[b * g];
        GroupNorm.Forward(y, mean, rstd, x, gamma, beta, b, c, h, w, g, Eps);
        var (ey, em, es) = Reference(Rng.ToDouble(x), Rng.ToDouble(gamma), Rng.ToDouble(beta), s);
        Approx.Equal(ey, y, 1e-5, 1e-5, "groupnorm y");
        Approx.Equal(em, mean, 1e-6, 1e-5, "groupnorm mean");
        Approx.Equal(es, rstd, 1e-6, 1e-5, "groupnorm rstd");
    }

    [Fact]
    public void RejectsGroupsThatDoNotDivideTheChannels()
    {
        Assert.Throws<ArgumentException>(() => GroupNorm.Forward(new float[6], new float[4], new float[4], new float[6], new float[6], new float[6], 1, 6, 1, 1, 4, Eps));
    }

    [Theory]
    [InlineData(2, 4, 3, 2, 2)]
    [InlineData(1, 6, 2, 3, 3)]
    [InlineData(2, 3, 3, 3, 1)]
    [InlineData(2, 4, 1, 2, 4)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int b, int c, int h, int w, int g)
    {
        var s = new Shape(b, c, h, w, g);
        var (x, gamma, beta) = Inputs(s, 2);
        var dy = Rng.Floats(s.Size, 5);
        var mean = new float[b * g];
        var rstd = new float[b * g];
        GroupNorm.Forward(new float[s.Size], mean, rstd, x, gamma, beta, b, c, h, w, g, Eps);
        var dx = Filled(s.Size, 0.5f);
        var dg = Filled(c, -1f);
        var db = Filled(c, 2f);
        GroupNorm.Backward(dx, dg, db, dy, x, mean, rstd, gamma, b, c, h, w, g);

        double[] xd = Rng.ToDouble(x), gd = Rng.ToDouble(gamma), bd = Rng.ToDouble(beta), dyd = Rng.ToDouble(dy);
        Func<double[]> f = () => Reference(xd, gd, bd, s).Y;
        var ex = FiniteDifference.Gradient(f, xd, dyd);
        var eg = FiniteDifference.Gradient(f, gd, dyd);
        var eb = FiniteDifference.Gradient(f, bd, dyd);
        var (ax, ag, ab) = ReferenceBackward(dyd, xd, gd, s);
        Approx.Equal(ex, Array.ConvertAll(ax, v => (float)v), 1e-5, 1e-4, "analytic reference dx");
        Approx.Equal(eg, Array.ConvertAll(ag, v => (float)v), 1e-5, 1e-4, "analytic reference dgamma");
        Approx.Equal(eb, Array.ConvertAll(ab, v => (float)v), 1e-5, 1e-4, "analytic reference dbeta");
        Approx.Equal(Shift(ex, 0.5), dx, 1e-4, 1e-4, "groupnorm dx");
        Approx.Equal(Shift(eg, -1), dg, 1e-4, 1e-4, "groupnorm dgamma");
        Approx.Equal(Shift(eb, 2), db, 1e-4, 1e-4, "groupnorm dbeta");
    }

    [Theory]
    [InlineData(8, 64, 28, 28, 32)]
    [InlineData(3, 12, 13, 11, 4)]
    public void Backward_Large_MatchesAnalyticReference(int b, int c, int h, int w, int g)
    {
        var s = new Shape(b, c, h, w, g);
        var (x, gamma, beta) = Inputs(s, 3);
        var dy = Rng.Floats(s.Size, 6);
        var mean = new float[b * g];
        var rstd = new float[b * g];
        GroupNorm.Forward(new float[s.Size], mean, rstd, x, gamma, beta, b, c, h, w, g, Eps);
        var dx = Filled(s.Size, 0.25f);
        var dg = Filled(c, 1f);
        var db = new float[c];
        GroupNorm.Backward(dx, dg, db, dy, x, mean, rstd, gamma, b, c, h, w, g);
        var (ex, eg, eb) = ReferenceBackward(Rng.ToDouble(dy), Rng.ToDouble(x), Rng.ToDouble(gamma), s);
        Approx.Equal(Shift(ex, 0.25), dx, 1e-5, 1e-4, "groupnorm dx");
        Approx.Equal(Shift(eg, 1), dg, 1e-4, 1e-4, "groupnorm dgamma");
        Approx.Equal(eb, db, 1e-4, 1e-4, "groupnorm dbeta");
    }

    static void StatsK(ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> x, Shape s) =>
        GroupNorm.ForwardStatsKernel(mean, rstd, x, s.B, s.C, s.H, s.W, s.G, Eps);

    static void NormalizeK(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> gamma, ArrayView<float> beta, Shape s) =>
        GroupNorm.NormalizeKernel(i, y, x, mean, rstd, gamma, beta, s.B, s.C, s.H, s.W, s.G);

    static void BackStatsK(ArrayView<float> sums, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, Shape s) =>
        GroupNorm.BackwardStatsKernel(sums, dy, x, mean, rstd, gamma, s.B, s.C, s.H, s.W, s.G);

    static void InputK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, ArrayView<float> sums, Shape s) =>
        GroupNorm.BackwardInputKernel(i, dx, dy, x, mean, rstd, gamma, sums, s.B, s.C, s.H, s.W, s.G);

    static void ParamsK(ArrayView<float> dg, ArrayView<float> db, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> rstd, Shape s) =>
        GroupNorm.BackwardParamsKernel(dg, db, dy, x, mean, rstd, s.B, s.C, s.H, s.W, s.G);

    /// <summary>On the GPU-shaped simulator against the CPU backend; the last case's groups (2·20·17 = 680 values) and channels
    /// (2·340 values over the batch) are longer than the 256 threads that sum them.</summary>
    [Theory]
    [InlineData(2, 6, 5, 7, 3)]
    [InlineData(3, 4, 3, 1, 4)]
    [InlineData(2, 8, 4, 4, 1)]
    [InlineData(2, 4, 20, 17, 2)]
    public void Kernels_MatchCpu(int b, int c, int h, int w, int g)
    {
        var s = new Shape(b, c, h, w, g);
        var (x, gamma, beta) = Inputs(s, 4);
        var dy = Rng.Floats(s.Size, 7);
        var y = new float[s.Size];
        var mean = new float[b * g];
        var rstd = new float[b * g];
        GroupNorm.Forward(y, mean, rstd, x, gamma, beta, b, c, h, w, g, Eps);
        var dx = Filled(s.Size, 0.5f);
        var dg = Filled(c, 0.25f);
        var db = Filled(c, -0.25f);
        GroupNorm.Backward(dx, dg, db, dy, x, mean, rstd, gamma, b, c, h, w, g);

        using var hr = new KernelHarness();
        var acc = hr.Accelerator;
        using var gx = hr.Upload(x);
        using var gg = hr.Upload(gamma);
        using var gb = hr.Upload(beta);
        using var gdy = hr.Upload(dy);
        using var gy = hr.Zeros(s.Size);
        using var gm = hr.Zeros(b * g);
        using var gs = hr.Zeros(b * g);
        using var sums = hr.Zeros(2 * b * g);
        using var gdx = hr.Upload(Filled(s.Size, 0.5f));
        using var gdg = hr.Upload(Filled(c, 0.25f));
        using var gdb = hr.Upload(Filled(c, -0.25f));
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(StatsK)(GroupNorm.ForwardStatsKernelConfig(b, g), gm.View, gs.View, gx.View, s);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(NormalizeK)(
            s.Size + 3, gy.View, gx.View, gm.View, gs.View, gg.View, gb.View, s);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(BackStatsK)(
            GroupNorm.BackwardStatsKernelConfig(b, g), sums.View, gdy.View, gx.View, gm.View, gs.View, gg.View, s);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(InputK)(
            s.Size + 3, gdx.View, gdy.View, gx.View, gm.View, gs.View, gg.View, sums.View, s);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(ParamsK)(
            GroupNorm.BackwardParamsKernelConfig(c), gdg.View, gdb.View, gdy.View, gx.View, gm.View, gs.View, s);
        acc.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-5, 1e-5, "groupnorm kernel y");
        Approx.Equal(mean, KernelHarness.Download(gm), 1e-6, 1e-5, "groupnorm kernel mean");
        Approx.Equal(rstd, KernelHarness.Download(gs), 1e-6, 1e-5, "groupnorm kernel rstd");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-5, 1e-5, "groupnorm kernel dx");
        Approx.Equal(dg, KernelHarness.Download(gdg), 1e-5, 1e-5, "groupnorm kernel dgamma");
        Approx.Equal(db, KernelHarness.Download(gdb), 1e-5, 1e-5, "groupnorm kernel dbeta");
    }

    [SkippableTheory]
    [InlineData(2, 6, 5, 7, 3)]
    [InlineData(3, 8, 4, 4, 8)]
    [InlineData(2, 16, 9, 6, 4)]
    public void AgreesWithPyTorch(int b, int c, int h, int w, int g)
    {
        Torch.RequireOrSkip();
        var s = new Shape(b, c, h, w, g);
        var (x, gamma, beta) = Inputs(s, 10);
        var dy = Rng.Floats(s.Size, 11);
        var y = new float[s.Size];
        var mean = new float[b * g];
        var rstd = new float[b * g];
        GroupNorm.Forward(y, mean, rstd, x, gamma, beta, b, c, h, w, g, Eps);
        var dx = new float[s.Size];
        var dg = new float[c];
        var db = new float[c];
        GroupNorm.Backward(dx, dg, db, dy, x, mean, rstd, gamma, b, c, h, w, g);
        var torch = TorchOps.Run(new { op = "group_norm", groups = g, eps = (double)Eps },
            new SafeTensor("x", [b, c, h, w], x), new SafeTensor("weight", [c], gamma), new SafeTensor("bias", [c], beta),
            new SafeTensor("grad_output", [b, c, h, w], dy));
        TorchOps.Close(torch, "output", y);
        TorchOps.Close(torch, "grad.x", dx, 1e-4);
        TorchOps.Close(torch, "grad.weight", dg);
        TorchOps.Close(torch, "grad.bias", db);
    }
}
