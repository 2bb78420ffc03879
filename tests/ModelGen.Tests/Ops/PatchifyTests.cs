using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class PatchifyTests
{
    static double[] Reference(double[] x, int batch, int channels, int height, int width, int patch)
    {
        int gh = height / patch, gw = width / patch, features = channels * patch * patch;
        var y = new double[batch * gh * gw * features];
        for (int b = 0; b < batch; b++)
            for (int py = 0; py < gh; py++)
                for (int px = 0; px < gw; px++)
                    for (int c = 0; c < channels; c++)
                        for (int ky = 0; ky < patch; ky++)
                            for (int kx = 0; kx < patch; kx++)
                            {
                                int t = py * gw + px, f = (c * patch + ky) * patch + kx;
                                y[(b * gh * gw + t) * features + f] = x[((b * channels + c) * height + py * patch + ky) * width + px * patch + kx];
                            }
        return y;
    }

    /// <summary>Conv2d with kernel = stride = P, no padding, output laid out as tokens (b, oy·gw + ox, d).</summary>
    static double[] Conv2d(double[] x, double[] w, double[] bias, int batch, int channels, int height, int width, int patch, int dim)
    {
        int gh = height / patch, gw = width / patch;
        var y = new double[batch * gh * gw * dim];
        for (int b = 0; b < batch; b++)
            for (int d = 0; d < dim; d++)
                for (int oy = 0; oy < gh; oy++)
                    for (int ox = 0; ox < gw; ox++)
                    {
                        double s = bias[d];
                        for (int c = 0; c < channels; c++)
                            for (int ky = 0; ky < patch; ky++)
                                for (int kx = 0; kx < patch; kx++)
                                    s += w[((d * channels + c) * patch + ky) * patch + kx]
                                       * x[((b * channels + c) * height + oy * patch + ky) * width + ox * patch + kx];
                        y[((b * gh + oy) * gw + ox) * dim + d] = s;
                    }
        return y;
    }

    [Fact]
    public void Forward_HandComputedLayout()
    {
        // x[c, r, k] = 100c + 10r + k: 1 image, 2 channels, 4×4, patch 2 -> 4 tokens of 2·2·2 = 8 features.
        var x = new float[2 * 4 * 4];
        for (int c = 0; c < 2; c++) for (int r = 0; r < 4; r++) for (int k = 0; k < 4; k++) x[(c * 4 + r) * 4 + k] = 100 * c + 10 * r + k;
        var y = new float[4 * 8];
        Patchify.Forward(y, x, 1, 2, 4, 4, 2);
        float[] expected =
        {
            // token 0: rows 0-1, cols 0-1; channel 0 then channel 1, each row by row
            0, 1, 10, 11, 100, 101, 110, 111,
            // token 1: rows 0-1, cols 2-3
            2, 3, 12, 13, 102, 103, 112, 113,
            // token 2: rows 2-3, cols 0-1
            20, 21, 30, 31, 120, 121, 130, 131,
            // token 3: rows 2-3, cols 2-3
            22, 23, 32, 33, 122, 123, 132, 133,
        };
        Assert.Equal(expected, y);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(1, 2, 4, 4, 2)]
    [InlineData(2, 3, 6, 10, 2)]
    [InlineData(3, 1, 28, 28, 7)]
    [InlineData(2, 3, 12, 20, 4)]
    [InlineData(2, 3, 15, 9, 3)]
    [InlineData(2, 3, 32, 32, 16)]
    [InlineData(1, 5, 37, 74, 37)]
    public void Forward_MatchesReference(int batch, int channels, int height, int width, int patch)
    {
        var x = Rng.Floats(batch * channels * height * width, 1);
        var y = new float[x.Length];
        Patchify.Forward(y, x, batch, channels, height, width, patch);
        Approx.Equal(Reference(Rng.ToDouble(x), batch, channels, height, width, patch), y, 0, 0, "y");
    }

    [Theory]
    [InlineData(1, 1, 4, 4, 2, 3)]
    [InlineData(2, 3, 12, 8, 4, 5)]
    [InlineData(3, 3, 28, 28, 7, 17)]
    [InlineData(2, 2, 16, 48, 16, 37)]
    public void FollowedByLinear_EqualsConv2dKernelEqualsStride(int batch, int channels, int height, int width, int patch, int dim)
    {
        int tokens = (height / patch) * (width / patch), features = channels * patch * patch;
        var x = Rng.Floats(batch * channels * height * width, 11);
        var w = Rng.Floats(dim * features, 12, 0.2f);
        var bias = Rng.Floats(dim, 13);
        var patches = new float[batch * tokens * features];
        var y = new float[batch * tokens * dim];
        Patchify.Forward(patches, x, batch, channels, height, width, patch);
        Linear.Forward(y, patches, w, bias, batch * tokens, features, dim);
        var expected = Conv2d(Rng.ToDouble(x), Rng.ToDouble(w), Rng.ToDouble(bias), batch, channels, height, width, patch, dim);
        Approx.Equal(expected, y, 1e-5, 1e-4, "y");
    }

    [Theory]
    [InlineData(2, 2, 4, 6, 2)]
    [InlineData(1, 3, 6, 3, 3)]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int channels, int height, int width, int patch)
    {
        var x = Rng.ToDouble(Rng.Floats(batch * channels * height * width, 2));
        var dy = Rng.Floats(x.Length, 3);
        var expected = FiniteDifference.Gradient(() => Reference(x, batch, channels, height, width, patch), x, Rng.ToDouble(dy));
        var dx = new float[x.Length];
        System.Array.Fill(dx, 0.25f);
        Patchify.Backward(dx, dy, batch, channels, height, width, patch);
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.25;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "dx");
    }

    [Fact]
    public void Backward_IsTheInverseLayoutOnLargeNonSquareImages()
    {
        const int batch = 3, channels = 3, height = 48, width = 80, patch = 16;
        var dy = Rng.Floats(batch * channels * height * width, 4);
        var dx = new float[dy.Length];
        var back = new float[dy.Length];
        Patchify.Backward(dx, dy, batch, channels, height, width, patch);
        // Patchify is a permutation: scattering dy back then gathering again must return dy exactly.
        Patchify.Forward(back, dx, batch, channels, height, width, patch);
        Assert.Equal(dy, back);
    }

    // batch 2, channels 3, 6×4 image, patch 2: 2·6 tokens · 12 features = 144 elements.
    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x) => Patchify.ForwardKernel(i, y, x, 2, 3, 6, 4, 2);

    static void Backward(Index1D i, ArrayView<float> dx, ArrayView<float> dy) => Patchify.BackwardKernel(i, dx, dy, 2, 3, 6, 4, 2);

    [Fact]
    public void Kernels_MatchCpu()
    {
        using var h = new KernelHarness();
        const int n = 2 * 3 * 6 * 4;
        var x = Rng.Floats(n, 5);
        var dy = Rng.Floats(n, 6);
        var prior = Rng.Floats(n, 7);
        var y = new float[n];
        var dx = (float[])prior.Clone();
        Patchify.Forward(y, x, 2, 3, 6, 4, 2);
        Patchify.Backward(dx, dy, 2, 3, 6, 4, 2);
        using var gx = h.Upload(x);
        using var gy = h.Zeros(n);
        using var gdy = h.Upload(dy);
        using var gdx = h.Upload(prior);
        // Launch past the extent to exercise the bounds check.
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Forward)(n + 7, gy.View, gx.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Backward)(n + 7, gdx.View, gdy.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 0, 0, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-7, 1e-6, "dx");
    }
}
