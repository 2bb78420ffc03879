using System;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace ModelGen.Tests.Support;

/// <summary>ILGPU's CPU accelerator (a simulator) to run the GPU kernels in tests without a GPU.</summary>
public sealed class KernelHarness : IDisposable
{
    public Context Context { get; }
    public Accelerator Accelerator { get; }

    public KernelHarness()
    {
        Context = Context.Create(b => b.CPU().Optimize(OptimizationLevel.O1));
        Accelerator = Context.CreateCPUAccelerator(0);
    }

    public MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] data) => Accelerator.Allocate1D(data);

    public MemoryBuffer1D<float, Stride1D.Dense> Zeros(int n)
    {
        var b = Accelerator.Allocate1D<float>(Math.Max(n, 1));
        b.MemSetToZero();
        return b;
    }

    public static float[] Download(MemoryBuffer1D<float, Stride1D.Dense> b) => b.GetAsArray1D();

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}
