using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

/// <summary>A linear layer into a residual sum, fused: on the CPU exactly Linear then Add (bit for bit); on the GPU-shaped
/// simulator the epilogue-fused forward (branch and sum) and the backward from dy itself agree with it.</summary>
public class LinearResidualTests
{
    [Fact]
    public void Cpu_IsLinearThenAdd()
    {
        const int rows = 23, inF = 40, outF = 24;
        var x = Rng.Floats(rows * inF, 1);
        var w = Rng.Floats(outF * inF, 2);
        var b = Rng.Floats(outF, 3);
        var r = Rng.Floats(rows * outF, 4);
        var dy = Rng.Floats(rows * outF, 5);
        float[] y = new float[rows * outF], branch = new float[rows * outF];
        LinearResidual.Forward(y, branch, x, w, b, r, rows, inF, outF);
        float[] eBranch = new float[rows * outF], eY = new float[rows * outF];
        Linear.Forward(eBranch, x, w, b, rows, inF, outF);
        Add.Forward(eY, r, eBranch, rows * outF);
        Assert.Equal(eBranch, branch);
        Assert.Equal(eY, y);

        float[] dx = Filled(rows * inF, 0.5f), dw = new float[outF * inF], db = new float[outF], dbranch = new float[rows * outF], dr = Filled(rows * outF, 1f);
        LinearResidual.Backward(dx, dw, db, dbranch, dr, dy, x, w, rows, inF, outF);
        float[] ex = Filled(rows * inF, 0.5f), ew = new float[outF * inF], eb = new float[outF], ebranch = new float[rows * outF], er = Filled(rows * outF, 1f);
        Add.Backward(er, ebranch, dy, rows * outF);
        Linear.Backward(ex, ew, eb, ebranch, x, w, rows, inF, outF);
        Assert.Equal(er, dr);
        Assert.Equal(ex, dx);
        Assert.Equal(ew, dw);
        Assert.Equal(eb, db);
        // The branch's gradient is dy exactly, which the device's backward uses directly.
        Assert.Equal(dy, dbranch);
    }

    /// <summary>Sizes as one kernel argument.</summary>
    public readonly record struct Sizes(int Rows, int In, int Out, int Bias);

    static void ForwardK(ArrayView<float> y, ArrayView<float> branch, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> r, Sizes s) =>
        LinearResidual.ForwardKernel(y, branch, x, w, b, r, s.Rows, s.In, s.Out, s.Bias != 0, tensorCores: false);

    [Theory]
    [InlineData(13, 17, 70, true)]
    [InlineData(70, 64, 65, false)]
    public void Kernels_MatchCpu(int rows, int inF, int outF, bool bias)
    {
        var x = Rng.Floats(rows * inF, 11);
        var w = Rng.Floats(outF * inF, 12);
        var b = Rng.Floats(outF, 13);
        var r = Rng.Floats(rows * outF, 14);
        var dy = Rng.Floats(rows * outF, 15);
        float[] y = new float[rows * outF], branch = new float[rows * outF];
        LinearResidual.Forward(y, branch, x, w, bias ? b : null, r, rows, inF, outF);
        var dr = Filled(rows * outF, 0.25f);
        LinearResidual.Backward(new float[rows * inF], new float[outF * inF], null, new float[rows * outF], dr, dy, x, w, rows, inF, outF);

        using var h = new KernelHarness();
        var acc = h.Accelerator;
        using var gx = h.Upload(x);
        using var gw = h.Upload(w);
        using var gb = bias ? h.Upload(b) : h.Zeros(1);
        using var gr = h.Upload(r);
        using var gdy = h.Upload(dy);
        using var gy = h.Upload(Rng.Floats(rows * outF, 16, 50f));
        using var gbranch = h.Upload(Rng.Floats(rows * outF, 17, 50f));
        using var gdr = h.Upload(Filled(rows * outF, 0.25f));
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(ForwardK)(
            LinearResidual.ForwardKernelConfig(rows, outF), gy.View, gbranch.View, gx.View, gw.View, gb.View, gr.View, new Sizes(rows, inF, outF, bias ? 1 : 0));
        acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(LinearResidual.BackwardResidualKernel)(rows * outF + 3, gdr.View, gdy.View, rows * outF);
        acc.Synchronize();
        Approx.Equal(branch, KernelHarness.Download(gbranch), 1e-5, 1e-5, "branch");
        Approx.Equal(y, KernelHarness.Download(gy), 1e-5, 1e-5, "y");
        Assert.Equal(dr, KernelHarness.Download(gdr));
    }
}
