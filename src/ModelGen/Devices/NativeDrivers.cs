using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

namespace ModelGen;

/// <summary>
/// Finds the GPU driver libraries ILGPU imports by their bare names ("cuda", "OpenCL"). .NET looks for <c>libcuda.so</c>
/// only, while a driver installs <c>libcuda.so.1</c> (the unversioned name comes with development packages) and container
/// runtimes mount it outside the default paths (<c>/usr/local/nvidia/lib64</c>). This resolver tries the versioned names in
/// <c>LD_LIBRARY_PATH</c>, the loader's own paths and the usual driver folders, and remembers what it tried, so a failure can
/// say why.
/// </summary>
public static class NativeDrivers
{
    static readonly object s_gate = new();
    static bool s_installed;
    static readonly Dictionary<string, string> s_outcome = new(StringComparer.Ordinal);

    static readonly string[] s_folders =
    {
        "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64", "/usr/lib", "/usr/local/cuda/compat", "/usr/lib/wsl/lib",
    };

    /// <summary>Installs the resolver for ILGPU's assembly once. On WSL ILGPU installs its own (it knows the WSL folder), so
    /// this one stays out of its way.</summary>
    public static void Install()
    {
        lock (s_gate)
        {
            if (s_installed) return;
            s_installed = true;
            if (!OperatingSystem.IsLinux() || IsWsl()) return;
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, Resolve);
            }
            catch (InvalidOperationException)
            {
                // Someone set a resolver for ILGPU first; theirs stands.
            }
        }
    }

    /// <summary>What happened when the library was last looked for: the path loaded, or every candidate tried and why it failed.</summary>
    public static string Outcome(string libraryName)
    {
        lock (s_gate) return s_outcome.TryGetValue(libraryName, out var o) ? o : "not looked for yet";
    }

    /// <summary>Loads a driver library the way the resolver does and returns its handle, or zero (see <see cref="Outcome"/>).</summary>
    public static IntPtr Load(string libraryName)
    {
        var failures = new List<string>();
        foreach (var candidate in Candidates(libraryName))
        {
            if (NativeLibrary.TryLoad(candidate, out var handle))
            {
                Record(libraryName, "loaded " + candidate);
                return handle;
            }
            failures.Add(candidate);
        }
        Record(libraryName, "not found; tried " + string.Join(", ", failures));
        return IntPtr.Zero;
    }

    static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName is "cuda" or "OpenCL" ? Load(libraryName) : IntPtr.Zero;

    static IEnumerable<string> Candidates(string libraryName)
    {
        var names = libraryName == "cuda"
            ? new[] { "libcuda.so.1", "libcuda.so" }
            : new[] { "lib" + libraryName + ".so.1", "lib" + libraryName + ".so" };
        foreach (var n in names) yield return n;
        var folders = new List<string>();
        foreach (var f in (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)) folders.Add(f);
        folders.AddRange(s_folders);
        foreach (var folder in folders)
            foreach (var n in names)
            {
                string path = Path.Combine(folder, n);
                if (File.Exists(path)) yield return path;
            }
    }

    static void Record(string libraryName, string outcome)
    {
        lock (s_gate) s_outcome[libraryName] = outcome;
    }

    static bool IsWsl()
    {
        try
        {
            return File.ReadAllText("/proc/version").Contains("microsoft", StringComparison.OrdinalIgnoreCase) && Directory.Exists("/usr/lib/wsl/lib");
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
