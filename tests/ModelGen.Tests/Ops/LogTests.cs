using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class LogTests
{
    const float Eps = 1e-6f;

    static float[] Positive(int n, int seed)
    {
        var x = Rng.Floats(n, seed);
        for (int i = 0; i < n; i++) x[i] = 0.05f + Math.Abs(x[i]);
        return x;
    }

    static double[] Reference(double[] x)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = Math.Log(Math.Max(x[i], Eps));
        return y;
    }

    [Fact]
    public void Forward_MatchesReference_AndFloorsAtEps()
    {
        var x = Positive(1001, 1);
        x[3] = 0f;
        x[4] = -2f;
        var y = new float[x.Length];
        Log.Forward(y, x, x.Length, Eps);
        Approx.Equal(Reference(Rng.ToDouble(x)), y, 1e-6, 1e-6, "y");
        Assert.Equal(MathF.Log(Eps), y[3]);
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_AndAccumulates_NoGradientBelowTheFloor()
    {
        var x = Positive(37, 2);
        x[5] = 0f;
        var r = Rng.Floats(37, 3);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd), xd, Rng.ToDouble(r), h: 1e-8);
        expected[5] = 0;
        var dx = new float[37];
        Array.Fill(dx, 1f);
        Log.Backward(dx, r, x, 37, Eps);
        for (int i = 0; i < 37; i++) expected[i] += 1;
        Approx.Equal(expected, dx, 1e-5, 1e-4, "dx");
    }

    static void Fwd(Index1D i, ArrayView<float> y, ArrayView<float> x, int n, float eps) => Log.ForwardKernel(i, y, x, n, eps);
    static void Bwd(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int n, float eps) => Log.BackwardKernel(i, dx, dy, x, n, eps);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = 517;
        var x = Positive(n, 4);
        x[0] = 0f;
        var r = Rng.Floats(n, 5);
        var y = new float[n];
        var dx = new float[n];
        Log.Forward(y, x, n, Eps);
        Log.Backward(dx, r, x, n, Eps);
        using var h = new KernelHarness();
        var f = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float>(Fwd);
        var b = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(Bwd);
        using var xb = h.Upload(x);
        using var rb = h.Upload(r);
        using var yb = h.Zeros(n);
        using var dxb = h.Zeros(n);
        f(n, yb.View, xb.View, n, Eps);
        b(n, dxb.View, rb.View, xb.View, n, Eps);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(yb), 1e-6, 1e-6, "y");
        Approx.Equal(dx, KernelHarness.Download(dxb), 1e-6, 1e-6, "dx");
    }
}
