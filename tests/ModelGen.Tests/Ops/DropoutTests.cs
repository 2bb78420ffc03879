using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class DropoutTests
{
    /// <summary>The documented mask, written out independently: murmur3 fmix32, h = fmix(fmix(index + fmix(seed)) ^ seed),
    /// dropped when (h >> 8) / 2^24 &lt; p, kept elements scaled by 1/(1-p).</summary>
    static ulong Fmix(ulong h)
    {
        h &= 0xFFFFFFFF;
        h ^= h >> 16;
        h = (h * 0x85EBCA6B) & 0xFFFFFFFF;
        h ^= h >> 13;
        h = (h * 0xC2B2AE35) & 0xFFFFFFFF;
        h ^= h >> 16;
        return h;
    }

    static bool Dropped(uint seed, int index, float p)
    {
        ulong h = Fmix(Fmix(((ulong)index + Fmix(seed)) & 0xFFFFFFFF) ^ seed);
        return (h >> 8) / 16777216.0 < p;
    }

    static double[] Reference(double[] x, uint seed, float p)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = Dropped(seed, i, p) ? 0 : x[i] / (1.0 - p);
        return y;
    }

    [Theory]
    [InlineData(1, 0.5f, 1u)]
    [InlineData(37, 0.1f, 2u)]
    [InlineData(197, 0.5f, 3u)]
    [InlineData(1000, 0.25f, 4u)]
    [InlineData(70001, 0.9f, 0xDEADBEEFu)]
    public void Forward_MatchesReference(int n, float p, uint seed)
    {
        var x = Rng.Floats(n, 1);
        var y = new float[n];
        var mask = new float[n];
        Dropout.Forward(y, mask, x, n, p, seed);
        Approx.Equal(Reference(Rng.ToDouble(x), seed, p), y, 0, 1e-6, "dropout y");
        float scale = 1f / (1f - p);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(Dropped(seed, i, p) ? 0f : scale, mask[i]);
            Assert.Equal(x[i] * mask[i], y[i]);
        }
    }

    [Fact]
    public void ZeroProbability_CopiesAndSetsMaskToOne()
    {
        int n = 1001;
        var x = Rng.Floats(n, 2);
        var y = new float[n];
        var mask = new float[n];
        Dropout.Forward(y, mask, x, n, 0f, 7u);
        Assert.Equal(x, y);
        Assert.All(mask, m => Assert.Equal(1f, m));
        Assert.Equal(1f, Dropout.Keep(7u, 5, 0f));
    }

    [Fact]
    public void Scale_IsCorrectlyRoundedReciprocal()
    {
        var r = new Random(3);
        var ps = new float[20000];
        for (int k = 0; k < ps.Length; k++) ps[k] = (float)r.NextDouble();
        ps[0] = 0f; ps[1] = 0.5f; ps[2] = 0.1f; ps[3] = 0.75f; ps[4] = 1f - 1f / 16777216f; ps[5] = 0.2f; ps[6] = 1f / 3f;
        foreach (float p in ps)
            Assert.True(1f / (1f - p) == Dropout.Scale(p), $"p={p:R}: {1f / (1f - p):R} vs {Dropout.Scale(p):R}");
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    public void DropFraction_IsWithinFiveSigmaOfP_AndNeighboursAreIndependent(float p)
    {
        int n = 100000;
        var x = new float[n];
        Array.Fill(x, 1f);
        var y = new float[n];
        var mask = new float[n];
        Dropout.Forward(y, mask, x, n, p, 12345u);
        int dropped = 0, pairs = 0;
        for (int i = 0; i < n; i++)
        {
            if (mask[i] == 0f) dropped++;
            if (i > 0 && mask[i] == 0f && mask[i - 1] == 0f) pairs++;
        }
        double sigma = Math.Sqrt(n * p * (1 - p));
        Assert.True(Math.Abs(dropped - n * p) < 5 * sigma, $"dropped {dropped} of {n}, expected {n * p} ± {sigma:F0}");
        double pp = (double)p * p, pairSigma = Math.Sqrt((n - 1) * pp * (1 - pp) * 3);
        Assert.True(Math.Abs(pairs - (n - 1) * pp) < 5 * pairSigma, $"adjacent drops {pairs}, expected {(n - 1) * pp:F0} ± {pairSigma:F0}");
    }

    [Fact]
    public void SameSeedRepeats_DifferentSeedsAreUncorrelated()
    {
        int n = 100000;
        float p = 0.5f;
        var x = Rng.Floats(n, 3);
        var y = new float[n];
        var a = new float[n];
        var b = new float[n];
        var c = new float[n];
        Dropout.Forward(y, a, x, n, p, 42u);
        Dropout.Forward(y, b, x, n, p, 42u);
        Dropout.Forward(y, c, x, n, p, 43u);
        Assert.Equal(a, b);
        int same = 0;
        for (int i = 0; i < n; i++) if (a[i] == c[i]) same++;
        // Independent masks agree with probability p² + (1-p)² = 0.5.
        double sigma = Math.Sqrt(n * 0.25);
        Assert.True(Math.Abs(same - n * 0.5) < 5 * sigma, $"seeds 42 and 43 agree on {same} of {n}");
    }

    [Theory]
    [InlineData(37)]
    [InlineData(197)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int n)
    {
        float p = 0.3f;
        uint seed = 99u;
        var x = Rng.Floats(n, 4);
        var r = Rng.Floats(n, 5);
        var y = new float[n];
        var mask = new float[n];
        Dropout.Forward(y, mask, x, n, p, seed);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, seed, p), xd, Rng.ToDouble(r));
        var dx = new float[n];
        Array.Fill(dx, -0.5f);
        Dropout.Backward(dx, r, mask, n);
        for (int i = 0; i < n; i++) expected[i] -= 0.5;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "dropout dx");
    }

    [Fact]
    public void Backward_Large()
    {
        int n = 70001;
        var r = Rng.Floats(n, 6);
        var mask = new float[n];
        var y = new float[n];
        Dropout.Forward(y, mask, Rng.Floats(n, 7), n, 0.4f, 5u);
        var dx = new float[n];
        Array.Fill(dx, 1f);
        Dropout.Backward(dx, r, mask, n);
        for (int i = 0; i < n; i++) Assert.Equal(r[i] * mask[i] + 1f, dx[i]);
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> mask, ArrayView<float> x, int n, float p, uint seed) =>
        Dropout.ForwardKernel(i, y, mask, x, n, p, seed);

    static void BackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> mask, int n) =>
        Dropout.BackwardKernel(i, dx, dy, mask, n);

    [Theory]
    [InlineData(0.1f, 11u)]
    [InlineData(0.5f, 0xFFFFFFFFu)]
    [InlineData(0f, 3u)]
    public void Kernels_MatchCpuBitExactly(float p, uint seed)
    {
        int n = 2003;
        var x = Rng.Floats(n, 8);
        var r = Rng.Floats(n, 9);
        var y = new float[n];
        var mask = new float[n];
        Dropout.Forward(y, mask, x, n, p, seed);
        var dx = new float[n];
        Array.Fill(dx, 0.5f);
        Dropout.Backward(dx, r, mask, n);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, uint>(ForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(BackwardK);
        using var xb = h.Upload(x);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(n);
        using var mb = h.Zeros(n);
        using var dxb = h.Filled(n, 0.5f);
        fwd(n, yb.View, mb.View, xb.View, n, p, seed);
        bwd(n, dxb.View, rb.View, mb.View, n);
        h.Accelerator.Synchronize();
        Assert.Equal(mask, KernelHarness.Download(mb));
        Assert.Equal(y, KernelHarness.Download(yb));
        Assert.Equal(dx, KernelHarness.Download(dxb));
    }
}
