using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class ClassTokenTests
{
    static double[] Reference(double[] x, double[] cls, int batch, int tokens, int dim)
    {
        var y = new double[batch * (tokens + 1) * dim];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t <= tokens; t++)
                for (int c = 0; c < dim; c++)
                    y[(b * (tokens + 1) + t) * dim + c] = t == 0 ? cls[c] : x[(b * tokens + t - 1) * dim + c];
        return y;
    }

    [Fact]
    public void Forward_PrependsTheTokenToEveryImage()
    {
        float[] x = { 1, 2, 3, 4, 5, 6, 7, 8 }; // batch 2, tokens 2, dim 2
        float[] cls = { -1, -2 };
        var y = new float[2 * 3 * 2];
        ClassToken.Forward(y, x, cls, 2, 2, 2);
        Assert.Equal(new float[] { -1, -2, 1, 2, 3, 4, -1, -2, 5, 6, 7, 8 }, y);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 7, 37)]
    [InlineData(4, 196, 192)]
    [InlineData(5, 49, 1001)]
    public void Forward_MatchesReference(int batch, int tokens, int dim)
    {
        var x = Rng.Floats(batch * tokens * dim, 1);
        var cls = Rng.Floats(dim, 2);
        var y = new float[batch * (tokens + 1) * dim];
        ClassToken.Forward(y, x, cls, batch, tokens, dim);
        Approx.Equal(Reference(Rng.ToDouble(x), Rng.ToDouble(cls), batch, tokens, dim), y, 0, 0, "y");
    }

    [Theory]
    [InlineData(3, 4, 5)]
    [InlineData(1, 1, 3)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int tokens, int dim)
    {
        var x = Rng.ToDouble(Rng.Floats(batch * tokens * dim, 3));
        var cls = Rng.ToDouble(Rng.Floats(dim, 4));
        var dy = Rng.Floats(batch * (tokens + 1) * dim, 5);
        var r = Rng.ToDouble(dy);
        var expectedDx = FiniteDifference.Gradient(() => Reference(x, cls, batch, tokens, dim), x, r);
        var expectedDcls = FiniteDifference.Gradient(() => Reference(x, cls, batch, tokens, dim), cls, r);
        var dx = new float[x.Length];
        var dcls = new float[dim];
        System.Array.Fill(dx, 1f);
        System.Array.Fill(dcls, -1f);
        ClassToken.Backward(dx, dcls, dy, batch, tokens, dim);
        for (int i = 0; i < expectedDx.Length; i++) expectedDx[i] += 1;
        for (int i = 0; i < expectedDcls.Length; i++) expectedDcls[i] -= 1;
        Approx.Equal(expectedDx, dx, 1e-6, 1e-5, "dx");
        Approx.Equal(expectedDcls, dcls, 1e-6, 1e-5, "dcls");
    }

    [Fact]
    public void Backward_LargeSizes_MatchesDirectSums()
    {
        const int batch = 7, tokens = 197, dim = 37;
        var dy = Rng.Floats(batch * (tokens + 1) * dim, 6);
        var dx = new float[batch * tokens * dim];
        var dcls = new float[dim];
        ClassToken.Backward(dx, dcls, dy, batch, tokens, dim);
        var expectedDx = new double[dx.Length];
        var expectedDcls = new double[dim];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < dim; c++)
            {
                expectedDcls[c] += dy[b * (tokens + 1) * dim + c];
                for (int t = 0; t < tokens; t++) expectedDx[(b * tokens + t) * dim + c] = dy[(b * (tokens + 1) + t + 1) * dim + c];
            }
        Approx.Equal(expectedDx, dx, 0, 0, "dx");
        Approx.Equal(expectedDcls, dcls, 1e-6, 1e-5, "dcls");
    }

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> cls) => ClassToken.ForwardKernel(i, y, x, cls, 3, 7, 5);

    static void BackwardInput(Index1D i, ArrayView<float> dx, ArrayView<float> dy) => ClassToken.BackwardInputKernel(i, dx, dy, 3, 7, 5);

    static void BackwardToken(ArrayView<float> dcls, ArrayView<float> dy) => ClassToken.BackwardTokenKernel(dcls, dy, 3, 7, 5);

    [Fact]
    public void Kernels_MatchCpu()
    {
        using var h = new KernelHarness();
        const int batch = 3, tokens = 7, dim = 5, nx = batch * tokens * dim, ny = batch * (tokens + 1) * dim;
        var x = Rng.Floats(nx, 7);
        var cls = Rng.Floats(dim, 8);
        var dy = Rng.Floats(ny, 9);
        var priorDx = Rng.Floats(nx, 10);
        var priorDcls = Rng.Floats(dim, 11);
        var y = new float[ny];
        var dx = (float[])priorDx.Clone();
        var dcls = (float[])priorDcls.Clone();
        ClassToken.Forward(y, x, cls, batch, tokens, dim);
        ClassToken.Backward(dx, dcls, dy, batch, tokens, dim);
        using var gx = h.Upload(x);
        using var gcls = h.Upload(cls);
        using var gy = h.Zeros(ny);
        using var gdy = h.Upload(dy);
        using var gdx = h.Upload(priorDx);
        using var gdcls = h.Upload(priorDcls);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Forward)(ny, gy.View, gx.View, gcls.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(BackwardInput)(nx, gdx.View, gdy.View);
        h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(BackwardToken)(ClassToken.BackwardTokenKernelConfig(dim), gdcls.View, gdy.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 0, 0, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-7, 1e-6, "dx");
        Approx.Equal(dcls, KernelHarness.Download(gdcls), 1e-6, 1e-5, "dcls");
    }
}
