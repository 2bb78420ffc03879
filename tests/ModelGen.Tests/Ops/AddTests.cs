using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class AddTests
{
    static double[] Reference(double[] a, double[] b)
    {
        var y = new double[a.Length];
        for (int i = 0; i < a.Length; i++) y[i] = a[i] + b[i];
        return y;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(197)]
    [InlineData(1000)]
    [InlineData(100003)]
    public void Forward_MatchesReference(int n)
    {
        var a = Rng.Floats(n, 1);
        var b = Rng.Floats(n, 2);
        var y = new float[n];
        Add.Forward(y, a, b, n);
        Approx.Equal(Reference(Rng.ToDouble(a), Rng.ToDouble(b)), y, 1e-7, 1e-7, "add y");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(197)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int n)
    {
        var a = Rng.Floats(n, 3);
        var b = Rng.Floats(n, 4);
        var r = Rng.Floats(n, 5);
        double[] ad = Rng.ToDouble(a), bd = Rng.ToDouble(b), rd = Rng.ToDouble(r);
        var ea = FiniteDifference.Gradient(() => Reference(ad, bd), ad, rd);
        var eb = FiniteDifference.Gradient(() => Reference(ad, bd), bd, rd);
        var da = new float[n];
        var db = new float[n];
        Array.Fill(da, 0.5f);
        Array.Fill(db, -2f);
        Add.Backward(da, db, r, n);
        for (int i = 0; i < n; i++) { ea[i] += 0.5; eb[i] -= 2; }
        Approx.Equal(ea, da, 1e-6, 1e-6, "add da");
        Approx.Equal(eb, db, 1e-6, 1e-6, "add db");
    }

    [Theory]
    [InlineData(197)]
    [InlineData(100003)]
    public void Backward_Large_AndSameArrayForBothInputsGetsTwice(int n)
    {
        var r = Rng.Floats(n, 6);
        var da = new float[n];
        var db = new float[n];
        Array.Fill(da, 1f);
        Add.Backward(da, db, r, n);
        for (int i = 0; i < n; i++) { Assert.Equal(1f + r[i], da[i]); Assert.Equal(r[i], db[i]); }
        var both = new float[n];
        Add.Backward(both, both, r, n);
        for (int i = 0; i < n; i++) Assert.Equal(r[i] + r[i], both[i]);
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> a, ArrayView<float> b, int n) => Add.ForwardKernel(i, y, a, b, n);

    static void BackwardK(Index1D i, ArrayView<float> da, ArrayView<float> db, ArrayView<float> dy, int n) => Add.BackwardKernel(i, da, db, dy, n);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = 1003;
        var a = Rng.Floats(n, 7);
        var b = Rng.Floats(n, 8);
        var r = Rng.Floats(n, 9);
        var y = new float[n];
        Add.Forward(y, a, b, n);
        var da = (float[])a.Clone();
        var db = (float[])b.Clone();
        Add.Backward(da, db, r, n);

        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(BackwardK);
        using var ab = h.Upload(a);
        using var bb = h.Upload(b);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(n);
        fwd(n, yb.View, ab.View, bb.View, n);
        h.Accelerator.Synchronize();
        bwd(n, ab.View, bb.View, rb.View, n);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(yb));
        Assert.Equal(da, KernelHarness.Download(ab));
        Assert.Equal(db, KernelHarness.Download(bb));
    }
}
