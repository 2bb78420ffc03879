using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Key padding of scores: padded keys become −∞ and pass no gradient, the rest pass through; the kernels agree.</summary>
public class KeyPaddingTests
{
    [Fact]
    public void PaddedKeys_BecomeMinusInfinity_AndPassNoGradient()
    {
        const int batch = 2, queries = 3, keys = 4;
        var x = Rng.Floats(batch * queries * keys, 1);
        var padding = new float[] { 0, 0, 0, 1, 0, 1, 1, 1 };
        var y = new float[x.Length];
        KeyPadding.Forward(y, x, padding, batch, queries, keys);
        var dy = Rng.Floats(x.Length, 2);
        var dx = Arrays.Filled(x.Length, 0.25f);
        KeyPadding.Backward(dx, dy, padding, batch, queries, keys);
        for (int e = 0; e < x.Length; e++)
        {
            bool padded = padding[e / (queries * keys) * keys + e % keys] != 0;
            Assert.Equal(padded ? float.NegativeInfinity : x[e], y[e]);
            Assert.Equal(padded ? 0.25f : 0.25f + dy[e], dx[e]);
        }
    }

    const int KB = 3, KQ = 5, KK = 7;

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> p) => KeyPadding.ForwardKernel(i, y, x, p, KB, KQ, KK);

    static void Backward(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> p) => KeyPadding.BackwardKernel(i, dx, dy, p, KB, KQ, KK);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = KB * KQ * KK;
        var x = Rng.Floats(n, 3);
        var dy = Rng.Floats(n, 4);
        var padding = Enumerable.Range(0, KB * KK).Select(e => e % KK >= KK - 1 - e / KK ? 1f : 0f).ToArray();
        var y = new float[n];
        var dx = Arrays.Filled(n, 0.5f);
        KeyPadding.Forward(y, x, padding, KB, KQ, KK);
        KeyPadding.Backward(dx, dy, padding, KB, KQ, KK);
        using var h = new KernelHarness();
        using var gx = h.Upload(x);
        using var gp = h.Upload(padding);
        using var gdy = h.Upload(dy);
        using var gy = h.Zeros(n);
        using var gdx = h.Filled(n, 0.5f);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Forward)(n + 3, gy.View, gx.View, gp.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Backward)(n + 3, gdx.View, gdy.View, gp.View);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(gy));
        Assert.Equal(dx, KernelHarness.Download(gdx));
    }
}
