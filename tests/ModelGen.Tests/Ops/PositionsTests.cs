using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class PositionsTests
{
    static double[] Reference(double[] x, double[] p, int batch, int n)
    {
        var y = new double[batch * n];
        for (int b = 0; b < batch; b++) for (int i = 0; i < n; i++) y[b * n + i] = x[b * n + i] + p[i];
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 7, 37)]
    [InlineData(4, 197, 192)]
    public void Forward_MatchesReference(int batch, int tokens, int dim)
    {
        var x = Rng.Floats(batch * tokens * dim, 1);
        var p = Rng.Floats(tokens * dim, 2);
        var y = new float[x.Length];
        Positions.Forward(y, x, p, batch, tokens, dim);
        Approx.Equal(Reference(Rng.ToDouble(x), Rng.ToDouble(p), batch, tokens * dim), y, 1e-7, 1e-6, "y");
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_AndAccumulates()
    {
        const int batch = 3, tokens = 4, dim = 5, n = tokens * dim;
        var x = Rng.ToDouble(Rng.Floats(batch * n, 3));
        var p = Rng.ToDouble(Rng.Floats(n, 4));
        var dy = Rng.Floats(batch * n, 5);
        var r = Rng.ToDouble(dy);
        var expectedDx = FiniteDifference.Gradient(() => Reference(x, p, batch, n), x, r);
        var expectedDp = FiniteDifference.Gradient(() => Reference(x, p, batch, n), p, r);
        var dx = new float[batch * n];
        var dp = new float[n];
        System.Array.Fill(dx, 1f);
        System.Array.Fill(dp, -1f);
        Positions.Backward(dx, dp, dy, batch, tokens, dim);
        for (int i = 0; i < expectedDx.Length; i++) expectedDx[i] += 1;
        for (int i = 0; i < expectedDp.Length; i++) expectedDp[i] -= 1;
        Approx.Equal(expectedDx, dx, 1e-6, 1e-5, "dx");
        Approx.Equal(expectedDp, dp, 1e-6, 1e-5, "dp");
    }

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> p) => Positions.ForwardKernel(i, y, x, p, 3, 7, 5);

    static void BackwardInput(Index1D i, ArrayView<float> dx, ArrayView<float> dy) => Positions.BackwardInputKernel(i, dx, dy, 3, 7, 5);

    static void BackwardPositions(ArrayView<float> dp, ArrayView<float> dy) => Positions.BackwardPositionsKernel(dp, dy, 3, 7, 5);

    [Fact]
    public void Kernels_MatchCpu()
    {
        using var h = new KernelHarness();
        const int batch = 3, n = 35;
        var x = Rng.Floats(batch * n, 6);
        var p = Rng.Floats(n, 7);
        var dy = Rng.Floats(batch * n, 8);
        var y = new float[batch * n];
        var dx = new float[batch * n];
        var dp = new float[n];
        Positions.Forward(y, x, p, batch, 7, 5);
        Positions.Backward(dx, dp, dy, batch, 7, 5);
        using var gx = h.Upload(x);
        using var gp = h.Upload(p);
        using var gy = h.Zeros(batch * n);
        using var gdy = h.Upload(dy);
        using var gdx = h.Zeros(batch * n);
        using var gdp = h.Zeros(n);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Forward)(batch * n, gy.View, gx.View, gp.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(BackwardInput)(batch * n, gdx.View, gdy.View);
        h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(BackwardPositions)(Positions.BackwardPositionsKernelConfig(7, 5), gdp.View, gdy.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-7, 1e-6, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-7, 1e-6, "dx");
        Approx.Equal(dp, KernelHarness.Download(gdp), 1e-6, 1e-5, "dp");
    }
}
