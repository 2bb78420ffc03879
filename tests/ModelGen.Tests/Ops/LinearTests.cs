using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class LinearTests
{
    static double[] Reference(double[] x, double[] w, double[]? b, int rows, int inF, int outF)
    {
        var y = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = b == null ? 0 : b[o];
                for (int p = 0; p < inF; p++) s += x[r * inF + p] * w[o * inF + p];
                y[r * outF + o] = s;
            }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1, true)]
    [InlineData(5, 7, 3, false)]
    [InlineData(37, 64, 197, true)]
    [InlineData(197, 33, 40, false)]
    [InlineData(1000, 64, 192, true)]
    [InlineData(1031, 128, 64, false)]
    public void ForwardMatchesReference(int rows, int inF, int outF, bool bias)
    {
        var x = Rng.Floats(rows * inF, 1);
        var w = Rng.Floats(outF * inF, 2, 0.5f);
        var b = bias ? Rng.Floats(outF, 3) : null;
        var y = Rng.Floats(rows * outF, 4, 100f); // stale contents must be overwritten
        Linear.Forward(y, x, w, b, rows, inF, outF);
        var expected = Reference(Rng.ToDouble(x), Rng.ToDouble(w), b == null ? null : Rng.ToDouble(b), rows, inF, outF);
        Approx.Equal(expected, y, 1e-5, 1e-5, "y");
    }

    [Theory]
    [InlineData(3, 4, 5)]
    [InlineData(7, 9, 6)]
    [InlineData(2, 17, 33)]
    public void BackwardMatchesFiniteDifferences(int rows, int inF, int outF)
    {
        var x = Rng.Floats(rows * inF, 11);
        var w = Rng.Floats(outF * inF, 12);
        var b = Rng.Floats(outF, 13);
        var r = Rng.Floats(rows * outF, 14);
        var xd = Rng.ToDouble(x);
        var wd = Rng.ToDouble(w);
        var bd = Rng.ToDouble(b);
        var rd = Rng.ToDouble(r);
        Func<double[]> f = () => Reference(xd, wd, bd, rows, inF, outF);
        var gx = FiniteDifference.Gradient(f, xd, rd);
        var gw = FiniteDifference.Gradient(f, wd, rd);
        var gb = FiniteDifference.Gradient(f, bd, rd);

        var dx = new float[rows * inF];
        var dw = new float[outF * inF];
        var db = new float[outF];
        Linear.Backward(dx, dw, db, r, x, w, rows, inF, outF);
        Approx.Equal(gx, dx, 1e-5, 1e-4, "dx");
        Approx.Equal(gw, dw, 1e-5, 1e-4, "dw");
        Approx.Equal(gb, db, 1e-5, 1e-4, "db");
    }

    [Theory]
    [InlineData(6, 5, 4)]
    [InlineData(1200, 64, 197)]
    public void BackwardAccumulates(int rows, int inF, int outF)
    {
        var x = Rng.Floats(rows * inF, 21);
        var w = Rng.Floats(outF * inF, 22);
        var dy = Rng.Floats(rows * outF, 23);
        var xd = Rng.ToDouble(x);
        var wd = Rng.ToDouble(w);
        var dyd = Rng.ToDouble(dy);

        // Exact gradients in double: dx = dy·w, dw = dyᵀ·x, db = Σ dy.
        var ex = new double[rows * inF];
        var ew = new double[outF * inF];
        var eb = new double[outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double g = dyd[r * outF + o];
                eb[o] += g;
                for (int p = 0; p < inF; p++)
                {
                    ex[r * inF + p] += g * wd[o * inF + p];
                    ew[o * inF + p] += g * xd[r * inF + p];
                }
            }

        const float pre = 0.75f;
        var dx = Filled(rows * inF, pre);
        var dw = Filled(outF * inF, pre);
        var db = Filled(outF, pre);
        Linear.Backward(dx, dw, db, dy, x, w, rows, inF, outF);
        double tol = 2e-5 * Math.Sqrt(rows);
        Approx.Equal(Shift(ex, pre), dx, tol, 1e-5, "dx");
        Approx.Equal(Shift(ew, pre), dw, tol, 1e-5, "dw");
        Approx.Equal(Shift(eb, pre), db, tol, 1e-5, "db");

        // Without a bias the bias gradient is skipped and the rest still accumulates.
        var dx2 = Filled(rows * inF, pre);
        var dw2 = Filled(outF * inF, pre);
        Linear.Backward(dx2, dw2, null, dy, x, w, rows, inF, outF);
        Assert.Equal(dx, dx2);
        Assert.Equal(dw, dw2);
    }

    static double[] Shift(double[] a, double v)
    {
        var s = new double[a.Length];
        for (int i = 0; i < a.Length; i++) s[i] = a[i] + v;
        return s;
    }

    // Like generated wrappers, the bias flag is a literal.
    static void ForwardBiasWrapper(ArrayView<float> y, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, int rows, int inF, int outF) =>
        Linear.ForwardKernel(y, x, w, b, rows, inF, outF, true, tensorCores: false);

    static void ForwardNoBiasWrapper(ArrayView<float> y, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, int rows, int inF, int outF) =>
        Linear.ForwardKernel(y, x, w, b, rows, inF, outF, false, tensorCores: false);

    static void InputWrapper(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> w, int rows, int inF, int outF) =>
        Linear.BackwardInputKernel(dx, dy, w, rows, inF, outF, tensorCores: false);

    static void WeightWrapper(ArrayView<float> dw, ArrayView<float> ws, ArrayView<float> dy, ArrayView<float> x, int rows, int inF, int outF) =>
        Linear.BackwardWeightKernel(dw, ws, dy, x, rows, inF, outF, tensorCores: false);

    static void BiasWrapper(ArrayView<float> db, ArrayView<float> dy, int rows, int outF) => Linear.BackwardBiasKernel(db, dy, rows, outF);

    /// <summary>The kernels on the GPU-shaped simulator against the CPU backend, on sizes that do not divide the 64×64×16 GEMM tiles
    /// or the column sum's 32 columns, and (1000 rows) with the K of the weight gradient spanning many tiles and cut into split-K
    /// slices (three of them: 1000 rows, 256 at least each).</summary>
    [Theory]
    [InlineData(13, 17, 11, true)]
    [InlineData(13, 17, 11, false)]
    [InlineData(1000, 70, 33, true)]
    [InlineData(65, 129, 1, true)]
    public void KernelsMatchCpu(int rows, int inF, int outF, bool bias)
    {
        var x = Rng.Floats(rows * inF, 31);
        var w = Rng.Floats(outF * inF, 32);
        var b = bias ? Rng.Floats(outF, 33) : null;
        var dy = Rng.Floats(rows * outF, 34);

        var y = new float[rows * outF];
        Linear.Forward(y, x, w, b, rows, inF, outF);
        var dx = Filled(rows * inF, 0.5f);
        var dw = Filled(outF * inF, -0.25f);
        var db = Filled(outF, 1.5f);
        Linear.Backward(dx, dw, bias ? db : null, dy, x, w, rows, inF, outF);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            bias ? ForwardBiasWrapper : ForwardNoBiasWrapper);
        var inp = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(InputWrapper);
        var wgt = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(WeightWrapper);
        var sum = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(TiledGemm.SumSplitsKernel);
        if (rows == 1000) Assert.Equal(3, TiledGemm.Splits(outF, inF, rows));
        var bia = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(BiasWrapper);

        using var gx = h.Upload(x);
        using var gw = h.Upload(w);
        using var gb = bias ? h.Upload(b!) : h.Zeros(1);
        using var gdy = h.Upload(dy);
        using var gy = h.Upload(Rng.Floats(rows * outF, 35, 50f));
        using var gdx = h.Upload(Filled(rows * inF, 0.5f));
        using var gdw = h.Upload(Filled(outF * inF, -0.25f));
        using var gdb = h.Upload(Filled(outF, 1.5f));
        // Stale values in the workspace must not leak into the result.
        using var gws = h.Upload(Rng.Floats((int)Math.Max(1, Linear.BackwardWeightWorkspace(inF, outF)), 36, 1e3f));

        fwd(Linear.ForwardKernelConfig(rows, outF), gy.View, gx.View, gw.View, gb.View, rows, inF, outF);
        inp(Linear.BackwardInputKernelConfig(rows, inF), gdx.View, gdy.View, gw.View, rows, inF, outF);
        wgt(Linear.BackwardWeightKernelConfig(rows, inF, outF), gdw.View, gws.View, gdy.View, gx.View, rows, inF, outF);
        sum(outF * inF + 3, gdw.View, gws.View, outF, inF, rows, inF);
        if (bias) bia(Linear.BackwardBiasKernelConfig(outF), gdb.View, gdy.View, rows, outF);
        h.Accelerator.Synchronize();

        // The CPU backend and the kernels sum in different orders: over 1000 rows the sums differ in the last bits.
        Approx.Equal(y, KernelHarness.Download(gy), 1e-5, 1e-5, "y kernel");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-5, 1e-5, "dx kernel");
        Approx.Equal(dw, KernelHarness.Download(gdw), 1e-4, 1e-5, "dw kernel");
        if (bias) Approx.Equal(db, KernelHarness.Download(gdb), 1e-4, 1e-5, "db kernel");
    }
}
