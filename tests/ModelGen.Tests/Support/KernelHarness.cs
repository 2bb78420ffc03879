using System;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace ModelGen.Tests.Support;

/// <summary>ILGPU's CPU accelerator configured like a GPU (<see cref="Device.SimulatedGpu"/>: warp 32, 256 threads per group), to
/// run the GPU kernels in tests without a GPU.</summary>
public sealed class KernelHarness : IDisposable
{
    public Context Context { get; }
    public Accelerator Accelerator { get; }

    public KernelHarness()
    {
        Context = Context.Create(b => b.CPU(Device.SimulatedGpu).Optimize(OptimizationLevel.O1));
        Accelerator = Context.CreateCPUAccelerator(0);
    }

    public MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] data) => Accelerator.Allocate1D(data);

    public MemoryBuffer1D<float, Stride1D.Dense> Zeros(int n)
    {
        var b = Accelerator.Allocate1D<float>(Math.Max(n, 1));
        b.MemSetToZero();
        return b;
    }

    /// <summary>A device buffer of n copies of <paramref name="value"/> (gradients that backward kernels accumulate onto).</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Filled(int n, float value)
    {
        var data = new float[n];
        Array.Fill(data, value);
        return Upload(data);
    }

    public static float[] Download(MemoryBuffer1D<float, Stride1D.Dense> b) => b.GetAsArray1D();

    /// <summary>
    /// Runs an elementwise activation's kernels and checks them against its CPU results: forward on
    /// <paramref name="x"/> against <paramref name="cpuY"/>; backward with upstream <paramref name="dy"/> from
    /// <paramref name="saved"/> (x, or the CPU's y for an op that saves its output, so only the backward formula is
    /// compared), accumulating onto 0.5 as the CPU's <paramref name="cpuDx"/> must have.
    /// </summary>
    public static void CheckActivation(string name, Action<Index1D, ArrayView<float>, ArrayView<float>, int> forward,
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> backward,
        float[] x, float[] dy, float[] saved, float[] cpuY, float[] cpuDx, double atol, double rtol)
    {
        int n = x.Length;
        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel(forward);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel(backward);
        using var xb = h.Upload(x);
        using var dyb = h.Upload(dy);
        using var savedb = h.Upload(saved);
        using var yb = h.Zeros(n);
        using var dxb = h.Filled(n, 0.5f);
        fwd(n, yb.View, xb.View, n);
        bwd(n, dxb.View, dyb.View, savedb.View, n);
        h.Accelerator.Synchronize();
        Approx.Equal(cpuY, Download(yb), atol, rtol, name + " kernel y");
        Approx.Equal(cpuDx, Download(dxb), atol, rtol, name + " kernel dx");
    }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}
