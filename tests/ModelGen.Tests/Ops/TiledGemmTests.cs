using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>The device SGEMM on the GPU-shaped simulator (256 threads per group, warp 32) against a double-precision
/// product, on shapes that do not divide its 64×64×16 tiles, every transposition, batches, bias, alpha and accumulation; and
/// its tensor-core variant (TF32 operands, the m16n8k8 fragments emulated by warp shuffles) against the same product of the
/// operands rounded to TF32.</summary>
public class TiledGemmTests
{
    const int TransA = 1, TransB = 2, Bias = 4, Accumulate = 8, TensorCores = 16;

    static void Kernel(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, int m, int n, int k, int flags, float alpha)
    {
        bool ta = (flags & TransA) != 0, tb = (flags & TransB) != 0;
        TiledGemm.Multiply(c, a, b, bias, m, n, k, ta, tb, ta ? m : k, tb ? k : n, n, (long)m * k, (long)k * n, (long)m * n,
            alpha, (flags & Bias) != 0, (flags & Accumulate) != 0, (flags & TensorCores) != 0);
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
    [InlineData(70, 37, 19, TensorCores, 1)]
    [InlineData(70, 37, 19, TransA | TransB | Bias | TensorCores, 2)]
    [InlineData(65, 129, 47, TransB | Accumulate | TensorCores, 1)]
    [InlineData(5, 3, 1, TransA | Bias | TensorCores, 1)]
    [InlineData(128, 64, 40, TensorCores, 1)]
    public void MatchesDoubleProduct(int m, int n, int k, int flags, int batches)
    {
        const float alpha = 0.7f;
        var a = Rng.Floats(batches * m * k, 1);
        var b = Rng.Floats(batches * k * n, 2);
        var bias = Rng.Floats(n, 3);
        var c0 = Rng.Floats(batches * m * n, 4);
        var expected = new double[c0.Length];
        bool ta = (flags & TransA) != 0, tb = (flags & TransB) != 0;
        // Tensor cores multiply TF32 operands exactly and sum in FP32: the reference rounds the operands the same way.
        Func<float, double> op = (flags & TensorCores) != 0 ? x => Tf32.Round(x) : x => x;
        for (int z = 0; z < batches; z++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                        s += op(a[z * m * k + (ta ? p * m + i : i * k + p)]) * op(b[z * k * n + (tb ? j * k + p : p * n + j)]);
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

    [Fact]
    public void TensorCoreProducts_DifferFromFp32ByTf32Rounding()
    {
        // The same product through both paths: the TF32 one is close (10-bit mantissas) but not identical, so the flag reaches
        // the tensor-core path and the test above compares what it should.
        const int m = 33, n = 40, k = 64;
        var a = Rng.Floats(m * k, 5);
        var b = Rng.Floats(k * n, 6);
        using var h = new KernelHarness();
        var kernel = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, float>(Kernel);
        using var ab = h.Upload(a);
        using var bb = h.Upload(b);
        using var fp32 = h.Zeros(m * n);
        using var tf32 = h.Zeros(m * n);
        kernel(TiledGemm.Config(m, n), fp32.View, ab.View, bb.View, ab.View, m, n, k, 0, 1f);
        kernel(TiledGemm.Config(m, n), tf32.View, ab.View, bb.View, ab.View, m, n, k, TensorCores, 1f);
        h.Accelerator.Synchronize();
        var x = KernelHarness.Download(fp32);
        var y = KernelHarness.Download(tf32);
        Assert.Contains(x.Zip(y), p => p.First != p.Second);
        Approx.Equal(x, y, 2e-2, 5e-3, "tf32 vs fp32");
    }

    [Theory]
    [InlineData(1f, 1f)]
    [InlineData(1f + 1f / 4096, 1f)]                 // below half a TF32 unit: down
    [InlineData(1f + 1f / 2048, 1f + 1f / 1024)]      // exactly half: away from zero
    [InlineData(-(1f + 1f / 2048), -(1f + 1f / 1024))]
    [InlineData(1f + 3f / 2048, 1f + 2f / 1024)]
    [InlineData(0f, 0f)]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity)]
    [InlineData(float.MaxValue, float.PositiveInfinity)]
    public void Tf32Round_IsToNearestTiesAway(float x, float expected) => Assert.Equal(expected, Tf32.Round(x));

    [Fact]
    public void Tf32Round_KeepsNaN() => Assert.True(float.IsNaN(Tf32.Round(float.NaN)));
}
