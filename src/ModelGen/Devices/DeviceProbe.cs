using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace ModelGen;

/// <summary>
/// Says what a machine offers the CUDA path and, when something is missing, the real cause: which driver library loaded
/// (or every path tried), what the driver itself answers (<c>cuInit</c>, version, devices, compute capability, memory), what
/// ILGPU makes of each device (its architecture and the PTX ISA it will emit), and whether a kernel compiles, launches and
/// returns the right numbers. ILGPU's own device enumeration swallows every exception; this does not.
/// </summary>
public static class DeviceProbe
{
    /// <summary>One finding: a name, its value, and whether it is a failure.</summary>
    public readonly record struct Finding(string Name, string Value, bool Failed = false)
    {
        public override string ToString() => $"{Name}: {Value}";
    }

    /// <summary>Everything the probe finds about CUDA on this machine, in order.</summary>
    public static IReadOnlyList<Finding> Cuda()
    {
        var found = new List<Finding>
        {
            new("os", RuntimeInformation.OSDescription),
            new("runtime", RuntimeInformation.FrameworkDescription),
            new("ilgpu", typeof(Context).Assembly.GetName().Version?.ToString() ?? "?"),
        };
        NativeDrivers.Install();
        IntPtr driver = NativeDrivers.Load("cuda");
        found.Add(new("driver library", NativeDrivers.Outcome("cuda"), driver == IntPtr.Zero));
        if (driver == IntPtr.Zero) return found;
        try
        {
            DriverFindings(driver, found);
        }
        catch (EntryPointNotFoundException e)
        {
            found.Add(new("driver", "the library lacks a driver entry point: " + e.Message, true));
            return found;
        }
        if (found.Any(f => f.Failed)) return found;
        IlgpuFindings(found);
        return found;
    }

    /// <summary>The first failure of <see cref="Cuda"/> as one sentence, or null when CUDA works.</summary>
    public static string? CudaFailure() => Cuda().Where(f => f.Failed).Select(f => f.ToString()).FirstOrDefault();

    static unsafe void DriverFindings(IntPtr driver, List<Finding> found)
    {
        var cuInit = (delegate* unmanaged<uint, int>)NativeLibrary.GetExport(driver, "cuInit");
        var cuDriverGetVersion = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(driver, "cuDriverGetVersion");
        var cuDeviceGetCount = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(driver, "cuDeviceGetCount");
        var cuDeviceGet = (delegate* unmanaged<int*, int, int>)NativeLibrary.GetExport(driver, "cuDeviceGet");
        var cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)NativeLibrary.GetExport(driver, "cuDeviceGetName");
        var cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)NativeLibrary.GetExport(driver, "cuDeviceGetAttribute");
        var cuDeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)NativeLibrary.GetExport(driver, "cuDeviceTotalMem_v2");

        int r = cuInit(0);
        found.Add(new("cuInit", ErrorName(driver, r), r != 0));
        if (r != 0) return;
        int version;
        r = cuDriverGetVersion(&version);
        found.Add(new("driver CUDA version", r == 0 ? $"{version / 1000}.{version % 1000 / 10}" : ErrorName(driver, r), r != 0));
        int count;
        r = cuDeviceGetCount(&count);
        found.Add(new("devices", r == 0 ? count.ToString(CultureInfo.InvariantCulture) : ErrorName(driver, r), r != 0 || count == 0));
        var name = stackalloc byte[256];
        for (int i = 0; r == 0 && i < count; i++)
        {
            int dev;
            if (cuDeviceGet(&dev, i) != 0) continue;
            cuDeviceGetName(name, 256, dev);
            int major, minor, sms;
            cuDeviceGetAttribute(&major, 75, dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
            cuDeviceGetAttribute(&minor, 76, dev); // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
            cuDeviceGetAttribute(&sms, 16, dev); // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
            nuint bytes;
            cuDeviceTotalMem(&bytes, dev);
            found.Add(new($"device {i}", $"{Marshal.PtrToStringUTF8((IntPtr)name)}, compute capability {major}.{minor}, {sms} SMs, {bytes / (1024.0 * 1024 * 1024):F1} GiB"));
        }
    }

    static unsafe string ErrorName(IntPtr driver, int code)
    {
        if (code == 0) return "CUDA_SUCCESS";
        if (NativeLibrary.TryGetExport(driver, "cuGetErrorName", out var export))
        {
            byte* text = null;
            if (((delegate* unmanaged<int, byte**, int>)export)(code, &text) == 0 && text != null)
                return $"{Marshal.PtrToStringUTF8((IntPtr)text)} ({code})";
        }
        return "error " + code.ToString(CultureInfo.InvariantCulture);
    }

    static void IlgpuFindings(List<Finding> found)
    {
        try
        {
            using var context = Context.Create(b => Device.GpuSettings(b.Cuda()));
            var devices = context.Devices.OfType<CudaDevice>().ToArray();
            found.Add(new("ilgpu devices", devices.Length.ToString(CultureInfo.InvariantCulture), devices.Length == 0));
            foreach (var d in devices)
            {
                found.Add(new($"ilgpu device {d.DeviceId}",
                    $"{d.Name}, driver {d.DriverVersion}, architecture {d.Architecture?.ToString() ?? "unknown to ILGPU"}, " +
                    $"PTX ISA {d.InstructionSet?.ToString() ?? "none"}, {d.MaxNumThreadsPerGroup} threads per group, " +
                    $"{d.MaxSharedMemoryPerGroup / 1024} KiB shared per group", d.Architecture is null || d.InstructionSet is null));
            }
            if (devices.Length == 0) return;
            using var accelerator = devices[0].CreateAccelerator(context);
            var cuda = (CudaAccelerator)accelerator;
            found.Add(new("ptx target", $"{cuda.Architecture}, ISA {cuda.InstructionSet}"));
            found.Add(new("kernel", SmokeKernel(accelerator)));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            found.Add(new("ilgpu", Describe(e), true));
        }
    }

    /// <summary>Compiles, launches and reads back one kernel; throws with the cause when the numbers are wrong.</summary>
    internal static string SmokeKernel(Accelerator accelerator)
    {
        const int n = 1000;
        var start = System.Diagnostics.Stopwatch.StartNew();
        var kernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(Smoke);
        using var buffer = accelerator.Allocate1D<float>(n);
        kernel(n, buffer.View, 0.5f);
        accelerator.Synchronize();
        var back = buffer.GetAsArray1D();
        for (int i = 0; i < n; i++)
            if (back[i] != i * 0.5f) throw new InvalidOperationException($"the smoke kernel wrote {back[i]} at {i}, not {i * 0.5f}");
        return $"compiled, launched and read back in {start.Elapsed.TotalMilliseconds:F0} ms";
    }

    static void Smoke(Index1D i, ArrayView<float> y, float scale) => y[i] = i * scale;

    /// <summary>An exception and its inner causes on one line.</summary>
    public static string Describe(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null; x = x.InnerException) parts.Add($"{x.GetType().Name}: {x.Message}");
        return string.Join(" <- ", parts);
    }
}
