using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Tokens gathered through a permutation: Swin's merge order, forward a gather and backward a scatter that
/// accumulates, the kernels on the simulator against the CPU.</summary>
public class TokenGatherTests
{
    [Fact]
    public void TheMergeOrder_IsTorchvisionsX0X1X2X3()
    {
        // A 2×4 grid: cells (0, 0) and (0, 1); each lists (2i, 2j), (2i + 1, 2j), (2i, 2j + 1), (2i + 1, 2j + 1).
        Assert.Equal(new float[] { 0, 4, 1, 5, 2, 6, 3, 7 }, TokenGather.MergeOrder(2, 4));
        var order = TokenGather.MergeOrder(6, 4);
        Assert.Equal(Enumerable.Range(0, 24).Select(t => (float)t), order.OrderBy(t => t));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenGather.MergeOrder(3, 4));
    }

    [Fact]
    public void ForwardGathers_AndBackwardScattersAndAccumulates()
    {
        const int batch = 2, tokens = 8, width = 3;
        var order = TokenGather.MergeOrder(2, 4);
        var x = Rng.Floats(batch * tokens * width, 1);
        var y = new float[x.Length];
        TokenGather.Forward(y, x, order, batch, tokens, width);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                Assert.Equal(x.AsSpan((b * tokens + (int)order[t]) * width, width).ToArray(), y.AsSpan((b * tokens + t) * width, width).ToArray());
        var dy = Rng.Floats(x.Length, 2);
        var dx = Arrays.Filled(x.Length, 0.5f);
        TokenGather.Backward(dx, dy, order, batch, tokens, width);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tokens; t++)
                for (int e = 0; e < width; e++)
                    Assert.Equal(0.5f + dy[(b * tokens + t) * width + e], dx[(b * tokens + (int)order[t]) * width + e]);
    }

    [Fact]
    public void Kernels_MatchCpu()
    {
        const int batch = 3, tokens = 24, width = 5;
        var order = TokenGather.MergeOrder(4, 6);
        var x = Rng.Floats(batch * tokens * width, 3);
        var dy = Rng.Floats(x.Length, 4);
        var y = new float[x.Length];
        var dx = Arrays.Filled(x.Length, 0.25f);
        TokenGather.Forward(y, x, order, batch, tokens, width);
        TokenGather.Backward(dx, dy, order, batch, tokens, width);
        using var h = new KernelHarness();
        using var gx = h.Upload(x);
        using var gdy = h.Upload(dy);
        using var gorder = h.Upload(order);
        using var gy = h.Zeros(y.Length);
        using var gdx = h.Filled(dx.Length, 0.25f);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(TokenGather.ForwardKernel)(
            y.Length + 5, gy.View, gx.View, gorder.View, batch, tokens, width);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(TokenGather.BackwardKernel)(
            y.Length + 5, gdx.View, gdy.View, gorder.View, batch, tokens, width);
        h.Accelerator.Synchronize();
        Assert.Equal(y, KernelHarness.Download(gy));
        Assert.Equal(dx, KernelHarness.Download(gdx));
    }
}
