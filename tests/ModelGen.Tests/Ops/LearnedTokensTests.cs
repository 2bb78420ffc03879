using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class LearnedTokensTests
{
    static double[] Reference(double[] x, double[] tokens, int batch, int n, int k, int d)
    {
        var y = new double[batch * (n + k) * d];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < n * d; t++) y[b * (n + k) * d + t] = x[b * n * d + t];
            for (int t = 0; t < k * d; t++) y[b * (n + k) * d + n * d + t] = tokens[t];
        }
        return y;
    }

    [Theory]
    [InlineData(2, 5, 3, 4)]
    [InlineData(3, 0, 4, 6)]
    [InlineData(1, 64, 11, 16)]
    public void Forward_AppendsTheTokensToEverySample(int batch, int n, int k, int d)
    {
        var x = Rng.Floats(Math.Max(1, batch * n * d), 1);
        var tokens = Rng.Floats(k * d, 2);
        var y = new float[batch * (n + k) * d];
        LearnedTokens.Forward(y, n > 0 ? x : null, tokens, batch, n, k, d);
        Approx.Equal(Reference(Rng.ToDouble(x), Rng.ToDouble(tokens), batch, n, k, d), y, 0, 0, "y");
    }

    [Theory]
    [InlineData(2, 5, 3, 4)]
    [InlineData(3, 0, 4, 6)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int n, int k, int d)
    {
        var x = Rng.ToDouble(Rng.Floats(Math.Max(1, batch * n * d), 3));
        var tokens = Rng.ToDouble(Rng.Floats(k * d, 4));
        var r = Rng.Floats(batch * (n + k) * d, 5);
        var ex = FiniteDifference.Gradient(() => Reference(x, tokens, batch, n, k, d), x, Rng.ToDouble(r));
        var et = FiniteDifference.Gradient(() => Reference(x, tokens, batch, n, k, d), tokens, Rng.ToDouble(r));
        var dx = new float[x.Length];
        var dt = new float[k * d];
        Array.Fill(dx, 0.5f);
        Array.Fill(dt, -1f);
        LearnedTokens.Backward(n > 0 ? dx : null, dt, r, batch, n, k, d);
        for (int i = 0; i < ex.Length; i++) ex[i] += 0.5;
        for (int i = 0; i < et.Length; i++) et[i] -= 1;
        Approx.Equal(ex, dx, 1e-6, 1e-5, "dx");
        Approx.Equal(et, dt, 1e-6, 1e-5, "dtokens");
    }

    static void Fwd(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> t, int batch, int n, int k, int d) => LearnedTokens.ForwardKernel(i, y, x, t, batch, n, k, d);
    static void BwdX(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int n, int k, int d) => LearnedTokens.BackwardInputKernel(i, dx, dy, batch, n, k, d);
    static void BwdT(ArrayView<float> dt, ArrayView<float> dy, int batch, int n, int k, int d) => LearnedTokens.BackwardTokensKernel(dt, dy, batch, n, k, d);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int batch = 3, n = 7, k = 4, d = 5;
        var x = Rng.Floats(batch * n * d, 6);
        var tokens = Rng.Floats(k * d, 7);
        var r = Rng.Floats(batch * (n + k) * d, 8);
        var y = new float[r.Length];
        LearnedTokens.Forward(y, x, tokens, batch, n, k, d);
        var dx = new float[x.Length];
        var dt = new float[tokens.Length];
        LearnedTokens.Backward(dx, dt, r, batch, n, k, d);
        using var h = new KernelHarness();
        var f = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(Fwd);
        var bx = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(BwdX);
        var bt = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int>(BwdT);
        using var xb = h.Upload(x);
        using var tb = h.Upload(tokens);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(r.Length);
        using var dxb = h.Zeros(x.Length);
        using var dtb = h.Zeros(tokens.Length);
        f(r.Length, yb.View, xb.View, tb.View, batch, n, k, d);
        bx(x.Length, dxb.View, rb.View, batch, n, k, d);
        bt(LearnedTokens.BackwardTokensKernelConfig(k, d), dtb.View, rb.View, batch, n, k, d);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(yb));
        Assert.Equal(dx, KernelHarness.Download(dxb));
        Approx.Equal(dt, KernelHarness.Download(dtb), 1e-6, 1e-6, "dtokens");
    }
}
