using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>The device SGEMM on the GPU-shaped simulator (256 threads per group, warp 32) against a double-precision
/// product, on shapes that do not divide its 64×64×16 tiles, every transposition, batches, bias, alpha and accumulation.</summary>
public class TiledGemmTests
{
    const int TransA = 1, TransB = 2, Bias = 4, Accumulate = 8;

    static void Kernel(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, int m, int n, int k, int flags, float alpha)
    {
        bool ta = (flags & TransA) != 0, tb = (flags & TransB) != 0;
        TiledGemm.Multiply(c, a, b, bias, m, n, k, ta, tb, ta ? m : k, tb ? k : n, n, (long)m * k, (long)k * n, (long)m * n,
            alpha, (flags & Bias) != 0, (flags & Accumulate) != 0);
    }

    [Theory]
    [InlineData(70, 37, 19, 0, 1)]
    [InlineData(70, 37, 19, TransA, 1)]
    [InlineData(70, 37, 19, TransB | Bias, 1)]
    [InlineData(70, 37, 19, TransA | TransB | Accumulate, 1)]
    [InlineData(1, 130, 33, TransB | Bias | Accumulate, 1)]
    [InlineData(129, 1, 100, TransA | Bias, 2)]
    [InlineData(64, 64, 16, 0, 1)]
    [InlineData(65, 129, 47, TransB | Accumulate, 3)]
    [InlineData(5, 3, 1, Bias, 2)]
    [InlineData(200, 96, 250, TransA | Accumulate, 1)]
    public void MatchesDoubleProduct(int m, int n, int k, int flags, int batches)
    {
        const float alpha = 0.7f;
        var a = Rng.Floats(batches * m * k, 1);
        var b = Rng.Floats(batches * k * n, 2);
        var bias = Rng.Floats(n, 3);
        var c0 = Rng.Floats(batches * m * n, 4);
        var expected = new double[c0.Length];
        bool ta = (flags & TransA) != 0, tb = (flags & TransB) != 0;
        for (int z = 0; z < batches; z++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                        s += (double)a[z * m * k + (ta ? p * m + i : i * k + p)] * b[z * k * n + (tb ? j * k + p : p * n + j)];
                    s *= alpha;
                    if ((flags & Bias) != 0) s += bias[j];
                    if ((flags & Accumulate) != 0) s += c0[z * m * n + i * n + j];
                    expected[z * m * n + i * n + j] = s;
                }

        using var h = new KernelHarness();
        var kernel = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, float>(Kernel);
        using var cb = h.Upload(c0);
        using var ab = h.Upload(a);
        using var bb = h.Upload(b);
        using var biasb = h.Upload(bias);
        kernel(TiledGemm.Config(m, n, batches), cb.View, ab.View, bb.View, biasb.View, m, n, k, flags, alpha);
        h.Accelerator.Synchronize();
        Approx.Equal(expected, KernelHarness.Download(cb), 1e-5, 1e-5, "c");
    }
}
