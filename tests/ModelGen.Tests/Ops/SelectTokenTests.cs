using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class SelectTokenTests
{
    static double[] Reference(double[] x, int batch, int tokens, int dim, int index)
    {
        var y = new double[batch * dim];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < dim; c++) y[b * dim + c] = x[(b * tokens + index) * dim + c];
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1, 0)]
    [InlineData(3, 7, 37, 0)]
    [InlineData(3, 7, 37, 4)]
    [InlineData(3, 7, 37, 6)]
    [InlineData(4, 197, 192, 0)]
    [InlineData(2, 197, 1001, 100)]
    public void Forward_MatchesReference(int batch, int tokens, int dim, int index)
    {
        var x = Rng.Floats(batch * tokens * dim, 1);
        var y = new float[batch * dim];
        SelectToken.Forward(y, x, batch, tokens, dim, index);
        Approx.Equal(Reference(Rng.ToDouble(x), batch, tokens, dim, index), y, 0, 0, "y");
    }

    [Theory]
    [InlineData(3, 4, 5, 0)]
    [InlineData(3, 4, 5, 2)]
    [InlineData(2, 5, 3, 4)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int tokens, int dim, int index)
    {
        var x = Rng.ToDouble(Rng.Floats(batch * tokens * dim, 2));
        var dy = Rng.Floats(batch * dim, 3);
        var expected = FiniteDifference.Gradient(() => Reference(x, batch, tokens, dim, index), x, Rng.ToDouble(dy));
        var dx = new float[x.Length];
        System.Array.Fill(dx, 0.5f);
        SelectToken.Backward(dx, dy, batch, tokens, dim, index);
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.5;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "dx");
    }

    static void Forward0(Index1D i, ArrayView<float> y, ArrayView<float> x) => SelectToken.ForwardKernel(i, y, x, 3, 7, 5, 0);

    static void Backward0(Index1D i, ArrayView<float> dx, ArrayView<float> dy) => SelectToken.BackwardKernel(i, dx, dy, 3, 7, 5, 0);

    static void Forward3(Index1D i, ArrayView<float> y, ArrayView<float> x) => SelectToken.ForwardKernel(i, y, x, 3, 7, 5, 3);

    static void Backward3(Index1D i, ArrayView<float> dx, ArrayView<float> dy) => SelectToken.BackwardKernel(i, dx, dy, 3, 7, 5, 3);

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Kernels_MatchCpu(int index)
    {
        using var h = new KernelHarness();
        const int batch = 3, tokens = 7, dim = 5;
        var x = Rng.Floats(batch * tokens * dim, 4);
        var dy = Rng.Floats(batch * dim, 5);
        var prior = Rng.Floats(x.Length, 6);
        var y = new float[batch * dim];
        var dx = (float[])prior.Clone();
        SelectToken.Forward(y, x, batch, tokens, dim, index);
        SelectToken.Backward(dx, dy, batch, tokens, dim, index);
        using var gx = h.Upload(x);
        using var gy = h.Zeros(y.Length);
        using var gdy = h.Upload(dy);
        using var gdx = h.Upload(prior);
        Action<Index1D, ArrayView<float>, ArrayView<float>> forward = index == 0 ? Forward0 : Forward3;
        Action<Index1D, ArrayView<float>, ArrayView<float>> backward = index == 0 ? Backward0 : Backward3;
        h.Accelerator.LoadAutoGroupedStreamKernel(forward)(y.Length, gy.View, gx.View);
        h.Accelerator.LoadAutoGroupedStreamKernel(backward)(y.Length, gdx.View, gdy.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 0, 0, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-7, 1e-6, "dx");
    }
}
