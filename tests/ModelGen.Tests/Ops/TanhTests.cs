using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>tanh against Math.Tanh, its backward against finite differences (accumulating), and the kernels against the CPU.</summary>
public class TanhTests
{
    [Theory]
    [InlineData(7)]
    [InlineData(100_003)] // several chunks: the CPU op runs on all cores
    public void ForwardAndBackward_MatchTheReference(int n)
    {
        var x = Rng.Floats(n, 1, 3f);
        var y = new float[n];
        Tanh.Forward(y, x, n);
        var xd = Rng.ToDouble(x);
        Approx.Equal(Array.ConvertAll(xd, Math.Tanh), y, 1e-6, 1e-5, "tanh");
        var dy = Rng.Floats(n, 2);
        var dx = Arrays.Filled(n, 0.25f);
        Tanh.Backward(dx, dy, y, n);
        if (n > 100) return; // finite differences on the small case
        var fd = FiniteDifference.Gradient(() => Array.ConvertAll(xd, Math.Tanh), xd, Rng.ToDouble(dy));
        for (int i = 0; i < n; i++) fd[i] += 0.25;
        Approx.Equal(fd, dx, 1e-5, 1e-4, "dx");
    }

    const int N = 37;

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x) => Tanh.ForwardKernel(i, y, x, N);

    static void Backward(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y) => Tanh.BackwardKernel(i, dx, dy, y, N);

    [Fact]
    public void Kernels_MatchCpu()
    {
        var x = Rng.Floats(N, 3, 3f);
        var dy = Rng.Floats(N, 4);
        var y = new float[N];
        var dx = Arrays.Filled(N, 0.5f);
        Tanh.Forward(y, x, N);
        Tanh.Backward(dx, dy, y, N);
        using var h = new KernelHarness();
        using var gx = h.Upload(x);
        using var gy = h.Zeros(N);
        using var gdy = h.Upload(dy);
        using var gdx = h.Filled(N, 0.5f);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Forward)(N + 3, gy.View, gx.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Backward)(N + 3, gdx.View, gdy.View, gy.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-6, 1e-5, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-6, 1e-5, "dx");
    }
}
