using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

/// <summary>Self-attention's fused q, k, v projections: on the CPU exactly three Linear layers (bit for bit, the backward in the
/// unfused layers' order); the fused kernels on the GPU-shaped simulator against them, with the three widths different
/// (grouped-query) and not dividing the tiles.</summary>
public class ProjectionsTests
{
    [Fact]
    public void Cpu_IsThreeLinearLayers()
    {
        const int rows = 37, inF = 24, oq = 24, ok = 8, ov = 16;
        var x = Rng.Floats(rows * inF, 1);
        float[] wq = Rng.Floats(oq * inF, 2), wk = Rng.Floats(ok * inF, 3), wv = Rng.Floats(ov * inF, 4);
        float[] bq = Rng.Floats(oq, 5), bk = Rng.Floats(ok, 6), bv = Rng.Floats(ov, 7);
        float[] dyq = Rng.Floats(rows * oq, 8), dyk = Rng.Floats(rows * ok, 9), dyv = Rng.Floats(rows * ov, 10);

        float[] yq = new float[rows * oq], yk = new float[rows * ok], yv = new float[rows * ov];
        Projections.Forward(yq, yk, yv, x, wq, wk, wv, bq, bk, bv, rows, inF, oq, ok, ov);
        float[] eq = new float[rows * oq], ek = new float[rows * ok], ev = new float[rows * ov];
        Linear.Forward(eq, x, wq, bq, rows, inF, oq);
        Linear.Forward(ek, x, wk, bk, rows, inF, ok);
        Linear.Forward(ev, x, wv, bv, rows, inF, ov);
        Assert.Equal(eq, yq);
        Assert.Equal(ek, yk);
        Assert.Equal(ev, yv);

        var dx = Filled(rows * inF, 0.5f);
        float[] dwq = new float[oq * inF], dwk = new float[ok * inF], dwv = new float[ov * inF], dbq = new float[oq], dbk = new float[ok], dbv = new float[ov];
        Projections.Backward(dx, dwq, dwk, dwv, dbq, dbk, dbv, dyq, dyk, dyv, x, wq, wk, wv, rows, inF, oq, ok, ov);
        var ex = Filled(rows * inF, 0.5f);
        float[] fwq = new float[oq * inF], fwk = new float[ok * inF], fwv = new float[ov * inF], fbq = new float[oq], fbk = new float[ok], fbv = new float[ov];
        Linear.Backward(ex, fwv, fbv, dyv, x, wv, rows, inF, ov);
        Linear.Backward(ex, fwk, fbk, dyk, x, wk, rows, inF, ok);
        Linear.Backward(ex, fwq, fbq, dyq, x, wq, rows, inF, oq);
        Assert.Equal(ex, dx);
        Assert.Equal(fwq, dwq);
        Assert.Equal(fwk, dwk);
        Assert.Equal(fwv, dwv);
        Assert.Equal(fbq, dbq);
    }

    /// <summary>The sizes as one kernel argument (ILGPU's loaders take at most 15).</summary>
    public readonly record struct Sizes(int Rows, int In, int Q, int K, int V, int Bias);

    static void ForwardK(ArrayView<float> yq, ArrayView<float> yk, ArrayView<float> yv, ArrayView<float> x, ArrayView<float> wq, ArrayView<float> wk,
        ArrayView<float> wv, ArrayView<float> bq, ArrayView<float> bk, ArrayView<float> bv, Sizes s) =>
        Projections.ForwardKernel(yq, yk, yv, x, wq, wk, wv, bq, bk, bv, s.Rows, s.In, s.Q, s.K, s.V, s.Bias != 0, tensorCores: false);

    static void InputK(ArrayView<float> dx, ArrayView<float> dyq, ArrayView<float> dyk, ArrayView<float> dyv, ArrayView<float> wq, ArrayView<float> wk,
        ArrayView<float> wv, Sizes s) =>
        Projections.BackwardInputKernel(dx, dyq, dyk, dyv, wq, wk, wv, s.Rows, s.In, s.Q, s.K, s.V, tensorCores: false);

    [Theory]
    [InlineData(70, 24, 24, 8, 16, true)]
    [InlineData(13, 80, 80, 80, 80, false)]
    [InlineData(5, 16, 130, 66, 3, true)]
    public void Kernels_MatchCpu(int rows, int inF, int oq, int ok, int ov, bool bias)
    {
        var x = Rng.Floats(rows * inF, 11);
        float[] wq = Rng.Floats(oq * inF, 12), wk = Rng.Floats(ok * inF, 13), wv = Rng.Floats(ov * inF, 14);
        float[]? bq = bias ? Rng.Floats(oq, 15) : null, bk = bias ? Rng.Floats(ok, 16) : null, bv = bias ? Rng.Floats(ov, 17) : null;
        float[] dyq = Rng.Floats(rows * oq, 18), dyk = Rng.Floats(rows * ok, 19), dyv = Rng.Floats(rows * ov, 20);
        float[] yq = new float[rows * oq], yk = new float[rows * ok], yv = new float[rows * ov];
        Projections.Forward(yq, yk, yv, x, wq, wk, wv, bq, bk, bv, rows, inF, oq, ok, ov);
        var dx = Filled(rows * inF, 0.5f);
        Projections.Backward(dx, new float[oq * inF], new float[ok * inF], new float[ov * inF], null, null, null, dyq, dyk, dyv, x, wq, wk, wv,
            rows, inF, oq, ok, ov);

        using var h = new KernelHarness();
        var acc = h.Accelerator;
        var fwd = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(ForwardK);
        var inp = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, Sizes>(InputK);
        var sizes = new Sizes(rows, inF, oq, ok, ov, bias ? 1 : 0);
        using var gx = h.Upload(x);
        using var gwq = h.Upload(wq);
        using var gwk = h.Upload(wk);
        using var gwv = h.Upload(wv);
        using var gbq = bias ? h.Upload(bq!) : h.Zeros(1);
        using var gbk = bias ? h.Upload(bk!) : h.Zeros(1);
        using var gbv = bias ? h.Upload(bv!) : h.Zeros(1);
        using var gyq = h.Upload(Rng.Floats(rows * oq, 21, 50f));
        using var gyk = h.Upload(Rng.Floats(rows * ok, 22, 50f));
        using var gyv = h.Upload(Rng.Floats(rows * ov, 23, 50f));
        using var gdyq = h.Upload(dyq);
        using var gdyk = h.Upload(dyk);
        using var gdyv = h.Upload(dyv);
        using var gdx = h.Upload(Filled(rows * inF, 0.5f));
        fwd(Projections.ForwardKernelConfig(rows, oq, ok, ov), gyq.View, gyk.View, gyv.View, gx.View, gwq.View, gwk.View, gwv.View,
            gbq.View, gbk.View, gbv.View, sizes);
        inp(Projections.BackwardInputKernelConfig(rows, inF), gdx.View, gdyq.View, gdyk.View, gdyv.View, gwq.View, gwk.View, gwv.View, sizes);
        acc.Synchronize();
        Approx.Equal(yq, KernelHarness.Download(gyq), 1e-5, 1e-5, "q");
        Approx.Equal(yk, KernelHarness.Download(gyk), 1e-5, 1e-5, "k");
        Approx.Equal(yv, KernelHarness.Download(gyv), 1e-5, 1e-5, "v");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-5, 1e-5, "dx");
    }
}
