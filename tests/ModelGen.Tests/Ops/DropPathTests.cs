using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class DropPathTests
{
    /// <summary>timm's drop_path written out in double precision: sample b's branch is zeroed when its uniform draw
    /// (the documented hash of (seed, b), the same as dropout's of element b) is below p, else scaled by 1/(1-p).</summary>
    static double[] Reference(double[] x, int batch, int perSample, uint seed, float p)
    {
        var y = new double[x.Length];
        for (int b = 0; b < batch; b++)
        {
            bool dropped = (Dropout.Hash(seed, b) >> 8) / 16777216.0 < p;
            for (int j = 0; j < perSample; j++) y[b * perSample + j] = dropped ? 0 : x[b * perSample + j] / (1.0 - p);
        }
        return y;
    }

    [Theory]
    [InlineData(1, 5, 0.5f, 1u)]
    [InlineData(8, 50 * 64, 0.1f, 2u)]
    [InlineData(33, 17, 0.5f, 3u)]
    [InlineData(128, 50 * 64, 0.25f, 4u)]
    public void Forward_MatchesReference_WholeSamplesKeptOrDropped(int batch, int perSample, float p, uint seed)
    {
        var x = Rng.Floats(batch * perSample, 1);
        var y = new float[x.Length];
        var mask = new float[batch];
        DropPath.Forward(y, mask, x, batch, perSample, p, seed);
        Approx.Equal(Reference(Rng.ToDouble(x), batch, perSample, seed, p), y, 0, 1e-6, "drop path y");
        for (int b = 0; b < batch; b++)
        {
            Assert.True(mask[b] == 0f || mask[b] == 1f / (1f - p), $"sample {b} multiplier {mask[b]}");
            for (int j = 0; j < perSample; j++) Assert.Equal(x[b * perSample + j] * mask[b], y[b * perSample + j]);
        }
    }

    [Fact]
    public void DropFraction_IsWithinFiveSigmaOfP()
    {
        int batch = 20000;
        float p = 0.2f;
        var x = new float[batch];
        Array.Fill(x, 1f);
        var y = new float[batch];
        var mask = new float[batch];
        DropPath.Forward(y, mask, x, batch, 1, p, 777u);
        int dropped = 0;
        foreach (float m in mask) if (m == 0f) dropped++;
        double sigma = Math.Sqrt(batch * p * (1 - p));
        Assert.True(Math.Abs(dropped - batch * p) < 5 * sigma, $"dropped {dropped} of {batch}, expected {batch * p} ± {sigma:F0}");
    }

    [Fact]
    public void ZeroProbability_IsTheIdentity()
    {
        var x = Rng.Floats(4 * 9, 2);
        var y = new float[x.Length];
        var mask = new float[4];
        DropPath.Forward(y, mask, x, 4, 9, 0f, 5u);
        Assert.Equal(x, y);
        Assert.All(mask, m => Assert.Equal(1f, m));
    }

    [Fact]
    public void RejectsProbabilityOutsideUnitInterval()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => DropPath.Forward(new float[4], new float[2], new float[4], 2, 2, 1f, 0u));
        Assert.Contains("[0, 1)", e.Message);
    }

    [Theory]
    [InlineData(6, 7)]
    [InlineData(16, 3000)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int perSample)
    {
        float p = 0.5f;
        uint seed = 21u;
        int n = batch * perSample;
        var x = Rng.Floats(n, 4);
        var r = Rng.Floats(n, 5);
        var mask = new float[batch];
        DropPath.Forward(new float[n], mask, x, batch, perSample, p, seed);
        Assert.Contains(0f, mask);
        Assert.Contains(2f, mask);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, batch, perSample, seed, p), xd, Rng.ToDouble(r));
        var dx = new float[n];
        Array.Fill(dx, -0.5f);
        DropPath.Backward(dx, r, mask, batch, perSample);
        for (int i = 0; i < n; i++) expected[i] -= 0.5;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "drop path dx");
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> mask, ArrayView<float> x, int batch, int perSample, float p, uint seed) =>
        DropPath.ForwardKernel(i, y, mask, x, batch, perSample, p, seed);

    static void BackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> mask, int batch, int perSample) =>
        DropPath.BackwardKernel(i, dx, dy, mask, batch, perSample);

    [Theory]
    [InlineData(0.3f, 11u)]
    [InlineData(0f, 3u)]
    public void Kernels_MatchCpuBitExactly(float p, uint seed)
    {
        int batch = 24, perSample = 101, n = batch * perSample;
        var x = Rng.Floats(n, 8);
        var r = Rng.Floats(n, 9);
        var y = new float[n];
        var mask = new float[batch];
        DropPath.Forward(y, mask, x, batch, perSample, p, seed);
        var dx = new float[n];
        Array.Fill(dx, 0.5f);
        DropPath.Backward(dx, r, mask, batch, perSample);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, uint>(ForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(BackwardK);
        using var xb = h.Upload(x);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(n);
        using var mb = h.Zeros(batch);
        using var dxb = h.Filled(n, 0.5f);
        fwd(n, yb.View, mb.View, xb.View, batch, perSample, p, seed);
        bwd(n, dxb.View, rb.View, mb.View, batch, perSample);
        h.Accelerator.Synchronize();
        Assert.Equal(mask, KernelHarness.Download(mb));
        Assert.Equal(y, KernelHarness.Download(yb));
        Assert.Equal(dx, KernelHarness.Download(dxb));
    }
}
