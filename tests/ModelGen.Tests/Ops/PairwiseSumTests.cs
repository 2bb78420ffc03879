using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class PairwiseSumTests
{
    static double[] Reference(double[] a, double[] c, int batch, int m, int n)
    {
        var f = new double[batch * m * n];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    f[(b * m + i) * n + j] = a[b * m + i] + c[b * n + j];
        return f;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 3, 5)]
    [InlineData(3, 7, 1)]
    [InlineData(1, 1, 9)]
    [InlineData(4, 49, 49)]
    [InlineData(3, 197, 101)]
    public void Forward_MatchesReference(int batch, int m, int n)
    {
        var a = Rng.Floats(batch * m, 1);
        var c = Rng.Floats(batch * n, 2);
        var f = new float[batch * m * n];
        Array.Fill(f, 9f);
        PairwiseSum.Forward(f, a, c, batch, m, n);
        Approx.Equal(Reference(Rng.ToDouble(a), Rng.ToDouble(c), batch, m, n), f, 1e-7, 1e-7, "pairwise sum f");
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 3, 5)]
    [InlineData(3, 7, 1)]
    [InlineData(2, 1, 6)]
    [InlineData(2, 11, 13)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int m, int n)
    {
        var a = Rng.Floats(batch * m, 3);
        var c = Rng.Floats(batch * n, 4);
        var r = Rng.Floats(batch * m * n, 5);
        double[] ad = Rng.ToDouble(a), cd = Rng.ToDouble(c), rd = Rng.ToDouble(r);
        var ea = FiniteDifference.Gradient(() => Reference(ad, cd, batch, m, n), ad, rd);
        var ec = FiniteDifference.Gradient(() => Reference(ad, cd, batch, m, n), cd, rd);
        var da = new float[batch * m];
        var dc = new float[batch * n];
        Array.Fill(da, 0.5f);
        Array.Fill(dc, -2f);
        PairwiseSum.Backward(da, dc, r, batch, m, n);
        for (int i = 0; i < ea.Length; i++) ea[i] += 0.5;
        for (int j = 0; j < ec.Length; j++) ec[j] -= 2;
        Approx.Equal(ea, da, 1e-5, 1e-5, "pairwise sum da");
        Approx.Equal(ec, dc, 1e-5, 1e-5, "pairwise sum dc");
    }

    [Fact]
    public void Backward_Large_MatchesDoubleSums()
    {
        int batch = 3, m = 197, n = 101;
        var r = Rng.Floats(batch * m * n, 6);
        var da = new float[batch * m];
        var dc = new float[batch * n];
        Array.Fill(da, 1f);
        Array.Fill(dc, 1f);
        PairwiseSum.Backward(da, dc, r, batch, m, n);
        var ea = new double[batch * m];
        var ec = new double[batch * n];
        Array.Fill(ea, 1.0);
        Array.Fill(ec, 1.0);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    ea[b * m + i] += r[(b * m + i) * n + j];
                    ec[b * n + j] += r[(b * m + i) * n + j];
                }
        Approx.Equal(ea, da, 1e-4, 1e-5, "pairwise sum da large");
        Approx.Equal(ec, dc, 1e-4, 1e-5, "pairwise sum dc large");
    }

    static void ForwardK(Index1D i, ArrayView<float> f, ArrayView<float> a, ArrayView<float> c, int batch, int m, int n) =>
        PairwiseSum.ForwardKernel(i, f, a, c, batch, m, n);

    static void BackwardAK(Index1D i, ArrayView<float> da, ArrayView<float> df, int batch, int m, int n) =>
        PairwiseSum.BackwardAKernel(i, da, df, batch, m, n);

    static void BackwardCK(Index1D i, ArrayView<float> dc, ArrayView<float> df, int batch, int m, int n) =>
        PairwiseSum.BackwardCKernel(i, dc, df, batch, m, n);

    [Theory]
    [InlineData(2, 7, 13)]
    [InlineData(3, 50, 1)]
    [InlineData(1, 1, 17)]
    public void Kernels_MatchCpuBitExactly(int batch, int m, int n)
    {
        var a = Rng.Floats(batch * m, 7);
        var c = Rng.Floats(batch * n, 8);
        var r = Rng.Floats(batch * m * n, 9);
        var f = new float[batch * m * n];
        PairwiseSum.Forward(f, a, c, batch, m, n);
        var da = new float[batch * m];
        var dc = new float[batch * n];
        Array.Fill(da, 0.5f);
        Array.Fill(dc, -0.25f);
        PairwiseSum.Backward(da, dc, r, batch, m, n);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(ForwardK);
        var bwdA = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(BackwardAK);
        var bwdC = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(BackwardCK);
        using var ab = h.Upload(a);
        using var cb = h.Upload(c);
        using var rb = h.Upload(r);
        using var fb = h.Zeros(batch * m * n);
        var initA = new float[batch * m];
        Array.Fill(initA, 0.5f);
        var initC = new float[batch * n];
        Array.Fill(initC, -0.25f);
        using var dab = h.Upload(initA);
        using var dcb = h.Upload(initC);
        fwd(batch * m * n, fb.View, ab.View, cb.View, batch, m, n);
        bwdA(batch * m, dab.View, rb.View, batch, m, n);
        bwdC(batch * n, dcb.View, rb.View, batch, m, n);
        h.Accelerator.Synchronize();
        Assert.Equal(f, KernelHarness.Download(fb));
        Assert.Equal(da, KernelHarness.Download(dab));
        Assert.Equal(dc, KernelHarness.Download(dcb));
    }
}
