using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class MeanPoolTests
{
    static double[] Reference(double[] x, int batch, int tokens, int dim)
    {
        var y = new double[batch * dim];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < dim; c++)
            {
                double s = 0;
                for (int t = 0; t < tokens; t++) s += x[(b * tokens + t) * dim + c];
                y[b * dim + c] = s / tokens;
            }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 7, 37)]
    [InlineData(2, 197, 64)]
    public void Forward_MatchesReference(int batch, int tokens, int dim)
    {
        var x = Rng.Floats(batch * tokens * dim, 1);
        var y = new float[batch * dim];
        MeanPool.Forward(y, x, batch, tokens, dim);
        Approx.Equal(Reference(Rng.ToDouble(x), batch, tokens, dim), y, 1e-6, 1e-5, "y");
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_AndAccumulates()
    {
        const int batch = 2, tokens = 5, dim = 3;
        var x = Rng.Floats(batch * tokens * dim, 2);
        var dy = Rng.Floats(batch * dim, 3);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(xd, batch, tokens, dim), xd, Rng.ToDouble(dy));
        var dx = new float[x.Length];
        System.Array.Fill(dx, 0.5f);
        MeanPool.Backward(dx, dy, batch, tokens, dim);
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.5;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "dx");
    }

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x) => MeanPool.ForwardKernel(i, y, x, 3, 7, 5);

    static void Backward(Index1D i, ArrayView<float> dx, ArrayView<float> dy) => MeanPool.BackwardKernel(i, dx, dy, 3, 7, 5);

    [Fact]
    public void Kernels_MatchCpu()
    {
        using var h = new KernelHarness();
        var x = Rng.Floats(3 * 7 * 5, 4);
        var dy = Rng.Floats(3 * 5, 5);
        var y = new float[15];
        var dx = new float[x.Length];
        MeanPool.Forward(y, x, 3, 7, 5);
        MeanPool.Backward(dx, dy, 3, 7, 5);
        using var gx = h.Upload(x);
        using var gy = h.Zeros(15);
        using var gdy = h.Upload(dy);
        using var gdx = h.Zeros(x.Length);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Forward)(15, gy.View, gx.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Backward)(x.Length, gdx.View, gdy.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-6, 1e-5, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-6, 1e-5, "dx");
    }
}
