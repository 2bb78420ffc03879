using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class BatchNorm2dTests
{
    const float Eps = 1e-5f;
    const float Momentum = 0.1f;

    /// <summary>Sizes as one kernel argument (plain ints, so ILGPU can pass it by value).</summary>
    public readonly record struct Shape(int B, int C, int H, int W)
    {
        public int Size => B * C * H * W;
    }

    record Result(double[] Y, double[] Mean, double[] Rstd, double[] RunningMean, double[] RunningVar);

    static Result Reference(double[] x, double[] gamma, double[] beta, double[] runningMean, double[] runningVar, Shape s, bool training)
    {
        int plane = s.H * s.W, n = s.B * plane;
        var y = new double[s.Size];
        var mean = new double[s.C];
        var rstd = new double[s.C];
        var rm = (double[])runningMean.Clone();
        var rv = (double[])runningVar.Clone();
        for (int c = 0; c < s.C; c++)
        {
            double m, v;
            if (training)
            {
                m = 0;
                for (int b = 0; b < s.B; b++) for (int p = 0; p < plane; p++) m += x[(b * s.C + c) * plane + p];
                m /= n;
                v = 0;
                for (int b = 0; b < s.B; b++) for (int p = 0; p < plane; p++) v += Math.Pow(x[(b * s.C + c) * plane + p] - m, 2);
                rm[c] = (1 - Momentum) * rm[c] + Momentum * m;
                rv[c] = (1 - Momentum) * rv[c] + Momentum * v / (n - 1);
                v /= n;
            }
            else
            {
                m = runningMean[c];
                v = runningVar[c];
            }
            mean[c] = m;
            rstd[c] = 1 / Math.Sqrt(v + Eps);
            for (int b = 0; b < s.B; b++)
                for (int p = 0; p < plane; p++)
                {
                    int i = (b * s.C + c) * plane + p;
                    y[i] = (x[i] - m) * rstd[c] * gamma[c] + beta[c];
                }
        }
        return new Result(y, mean, rstd, rm, rv);
    }

    /// <summary>Analytic gradients in double: checked against finite differences below and used for sizes too big for them.</summary>
    static (double[] Dx, double[] Dgamma, double[] Dbeta) ReferenceBackward(double[] dy, double[] x, double[] gamma, double[] runningMean,
        double[] runningVar, Shape s, bool training)
    {
        var r = Reference(x, gamma, new double[s.C], runningMean, runningVar, s, training);
        int plane = s.H * s.W, n = s.B * plane;
        var dx = new double[s.Size];
        var dg = new double[s.C];
        var db = new double[s.C];
        for (int c = 0; c < s.C; c++)
        {
            for (int b = 0; b < s.B; b++)
                for (int p = 0; p < plane; p++)
                {
                    int i = (b * s.C + c) * plane + p;
                    dg[c] += dy[i] * (x[i] - r.Mean[c]) * r.Rstd[c];
                    db[c] += dy[i];
                }
            for (int b = 0; b < s.B; b++)
                for (int p = 0; p < plane; p++)
                {
                    int i = (b * s.C + c) * plane + p;
                    double xhat = (x[i] - r.Mean[c]) * r.Rstd[c];
                    double g = training ? dy[i] - db[c] / n - xhat * dg[c] / n : dy[i];
                    dx[i] = g * gamma[c] * r.Rstd[c];
                }
        }
        return (dx, dg, db);
    }

    record Data(float[] X, float[] Gamma, float[] Beta, float[] RunningMean, float[] RunningVar);

    static Data Inputs(Shape s, int seed)
    {
        var x = Rng.Floats(s.Size, seed, 2f);
        int plane = s.H * s.W;
        // A different offset and spread per channel so that the statistics matter.
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / plane % s.C;
            x[i] = x[i] * (1 + c % 3) + (c % 5 - 2);
        }
        var gamma = Rng.Floats(s.C, seed + 1);
        for (int c = 0; c < s.C; c++) gamma[c] += 1.2f;
        var runningVar = Rng.Floats(s.C, seed + 4);
        for (int c = 0; c < s.C; c++) runningVar[c] = 0.5f + Math.Abs(runningVar[c]) * 2;
        return new Data(x, gamma, Rng.Floats(s.C, seed + 2), Rng.Floats(s.C, seed + 3), runningVar);
    }

    static double[] Shift(double[] a, double v) => Array.ConvertAll(a, e => e + v);

    [Theory]
    [InlineData(2, 3, 5, 7, true)]
    [InlineData(2, 3, 5, 7, false)]
    [InlineData(1, 4, 3, 3, true)]
    [InlineData(3, 1, 1, 2, true)]
    [InlineData(1, 2, 1, 1, false)]
    [InlineData(8, 16, 9, 11, true)]
    [InlineData(16, 32, 28, 28, true)]
    [InlineData(16, 32, 28, 28, false)]
    public void Forward_MatchesReference_AndUpdatesRunningStatistics(int b, int c, int h, int w, bool training)
    {
        var s = new Shape(b, c, h, w);
        var d = Inputs(s, 1);
        var y = Rng.Floats(s.Size, 9, 100f);
        var mean = new float[c];
        var rstd = new float[c];
        var rm = (float[])d.RunningMean.Clone();
        var rv = (float[])d.RunningVar.Clone();
        BatchNorm2d.Forward(y, mean, rstd, rm, rv, d.X, d.Gamma, d.Beta, b, c, h, w, Eps, Momentum, training);
        var e = Reference(Rng.ToDouble(d.X), Rng.ToDouble(d.Gamma), Rng.ToDouble(d.Beta), Rng.ToDouble(d.RunningMean), Rng.ToDouble(d.RunningVar), s, training);
        Approx.Equal(e.Y, y, 1e-5, 1e-5, "batchnorm y");
        Approx.Equal(e.Mean, mean, 1e-6, 1e-5, "batchnorm mean");
        Approx.Equal(e.Rstd, rstd, 1e-6, 1e-5, "batchnorm rstd");
        Approx.Equal(e.RunningMean, rm, 1e-6, 1e-5, "batchnorm running_mean");
        Approx.Equal(e.RunningVar, rv, 1e-6, 1e-5, "batchnorm running_var");
        if (!training)
        {
            Assert.Equal(d.RunningMean, rm);
            Assert.Equal(d.RunningVar, rv);
        }
    }

    [Fact]
    public void Training_RejectsASingleValuePerChannel()
    {
        var ones = Filled(3, 1f);
        Assert.Throws<ArgumentException>(() =>
            BatchNorm2d.Forward(new float[3], new float[3], new float[3], new float[3], ones, ones, ones, new float[3], 1, 3, 1, 1, Eps, Momentum, true));
    }

    [Theory]
    [InlineData(2, 3, 3, 4, true)]
    [InlineData(2, 3, 3, 4, false)]
    [InlineData(3, 2, 1, 1, true)]
    [InlineData(1, 2, 5, 3, true)]
    [InlineData(4, 1, 2, 3, false)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int b, int c, int h, int w, bool training)
    {
        var s = new Shape(b, c, h, w);
        var d = Inputs(s, 2);
        var dy = Rng.Floats(s.Size, 5);
        var y = new float[s.Size];
        var mean = new float[c];
        var rstd = new float[c];
        BatchNorm2d.Forward(y, mean, rstd, (float[])d.RunningMean.Clone(), (float[])d.RunningVar.Clone(), d.X, d.Gamma, d.Beta, b, c, h, w, Eps, Momentum, training);
        var dx = Filled(s.Size, 0.5f);
        var dg = Filled(c, -1f);
        var db = Filled(c, 2f);
        BatchNorm2d.Backward(dx, dg, db, dy, d.X, mean, rstd, d.Gamma, b, c, h, w, training);

        double[] xd = Rng.ToDouble(d.X), gd = Rng.ToDouble(d.Gamma), bd = Rng.ToDouble(d.Beta), dyd = Rng.ToDouble(dy);
        double[] rmd = Rng.ToDouble(d.RunningMean), rvd = Rng.ToDouble(d.RunningVar);
        Func<double[]> f = () => Reference(xd, gd, bd, rmd, rvd, s, training).Y;
        var ex = FiniteDifference.Gradient(f, xd, dyd);
        var eg = FiniteDifference.Gradient(f, gd, dyd);
        var eb = FiniteDifference.Gradient(f, bd, dyd);
        var (ax, ag, ab) = ReferenceBackward(dyd, xd, gd, rmd, rvd, s, training);
        Approx.Equal(ex, Array.ConvertAll(ax, v => (float)v), 1e-5, 1e-4, "analytic reference dx");
        Approx.Equal(eg, Array.ConvertAll(ag, v => (float)v), 1e-5, 1e-4, "analytic reference dgamma");
        Approx.Equal(eb, Array.ConvertAll(ab, v => (float)v), 1e-5, 1e-4, "analytic reference dbeta");
        Approx.Equal(Shift(ex, 0.5), dx, 1e-4, 1e-4, "batchnorm dx");
        Approx.Equal(Shift(eg, -1), dg, 1e-4, 1e-4, "batchnorm dgamma");
        Approx.Equal(Shift(eb, 2), db, 1e-4, 1e-4, "batchnorm dbeta");
    }

    [Theory]
    [InlineData(16, 32, 28, 28, true)]
    [InlineData(16, 32, 28, 28, false)]
    [InlineData(5, 7, 13, 11, true)]
    public void Backward_Large_MatchesAnalyticReference(int b, int c, int h, int w, bool training)
    {
        var s = new Shape(b, c, h, w);
        var d = Inputs(s, 3);
        var dy = Rng.Floats(s.Size, 6);
        var mean = new float[c];
        var rstd = new float[c];
        BatchNorm2d.Forward(new float[s.Size], mean, rstd, (float[])d.RunningMean.Clone(), (float[])d.RunningVar.Clone(), d.X, d.Gamma, d.Beta, b, c, h, w, Eps, Momentum, training);
        var dx = Filled(s.Size, 0.25f);
        var dg = Filled(c, 1f);
        var db = new float[c];
        BatchNorm2d.Backward(dx, dg, db, dy, d.X, mean, rstd, d.Gamma, b, c, h, w, training);
        var (ex, eg, eb) = ReferenceBackward(Rng.ToDouble(dy), Rng.ToDouble(d.X), Rng.ToDouble(d.Gamma), Rng.ToDouble(d.RunningMean),
            Rng.ToDouble(d.RunningVar), s, training);
        Approx.Equal(Shift(ex, 0.25), dx, 1e-5, 1e-4, "batchnorm dx");
        Approx.Equal(Shift(eg, 1), dg, 1e-3, 1e-4, "batchnorm dgamma");
        Approx.Equal(eb, db, 1e-3, 1e-4, "batchnorm dbeta");
    }

    // The mode as generated code passes it: an int, compared with 0 inside (kernels take no bool parameters).
    static void StatsK(ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> rm, ArrayView<float> rv, ArrayView<float> x, Shape s, int training) =>
        BatchNorm2d.StatsKernel(mean, rstd, rm, rv, x, s.B, s.C, s.H, s.W, Eps, Momentum, training != 0);

    static void NormalizeK(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> gamma, ArrayView<float> beta, Shape s) =>
        BatchNorm2d.NormalizeKernel(i, y, x, mean, rstd, gamma, beta, s.B, s.C, s.H, s.W);

    static void ParamsK(ArrayView<float> dg, ArrayView<float> db, ArrayView<float> sums, ArrayView<float> dy,
        ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, Shape s) =>
        BatchNorm2d.BackwardParamsKernel(dg, db, sums, dy, x, mean, rstd, s.B, s.C, s.H, s.W);

    static void InputK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, ArrayView<float> sums, Shape s, int training) =>
        BatchNorm2d.BackwardInputKernel(i, dx, dy, x, mean, rstd, gamma, sums, s.B, s.C, s.H, s.W, training != 0);

    /// <summary>On the GPU-shaped simulator: the statistics and parameter gradients are a group per channel over batch·plane
    /// elements (more and fewer than the group's 256 threads).</summary>
    [Theory]
    [InlineData(2, 3, 5, 7, true)]
    [InlineData(2, 3, 5, 7, false)]
    [InlineData(3, 5, 4, 1, true)]
    [InlineData(4, 2, 9, 11, true)]
    public void Kernels_MatchCpu(int b, int c, int h, int w, bool training) => KernelsMatchCpu(b, c, h, w, training);

    static void KernelsMatchCpu(int b, int c, int h, int w, bool training)
    {
        var s = new Shape(b, c, h, w);
        var d = Inputs(s, 4);
        var dy = Rng.Floats(s.Size, 7);
        var y = new float[s.Size];
        var mean = new float[c];
        var rstd = new float[c];
        var rm = (float[])d.RunningMean.Clone();
        var rv = (float[])d.RunningVar.Clone();
        BatchNorm2d.Forward(y, mean, rstd, rm, rv, d.X, d.Gamma, d.Beta, b, c, h, w, Eps, Momentum, training);
        var dx = Filled(s.Size, 0.5f);
        var dg = Filled(c, 0.25f);
        var db = Filled(c, -0.25f);
        BatchNorm2d.Backward(dx, dg, db, dy, d.X, mean, rstd, d.Gamma, b, c, h, w, training);

        using var hr = new KernelHarness();
        var acc = hr.Accelerator;
        using var gx = hr.Upload(d.X);
        using var gg = hr.Upload(d.Gamma);
        using var gb = hr.Upload(d.Beta);
        using var grm = hr.Upload(d.RunningMean);
        using var grv = hr.Upload(d.RunningVar);
        using var gdy = hr.Upload(dy);
        using var gy = hr.Zeros(s.Size);
        using var gm = hr.Zeros(c);
        using var gs = hr.Zeros(c);
        using var sums = hr.Zeros(2 * c);
        using var gdx = hr.Upload(Filled(s.Size, 0.5f));
        using var gdg = hr.Upload(Filled(c, 0.25f));
        using var gdb = hr.Upload(Filled(c, -0.25f));
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape, int>(StatsK)(
            BatchNorm2d.StatsKernelConfig(c), gm.View, gs.View, grm.View, grv.View, gx.View, s, training ? 1 : 0);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(NormalizeK)(
            s.Size + 3, gy.View, gx.View, gm.View, gs.View, gg.View, gb.View, s);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(ParamsK)(
            BatchNorm2d.BackwardParamsKernelConfig(c), gdg.View, gdb.View, sums.View, gdy.View, gx.View, gm.View, gs.View, s);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape, int>(InputK)(
            s.Size + 3, gdx.View, gdy.View, gx.View, gm.View, gs.View, gg.View, sums.View, s, training ? 1 : 0);
        acc.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-5, 1e-5, "batchnorm kernel y");
        Approx.Equal(mean, KernelHarness.Download(gm), 1e-6, 1e-5, "batchnorm kernel mean");
        Approx.Equal(rstd, KernelHarness.Download(gs), 1e-6, 1e-5, "batchnorm kernel rstd");
        Approx.Equal(rm, KernelHarness.Download(grm), 1e-6, 1e-5, "batchnorm kernel running_mean");
        Approx.Equal(rv, KernelHarness.Download(grv), 1e-6, 1e-5, "batchnorm kernel running_var");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-5, 1e-5, "batchnorm kernel dx");
        Approx.Equal(dg, KernelHarness.Download(gdg), 1e-5, 1e-5, "batchnorm kernel dgamma");
        Approx.Equal(db, KernelHarness.Download(gdb), 1e-5, 1e-5, "batchnorm kernel dbeta");
    }

    [SkippableTheory]
    [InlineData(4, 3, 5, 7, true)]
    [InlineData(4, 3, 5, 7, false)]
    [InlineData(2, 8, 6, 6, true)]
    [InlineData(3, 5, 1, 1, true)]
    public void AgreesWithPyTorch_IncludingRunningStatistics(int b, int c, int h, int w, bool training)
    {
        Torch.RequireOrSkip();
        var s = new Shape(b, c, h, w);
        var d = Inputs(s, 10);
        var dy = Rng.Floats(s.Size, 11);
        var y = new float[s.Size];
        var mean = new float[c];
        var rstd = new float[c];
        var rm = (float[])d.RunningMean.Clone();
        var rv = (float[])d.RunningVar.Clone();
        // Two steps, so that the second starts from running statistics the first one updated.
        var x0 = Rng.Floats(s.Size, 12, 3f);
        var torch0 = TorchOps.Run(new { op = "batch_norm2d", training, eps = (double)Eps, momentum = (double)Momentum },
            new SafeTensor("x", [b, c, h, w], x0), new SafeTensor("weight", [c], d.Gamma), new SafeTensor("bias", [c], d.Beta),
            new SafeTensor("running_mean", [c], rm), new SafeTensor("running_var", [c], rv), new SafeTensor("grad_output", [b, c, h, w], dy));
        BatchNorm2d.Forward(y, mean, rstd, rm, rv, x0, d.Gamma, d.Beta, b, c, h, w, Eps, Momentum, training);
        TorchOps.Close(torch0, "running_mean", rm);
        TorchOps.Close(torch0, "running_var", rv);

        BatchNorm2d.Forward(y, mean, rstd, rm, rv, d.X, d.Gamma, d.Beta, b, c, h, w, Eps, Momentum, training);
        var dx = new float[s.Size];
        var dg = new float[c];
        var db = new float[c];
        BatchNorm2d.Backward(dx, dg, db, dy, d.X, mean, rstd, d.Gamma, b, c, h, w, training);
        var torch = TorchOps.Run(new { op = "batch_norm2d", training, eps = (double)Eps, momentum = (double)Momentum },
            new SafeTensor("x", [b, c, h, w], d.X), new SafeTensor("weight", [c], d.Gamma), new SafeTensor("bias", [c], d.Beta),
            new SafeTensor("running_mean", [c], torch0["running_mean"].Data), new SafeTensor("running_var", [c], torch0["running_var"].Data),
            new SafeTensor("grad_output", [b, c, h, w], dy));
        TorchOps.Close(torch, "output", y);
        TorchOps.Close(torch, "grad.x", dx, 1e-4);
        TorchOps.Close(torch, "grad.weight", dg);
        TorchOps.Close(torch, "grad.bias", db);
        TorchOps.Close(torch, "running_mean", rm);
        TorchOps.Close(torch, "running_var", rv);
    }
}
