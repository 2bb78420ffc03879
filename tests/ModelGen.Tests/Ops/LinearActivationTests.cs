using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

/// <summary>A feed-forward block's fc1 and activation fused: on the CPU exactly Linear then GELU or ReLU (bit for bit); on the
/// GPU-shaped simulator the epilogue-fused forward and the backward that reads dy ⊙ act′(pre) on the fly agree with it.</summary>
public class LinearActivationTests
{
    [Theory]
    [InlineData(LinearActivation.GeluKind)]
    [InlineData(LinearActivation.ReluKind)]
    public void Cpu_IsLinearThenTheActivation(int kind)
    {
        const int rows = 29, inF = 20, outF = 36;
        var x = Rng.Floats(rows * inF, 1);
        var w = Rng.Floats(outF * inF, 2);
        var b = Rng.Floats(outF, 3);
        var dy = Rng.Floats(rows * outF, 4);
        float[] y = new float[rows * outF], pre = new float[rows * outF];
        LinearActivation.Forward(y, pre, x, w, b, rows, inF, outF, kind);
        float[] ePre = new float[rows * outF], eY = new float[rows * outF];
        Linear.Forward(ePre, x, w, b, rows, inF, outF);
        if (kind == LinearActivation.GeluKind) Gelu.Forward(eY, ePre, rows * outF);
        else Relu.Forward(eY, ePre, rows * outF);
        Assert.Equal(ePre, pre);
        Assert.Equal(eY, y);

        float[] dx = Filled(rows * inF, 0.5f), dw = new float[outF * inF], db = new float[outF], dpre = new float[rows * outF];
        LinearActivation.Backward(dx, dw, db, dpre, dy, pre, x, w, rows, inF, outF, kind);
        float[] ex = Filled(rows * inF, 0.5f), ew = new float[outF * inF], eb = new float[outF], epre = new float[rows * outF];
        if (kind == LinearActivation.GeluKind) Gelu.Backward(epre, dy, ePre, rows * outF);
        else Relu.Backward(epre, dy, ePre, rows * outF);
        Linear.Backward(ex, ew, eb, epre, x, w, rows, inF, outF);
        Assert.Equal(epre, dpre);
        Assert.Equal(ex, dx);
        Assert.Equal(ew, dw);
        Assert.Equal(eb, db);
    }

    /// <summary>Sizes as one kernel argument.</summary>
    public readonly record struct Sizes(int Rows, int In, int Out, int Kind);

    static void ForwardK(ArrayView<float> y, ArrayView<float> pre, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, Sizes s) =>
        LinearActivation.ForwardKernel(y, pre, x, w, b, s.Rows, s.In, s.Out, s.Kind, tensorCores: false);

    static void InputK(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> pre, ArrayView<float> w, Sizes s) =>
        LinearActivation.BackwardInputKernel(dx, dy, pre, w, s.Rows, s.In, s.Out, s.Kind, tensorCores: false);

    static void WeightK(ArrayView<float> dw, ArrayView<float> ws, ArrayView<float> dy, ArrayView<float> pre, ArrayView<float> x, Sizes s) =>
        LinearActivation.BackwardWeightKernel(dw, ws, dy, pre, x, s.Rows, s.In, s.Out, s.Kind, tensorCores: false);

    static void BiasK(ArrayView<float> db, ArrayView<float> dy, ArrayView<float> pre, Sizes s) =>
        LinearActivation.BackwardBiasKernel(db, dy, pre, s.Rows, s.Out, s.Kind);

    /// <summary>Sizes across the 64×64 tiles and the column sum's 32 columns; 600 rows cut the weight gradient into two slices.</summary>
    [Theory]
    [InlineData(13, 17, 70, LinearActivation.GeluKind)]
    [InlineData(600, 24, 40, LinearActivation.GeluKind)]
    [InlineData(65, 9, 33, LinearActivation.ReluKind)]
    public void Kernels_MatchCpu(int rows, int inF, int outF, int kind)
    {
        var x = Rng.Floats(rows * inF, 11);
        var w = Rng.Floats(outF * inF, 12);
        var b = Rng.Floats(outF, 13);
        var dy = Rng.Floats(rows * outF, 14);
        float[] y = new float[rows * outF], pre = new float[rows * outF];
        LinearActivation.Forward(y, pre, x, w, b, rows, inF, outF, kind);
        float[] dx = Filled(rows * inF, 0.5f), dw = Filled(outF * inF, -0.25f), db = Filled(outF, 1.5f);
        LinearActivation.Backward(dx, dw, db, new float[rows * outF], dy, pre, x, w, rows, inF, outF, kind);

        using var h = new KernelHarness();
        var acc = h.Accelerator;
        var s = new Sizes(rows, inF, outF, kind);
        if (rows == 600) Assert.Equal(2, TiledGemm.Splits(outF, inF, rows));
        using var gx = h.Upload(x);
        using var gw = h.Upload(w);
        using var gb = h.Upload(b);
        using var gdy = h.Upload(dy);
        using var gy = h.Upload(Rng.Floats(rows * outF, 15, 50f));
        using var gpre = h.Upload(Rng.Floats(rows * outF, 16, 50f));
        using var gdx = h.Upload(Filled(rows * inF, 0.5f));
        using var gdw = h.Upload(Filled(outF * inF, -0.25f));
        using var gdb = h.Upload(Filled(outF, 1.5f));
        using var gws = h.Upload(Rng.Floats((int)Math.Max(1, Linear.BackwardWeightWorkspace(inF, outF)), 17, 1e3f));
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(ForwardK)(
            LinearActivation.ForwardKernelConfig(rows, outF), gy.View, gpre.View, gx.View, gw.View, gb.View, s);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(InputK)(
            LinearActivation.BackwardInputKernelConfig(rows, inF), gdx.View, gdy.View, gpre.View, gw.View, s);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(WeightK)(
            LinearActivation.BackwardWeightKernelConfig(rows, inF, outF), gdw.View, gws.View, gdy.View, gpre.View, gx.View, s);
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(TiledGemm.SumSplitsKernel)(
            outF * inF, gdw.View, gws.View, outF, inF, rows, inF);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(BiasK)(
            LinearActivation.BackwardBiasKernelConfig(outF), gdb.View, gdy.View, gpre.View, s);
        acc.Synchronize();
        Approx.Equal(pre, KernelHarness.Download(gpre), 1e-5, 1e-5, "pre");
        Approx.Equal(y, KernelHarness.Download(gy), 1e-5, 1e-5, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-5, 1e-5, "dx");
        Approx.Equal(dw, KernelHarness.Download(gdw), 1e-4, 1e-5, "dw");
        Approx.Equal(db, KernelHarness.Download(gdb), 1e-4, 1e-5, "db");
    }
}
