using System;
using System.Linq;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace ModelGen;

/// <summary>Where a model runs.</summary>
public enum DeviceKind
{
    /// <summary>The CPU backend: generated C# over SIMD and all cores.</summary>
    Cpu = 0,

    /// <summary>NVIDIA GPUs through ILGPU's PTX backend.</summary>
    Cuda = 1,

    /// <summary>OpenCL 2.0+ devices (or 3.0 with the generic address space) through ILGPU.</summary>
    OpenCL = 2,

    /// <summary>ILGPU's CPU accelerator: runs the GPU kernels on the CPU, slowly. For testing the GPU path without a GPU.</summary>
    CpuSimulator = 3,
}

/// <summary>A device to run models on. Dispose it after the models that use it.</summary>
public sealed class Device : IDisposable
{
    Device(DeviceKind kind, Context? context, Accelerator? accelerator, bool tf32 = false)
    {
        Kind = kind;
        Context = context;
        Accelerator = accelerator;
        Tf32 = tf32;
    }

    public DeviceKind Kind { get; }

    /// <summary>Kernel launches and host↔device copies made on this device by the models and optimizers that use it.</summary>
    public DeviceCounters Counters { get; } = new();

    /// <summary>Whether the device's matrix products (linear layers, projections, convolutions, batched products, forward and
    /// backward) run on TF32 tensor cores: operands rounded to a 10-bit mantissa, sums in FP32, as PyTorch's
    /// <c>allow_tf32</c>. Off unless asked for; on CUDA it needs compute capability 8.0 (Ampere) or newer. On the simulator the
    /// same fragments are emulated, for tests.</summary>
    public bool Tf32 { get; }

    /// <summary>The ILGPU accelerator, or null for <see cref="DeviceKind.Cpu"/>.</summary>
    public Accelerator? Accelerator { get; }

    internal Context? Context { get; }

    public string Name => Accelerator?.Name ?? $"CPU ({Environment.ProcessorCount} threads)";

    public static Device Cpu() => new(DeviceKind.Cpu, null, null);

    /// <summary>CUDA device <paramref name="index"/>; with <paramref name="tf32"/>, its matrix products on TF32 tensor cores
    /// (see <see cref="Tf32"/>).</summary>
    public static Device Cuda(int index = 0, bool tf32 = false) => Open(DeviceKind.Cuda, index, tf32) ??
        throw new DeviceUnavailableException($"No CUDA device {index} is usable: {DeviceProbe.CudaFailure() ?? s_lastFailure ?? "ILGPU saw none"}. " +
            "Run the device checks' probe for the whole report.");

    public static Device OpenCL(int index = 0) => Open(DeviceKind.OpenCL, index) ??
        throw new DeviceUnavailableException($"No OpenCL device {index} is usable: {s_lastFailure ?? "ILGPU found none"} (ILGPU needs OpenCL 2.0, or 3.0 " +
            $"with the generic address space, and the kernels sub-groups of {WarpSize}).");

    /// <summary>The warp width every device kernel assumes.</summary>
    public const int WarpSize = 32;

    /// <summary>ILGPU's CPU accelerator configured like a GPU (see <see cref="SimulatedGpu"/>), so group-tiled kernels run with
    /// the group size and warp width they get on a device.</summary>
    /// <paramref name="tf32"/> emulates the tensor-core products (slowly) so their fragment layout is tested without a GPU.
    public static Device CpuSimulator(bool tf32 = false) => Open(DeviceKind.CpuSimulator, 0, tf32)!;

    /// <summary>The simulator's shape: warps of 32 threads, 8 warps (256 threads) per group, one multiprocessor.</summary>
    public static readonly CPUDevice SimulatedGpu = new(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1);

    /// <summary>CUDA, else OpenCL, else the CPU backend.</summary>
    public static Device Best() => Open(DeviceKind.Cuda, 0) ?? Open(DeviceKind.OpenCL, 0) ?? Cpu();

    /// <summary>Parses "cpu", "cuda", "cuda-tf32", "opencl", "sim", "sim-tf32" or "best".</summary>
    public static Device Parse(string name) => name.ToLowerInvariant() switch
    {
        "cpu" => Cpu(),
        "cuda" => Cuda(),
        "cuda-tf32" => Cuda(tf32: true),
        "sim-tf32" => CpuSimulator(tf32: true),
        "opencl" => OpenCL(),
        "sim" or "simulator" or "cpu-simulator" => CpuSimulator(),
        "best" => Best(),
        _ => throw new ArgumentException($"Unknown device '{name}'; use cpu, cuda, cuda-tf32, opencl, sim, sim-tf32 or best.", nameof(name)),
    };

    static string? s_lastFailure;

    /// <summary>The context settings of every GPU device: ILGPU.Algorithms' intrinsics (without them the PTX and OpenCL backends
    /// cannot compile <c>MathF.Exp</c> and its kin), profiling markers (events, only when the op profiler records), fast 32-bit
    /// math, and full optimization.</summary>
    internal static Context.Builder GpuSettings(Context.Builder builder) =>
        builder.EnableAlgorithms().Profiling().Math(MathMode.Fast32BitOnly).Optimize(OptimizationLevel.O2);

    static Device? Open(DeviceKind kind, int index, bool tf32 = false)
    {
        NativeDrivers.Install();
        s_lastFailure = null;
        Context? context = null;
        try
        {
            context = kind switch
            {
                DeviceKind.Cuda => Context.Create(b => GpuSettings(b.Cuda())),
                DeviceKind.OpenCL => Context.Create(b => GpuSettings(b.OpenCL())),
                _ => Context.Create(b => b.CPU(SimulatedGpu).EnableAlgorithms().Profiling().Optimize(OptimizationLevel.O1)),
            };
            var type = kind switch
            {
                DeviceKind.Cuda => AcceleratorType.Cuda,
                DeviceKind.OpenCL => AcceleratorType.OpenCL,
                _ => AcceleratorType.CPU,
            };
            var devices = context.Devices.Where(d => d.AcceleratorType == type).ToArray();
            if (index >= devices.Length)
            {
                context.Dispose();
                return null;
            }
            var accelerator = devices[index].CreateAccelerator(context);
            if (accelerator.WarpSize != WarpSize)
            {
                // The warp reductions (LayerNorm, softmax, the loss, attention, pools) assume 32 lanes.
                s_lastFailure = $"{accelerator.Name} runs warps (sub-groups) of {accelerator.WarpSize} threads; the kernels need {WarpSize}";
                accelerator.Dispose();
                context.Dispose();
                return null;
            }
            if (tf32 && accelerator is CudaAccelerator cuda && cuda.Architecture < CudaArchitecture.SM_80)
            {
                string name = accelerator.Name, arch = cuda.Architecture.ToString();
                accelerator.Dispose();
                context.Dispose();
                throw new DeviceUnavailableException($"TF32 tensor cores need compute capability 8.0 or newer; {name} has {arch}. " +
                    "Open the device without tf32.");
            }
            return new Device(kind, context, accelerator, tf32);
        }
        catch (Exception e) when (kind != DeviceKind.CpuSimulator && e is not (OutOfMemoryException or DeviceUnavailableException))
        {
            // A missing driver or an unusable device is "not available", not a crash: Best() falls through, and
            // Cuda() names the cause.
            s_lastFailure = DeviceProbe.Describe(e);
            context?.Dispose();
            return null;
        }
    }

    public override string ToString() => $"{Kind}: {Name}";

    public void Dispose()
    {
        Accelerator?.Dispose();
        Context?.Dispose();
    }
}

/// <summary>What crossed between host and device, and what ran there: a training step's design is held to these
/// (the batch goes up, the loss comes down).</summary>
public sealed class DeviceCounters
{
    /// <summary>Kernel launches.</summary>
    public long Launches { get; internal set; }

    /// <summary>Copies between host and device memory, either way (each one a transfer call, whatever its size).</summary>
    public long Copies { get; internal set; }

    public override string ToString() => $"{Launches} launches, {Copies} copies";
}

/// <summary>The requested device is not present on this machine.</summary>
public sealed class DeviceUnavailableException : Exception
{
    public DeviceUnavailableException(string message) : base(message)
    {
    }
}
