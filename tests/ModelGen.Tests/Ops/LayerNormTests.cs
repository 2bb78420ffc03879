using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class LayerNormTests
{
    const float Eps = 1e-5f;

    static (double[] Y, double[] Mean, double[] Rstd) Forward(double[] x, double[] gamma, double[] beta, int rows, int dim, double eps)
    {
        var y = new double[rows * dim];
        var mean = new double[rows];
        var rstd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double m = 0;
            for (int j = 0; j < dim; j++) m += x[r * dim + j];
            m /= dim;
            double v = 0;
            for (int j = 0; j < dim; j++) v += (x[r * dim + j] - m) * (x[r * dim + j] - m);
            v /= dim;
            double s = 1 / Math.Sqrt(v + eps);
            mean[r] = m;
            rstd[r] = s;
            for (int j = 0; j < dim; j++) y[r * dim + j] = (x[r * dim + j] - m) * s * gamma[j] + beta[j];
        }
        return (y, mean, rstd);
    }

    static double[] Reference(double[] x, double[] gamma, double[] beta, int rows, int dim) => Forward(x, gamma, beta, rows, dim, Eps).Y;

    /// <summary>Analytic gradients in double, checked against finite differences below and used for sizes too big for them.</summary>
    static (double[] Dx, double[] Dgamma, double[] Dbeta) ReferenceBackward(double[] dy, double[] x, double[] gamma, int rows, int dim)
    {
        var (_, mean, rstd) = Forward(x, gamma, new double[dim], rows, dim, Eps);
        var dx = new double[rows * dim];
        var dg = new double[dim];
        var db = new double[dim];
        for (int r = 0; r < rows; r++)
        {
            double a = 0, b = 0;
            for (int j = 0; j < dim; j++)
            {
                double n = (x[r * dim + j] - mean[r]) * rstd[r];
                a += dy[r * dim + j] * gamma[j];
                b += dy[r * dim + j] * gamma[j] * n;
                dg[j] += dy[r * dim + j] * n;
                db[j] += dy[r * dim + j];
            }
            a /= dim;
            b /= dim;
            for (int j = 0; j < dim; j++)
            {
                double n = (x[r * dim + j] - mean[r]) * rstd[r];
                dx[r * dim + j] = (dy[r * dim + j] * gamma[j] - a - n * b) * rstd[r];
            }
        }
        return (dx, dg, db);
    }

    static (float[] X, float[] Gamma, float[] Beta) Inputs(int rows, int dim, int seed)
    {
        var x = Rng.Floats(rows * dim, seed, 3f);
        // An offset per row so the mean matters.
        for (int r = 0; r < rows; r++) for (int j = 0; j < dim; j++) x[r * dim + j] += r % 5 - 2;
        var gamma = Rng.Floats(dim, seed + 1);
        for (int j = 0; j < dim; j++) gamma[j] += 1f;
        return (x, gamma, Rng.Floats(dim, seed + 2));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 37)]
    [InlineData(5, 197)]
    [InlineData(64, 768)]
    [InlineData(97, 1000)]
    [InlineData(7, 8)]
    public void Forward_MatchesReference(int rows, int dim)
    {
        var (x, gamma, beta) = Inputs(rows, dim, 1);
        var y = new float[rows * dim];
        var mean = new float[rows];
        var rstd = new float[rows];
        LayerNorm.Forward(y, mean, rstd, x, gamma, beta, rows, dim, Eps);
        var (ey, em, es) = Forward(Rng.ToDouble(x), Rng.ToDouble(gamma), Rng.ToDouble(beta), rows, dim, Eps);
        Approx.Equal(ey, y, 1e-5, 1e-5, "layernorm y");
        Approx.Equal(em, mean, 1e-6, 1e-6, "layernorm mean");
        Approx.Equal(es, rstd, 1e-6, 1e-5, "layernorm rstd");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 37)]
    [InlineData(4, 9)]
    [InlineData(2, 70)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int rows, int dim)
    {
        var (x, gamma, beta) = Inputs(rows, dim, 2);
        var r = Rng.Floats(rows * dim, 5);
        var y = new float[rows * dim];
        var mean = new float[rows];
        var rstd = new float[rows];
        LayerNorm.Forward(y, mean, rstd, x, gamma, beta, rows, dim, Eps);
        var dx = new float[rows * dim];
        var dg = new float[dim];
        var db = new float[dim];
        Array.Fill(dx, 0.5f);
        Array.Fill(dg, -1f);
        Array.Fill(db, 2f);
        LayerNorm.Backward(dx, dg, db, r, x, mean, rstd, gamma, rows, dim);

        double[] xd = Rng.ToDouble(x), gd = Rng.ToDouble(gamma), bd = Rng.ToDouble(beta), rd = Rng.ToDouble(r);
        var ex = FiniteDifference.Gradient(() => Reference(xd, gd, bd, rows, dim), xd, rd);
        var eg = FiniteDifference.Gradient(() => Reference(xd, gd, bd, rows, dim), gd, rd);
        var eb = FiniteDifference.Gradient(() => Reference(xd, gd, bd, rows, dim), bd, rd);
        var (ax, ag, ab) = ReferenceBackward(rd, xd, gd, rows, dim);
        Approx.Equal(ex, Array.ConvertAll(ax, v => (float)v), 1e-5, 1e-4, "analytic reference dx");
        Approx.Equal(eg, Array.ConvertAll(ag, v => (float)v), 1e-5, 1e-4, "analytic reference dgamma");
        for (int i = 0; i < ex.Length; i++) ex[i] += 0.5;
        for (int i = 0; i < eg.Length; i++) { eg[i] -= 1; eb[i] += 2; }
        Approx.Equal(ex, dx, 1e-4, 1e-4, "layernorm dx");
        Approx.Equal(eg, dg, 1e-4, 1e-4, "layernorm dgamma");
        Approx.Equal(eb, db, 1e-4, 1e-4, "layernorm dbeta");
    }

    [Theory]
    [InlineData(97, 1000)]
    [InlineData(300, 197)]
    [InlineData(1024, 64)]
    public void Backward_LargeParallel_MatchesAnalyticReference(int rows, int dim)
    {
        var (x, gamma, beta) = Inputs(rows, dim, 3);
        var r = Rng.Floats(rows * dim, 6);
        var y = new float[rows * dim];
        var mean = new float[rows];
        var rstd = new float[rows];
        LayerNorm.Forward(y, mean, rstd, x, gamma, beta, rows, dim, Eps);
        var dx = new float[rows * dim];
        var dg = new float[dim];
        var db = new float[dim];
        Array.Fill(dg, 1f);
        LayerNorm.Backward(dx, dg, db, r, x, mean, rstd, gamma, rows, dim);
        var (ex, eg, eb) = ReferenceBackward(Rng.ToDouble(r), Rng.ToDouble(x), Rng.ToDouble(gamma), rows, dim);
        for (int j = 0; j < dim; j++) eg[j] += 1;
        Approx.Equal(ex, dx, 1e-4, 1e-4, "layernorm dx");
        Approx.Equal(eg, dg, 1e-3, 1e-4, "layernorm dgamma");
        Approx.Equal(eb, db, 1e-3, 1e-4, "layernorm dbeta");

        // Repeatable: the partial sums are combined in a fixed order.
        var dg2 = new float[dim];
        var db2 = new float[dim];
        Array.Fill(dg2, 1f);
        LayerNorm.Backward(new float[rows * dim], dg2, db2, r, x, mean, rstd, gamma, rows, dim);
        Assert.Equal(dg, dg2);
        Assert.Equal(db, db2);
    }

    static void ForwardK(ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> x,
        ArrayView<float> gamma, ArrayView<float> beta, int rows, int dim, float eps) =>
        LayerNorm.ForwardKernel(y, mean, rstd, x, gamma, beta, rows, dim, eps);

    static void InputK(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, int rows, int dim) =>
        LayerNorm.BackwardInputKernel(dx, dy, x, mean, rstd, gamma, rows, dim);

    static void ParamsK(ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> rstd, int rows, int dim) =>
        LayerNorm.BackwardParamsKernel(dgamma, dbeta, dy, x, mean, rstd, rows, dim);

    /// <summary>On the GPU-shaped simulator: rows that do not fill a group of eight warps, widths below, between and above
    /// multiples of the warp and of the column sum's 32 columns, and enough rows for every warp to walk several.</summary>
    [Theory]
    [InlineData(6, 37)]
    [InlineData(3, 130)]
    [InlineData(203, 64)]
    [InlineData(17, 5)]
    public void Kernels_MatchCpu(int rows, int dim)
    {
        var (x, gamma, beta) = Inputs(rows, dim, 4);
        var r = Rng.Floats(rows * dim, 7);
        var y = new float[rows * dim];
        var mean = new float[rows];
        var rstd = new float[rows];
        LayerNorm.Forward(y, mean, rstd, x, gamma, beta, rows, dim, Eps);
        var dx = new float[rows * dim];
        var dg = new float[dim];
        var db = new float[dim];
        Array.Fill(dx, 0.5f);
        Array.Fill(dg, 0.25f);
        Array.Fill(db, -0.25f);
        LayerNorm.Backward(dx, dg, db, r, x, mean, rstd, gamma, rows, dim);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, float>(ForwardK);
        var inp = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int>(InputK);
        var par = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int>(ParamsK);
        using var xb = h.Upload(x);
        using var gb = h.Upload(gamma);
        using var bb = h.Upload(beta);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(rows * dim);
        using var mb = h.Zeros(rows);
        using var sb = h.Zeros(rows);
        var fill = (int len, float v) => { var a = new float[len]; Array.Fill(a, v); return a; };
        using var dxb = h.Upload(fill(rows * dim, 0.5f));
        using var dgb = h.Upload(fill(dim, 0.25f));
        using var dbb = h.Upload(fill(dim, -0.25f));
        fwd(LayerNorm.ForwardKernelConfig(rows), yb.View, mb.View, sb.View, xb.View, gb.View, bb.View, rows, dim, Eps);
        inp(LayerNorm.BackwardInputKernelConfig(rows), dxb.View, rb.View, xb.View, mb.View, sb.View, gb.View, rows, dim);
        par(LayerNorm.BackwardParamsKernelConfig(dim), dgb.View, dbb.View, rb.View, xb.View, mb.View, sb.View, rows, dim);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(yb), 1e-6, 1e-5, "layernorm kernel y");
        Approx.Equal(mean, KernelHarness.Download(mb), 1e-6, 1e-6, "layernorm kernel mean");
        Approx.Equal(rstd, KernelHarness.Download(sb), 1e-6, 1e-5, "layernorm kernel rstd");
        Approx.Equal(dx, KernelHarness.Download(dxb), 1e-5, 1e-5, "layernorm kernel dx");
        Approx.Equal(dg, KernelHarness.Download(dgb), 1e-5, 1e-5, "layernorm kernel dgamma");
        Approx.Equal(db, KernelHarness.Download(dbb), 1e-5, 1e-5, "layernorm kernel dbeta");
    }
}
