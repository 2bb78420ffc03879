using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class TokenMapTests
{
    static double[] ToMapReference(double[] tokens, int batch, int skip, int channels, int height, int width)
    {
        int pixels = height * width;
        var map = new double[batch * channels * pixels];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int h = 0; h < height; h++)
                    for (int w = 0; w < width; w++)
                        map[((b * channels + c) * height + h) * width + w] = tokens[(b * (skip + pixels) + skip + h * width + w) * channels + c];
        return map;
    }

    static double[] ToTokensReference(double[] map, int batch, int channels, int height, int width)
    {
        int pixels = height * width;
        var tokens = new double[batch * pixels * channels];
        for (int b = 0; b < batch; b++)
            for (int p = 0; p < pixels; p++)
                for (int c = 0; c < channels; c++)
                    tokens[(b * pixels + p) * channels + c] = map[(b * channels + c) * pixels + p];
        return tokens;
    }

    static double[] Shift(double[] a, double v)
    {
        var s = new double[a.Length];
        for (int i = 0; i < a.Length; i++) s[i] = a[i] + v;
        return s;
    }

    [Theory]
    [InlineData(1, 0, 1, 1, 1)]
    [InlineData(2, 1, 3, 5, 7)]
    [InlineData(3, 2, 7, 4, 3)]
    [InlineData(2, 1, 192, 14, 14)]
    [InlineData(4, 0, 64, 33, 35)]
    public void ToMap_Forward_MatchesReference(int batch, int skip, int channels, int height, int width)
    {
        var tokens = Rng.Floats(batch * (skip + height * width) * channels, 1);
        var map = Rng.Floats(batch * channels * height * width, 2, 100f);
        TokenMap.ToMapForward(map, tokens, batch, skip, channels, height, width);
        Approx.Equal(ToMapReference(Rng.ToDouble(tokens), batch, skip, channels, height, width), map, 0, 0, "map");
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 3, 5, 7)]
    [InlineData(2, 192, 14, 14)]
    [InlineData(4, 64, 33, 35)]
    public void ToTokens_Forward_MatchesReference_AndInvertsToMap(int batch, int channels, int height, int width)
    {
        var map = Rng.Floats(batch * channels * height * width, 3);
        var tokens = Rng.Floats(map.Length, 4, 100f);
        TokenMap.ToTokensForward(tokens, map, batch, channels, height, width);
        Approx.Equal(ToTokensReference(Rng.ToDouble(map), batch, channels, height, width), tokens, 0, 0, "tokens");
        var back = new float[map.Length];
        TokenMap.ToMapForward(back, tokens, batch, 0, channels, height, width);
        Assert.Equal(map, back);
    }

    [Theory]
    [InlineData(1, 0, 1, 1, 1)]
    [InlineData(2, 1, 3, 5, 7)]
    [InlineData(1, 2, 4, 3, 2)]
    public void ToMap_Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int skip, int channels, int height, int width)
    {
        int nTokens = batch * (skip + height * width) * channels;
        var tokens = Rng.Floats(nTokens, 5);
        var r = Rng.Floats(batch * channels * height * width, 6);
        var td = Rng.ToDouble(tokens);
        var expected = FiniteDifference.Gradient(() => ToMapReference(td, batch, skip, channels, height, width), td, Rng.ToDouble(r));
        var dtokens = Filled(nTokens, 0.25f);
        TokenMap.ToMapBackward(dtokens, r, batch, skip, channels, height, width);
        Approx.Equal(Shift(expected, 0.25), dtokens, 1e-6, 1e-6, "dtokens");
        // The skipped tokens keep exactly what they had.
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < skip * channels; j++) Assert.Equal(0.25f, dtokens[b * (skip + height * width) * channels + j]);
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 3, 5, 7)]
    [InlineData(1, 4, 3, 2)]
    public void ToTokens_Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int channels, int height, int width)
    {
        int n = batch * channels * height * width;
        var map = Rng.Floats(n, 7);
        var r = Rng.Floats(n, 8);
        var md = Rng.ToDouble(map);
        var expected = FiniteDifference.Gradient(() => ToTokensReference(md, batch, channels, height, width), md, Rng.ToDouble(r));
        var dmap = Filled(n, -0.5f);
        TokenMap.ToTokensBackward(dmap, r, batch, channels, height, width);
        Approx.Equal(Shift(expected, -0.5), dmap, 1e-6, 1e-6, "dmap");
    }

    [Theory]
    [InlineData(2, 1, 192, 14, 14)]
    [InlineData(3, 0, 65, 37, 29)]
    public void Backward_LargeParallel_IsTheTranspose(int batch, int skip, int channels, int height, int width)
    {
        int pixels = height * width, nTokens = batch * (skip + pixels) * channels, n = batch * channels * pixels;
        var dmap = Rng.Floats(n, 9);
        var dtokens = Filled(nTokens, 1f);
        TokenMap.ToMapBackward(dtokens, dmap, batch, skip, channels, height, width);
        // Each element receives exactly one addend, so the float result is exact: 1f + dmap.
        var expected = Filled(nTokens, 1f);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int p = 0; p < pixels; p++) expected[(b * (skip + pixels) + skip + p) * channels + c] += dmap[(b * channels + c) * pixels + p];
        Assert.Equal(expected, dtokens);

        var dt = Rng.Floats(n, 10);
        var dm = Filled(n, 1f);
        TokenMap.ToTokensBackward(dm, dt, batch, channels, height, width);
        var em = ToMapReference(Rng.ToDouble(dt), batch, 0, channels, height, width);
        Assert.Equal(Array.ConvertAll(em, v => 1f + (float)v), dm);
    }

    static void ToMapK(Index1D i, ArrayView<float> map, ArrayView<float> tokens, int batch, int skip, int channels, int height, int width) =>
        TokenMap.ToMapForwardKernel(i, map, tokens, batch, skip, channels, height, width);

    static void ToMapBackK(Index1D i, ArrayView<float> dtokens, ArrayView<float> dmap, int batch, int skip, int channels, int height, int width) =>
        TokenMap.ToMapBackwardKernel(i, dtokens, dmap, batch, skip, channels, height, width);

    static void ToTokensK(Index1D i, ArrayView<float> tokens, ArrayView<float> map, int batch, int channels, int height, int width) =>
        TokenMap.ToTokensForwardKernel(i, tokens, map, batch, channels, height, width);

    static void ToTokensBackK(Index1D i, ArrayView<float> dmap, ArrayView<float> dtokens, int batch, int channels, int height, int width) =>
        TokenMap.ToTokensBackwardKernel(i, dmap, dtokens, batch, channels, height, width);

    [Theory]
    [InlineData(2, 1, 3, 5, 7)]
    [InlineData(1, 0, 8, 4, 4)]
    [InlineData(3, 2, 5, 1, 3)]
    public void Kernels_MatchCpu(int batch, int skip, int channels, int height, int width)
    {
        int pixels = height * width, nTokens = batch * (skip + pixels) * channels, n = batch * channels * pixels;
        var tokens = Rng.Floats(nTokens, 11);
        var map = Rng.Floats(n, 12);
        var dmap = Rng.Floats(n, 13);
        var dtok = Rng.Floats(n, 14);

        var y1 = new float[n];
        TokenMap.ToMapForward(y1, tokens, batch, skip, channels, height, width);
        var g1 = Filled(nTokens, 0.5f);
        TokenMap.ToMapBackward(g1, dmap, batch, skip, channels, height, width);
        var y2 = new float[n];
        TokenMap.ToTokensForward(y2, map, batch, channels, height, width);
        var g2 = Filled(n, -0.5f);
        TokenMap.ToTokensBackward(g2, dtok, batch, channels, height, width);

        using var h = new KernelHarness();
        var k1 = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(ToMapK);
        var k2 = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(ToMapBackK);
        var k3 = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(ToTokensK);
        var k4 = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(ToTokensBackK);
        using var tb = h.Upload(tokens);
        using var mb = h.Upload(map);
        using var dmb = h.Upload(dmap);
        using var dtb = h.Upload(dtok);
        using var y1b = h.Upload(Rng.Floats(n, 15, 50f));
        using var g1b = h.Upload(Filled(nTokens, 0.5f));
        using var y2b = h.Upload(Rng.Floats(n, 16, 50f));
        using var g2b = h.Upload(Filled(n, -0.5f));
        k1(n, y1b.View, tb.View, batch, skip, channels, height, width);
        k2(n, g1b.View, dmb.View, batch, skip, channels, height, width);
        k3(n, y2b.View, mb.View, batch, channels, height, width);
        k4(n, g2b.View, dtb.View, batch, channels, height, width);
        h.Accelerator.Synchronize();
        Assert.Equal(y1, KernelHarness.Download(y1b));
        Assert.Equal(g1, KernelHarness.Download(g1b));
        Assert.Equal(y2, KernelHarness.Download(y2b));
        Assert.Equal(g2, KernelHarness.Download(g2b));
    }
}
