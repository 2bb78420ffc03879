using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using Xunit;
using Xunit.Sdk;

namespace ModelGen.Tests.Support;

/// <summary>
/// PyTorch (Debian's python3-torch, run with /usr/bin/python3) as an oracle. Tests that need it skip where it is
/// absent — except when MODELGEN_REQUIRE_TORCH=1 (CI sets it), where its absence fails them.
/// </summary>
public static class Torch
{
    public const string Python = "/usr/bin/python3";

    static readonly Lazy<bool> s_available = new(() =>
    {
        if (!File.Exists(Python)) return false;
        try
        {
            return Run(new[] { "-c", "import torch, json, struct" }, TimeSpan.FromSeconds(120)).Code == 0;
        }
        catch (Exception)
        {
            return false;
        }
    });

    public static bool Available => s_available.Value;

    /// <summary>Skips the calling [SkippableFact] when PyTorch is missing, or fails it when CI requires PyTorch.</summary>
    public static void RequireOrSkip()
    {
        if (Available) return;
        if (Environment.GetEnvironmentVariable("MODELGEN_REQUIRE_TORCH") == "1")
            throw new XunitException($"MODELGEN_REQUIRE_TORCH=1 but {Python} cannot import torch (apt-get install python3-torch).");
        Skip.If(true, $"{Python} with torch is not available (apt-get install python3-torch).");
    }

    public static (int Code, string Output) Run(IEnumerable<string> args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["OMP_NUM_THREADS"] = "2";
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Python} did not finish within {timeout}.");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
