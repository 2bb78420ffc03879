using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Training;

/// <summary>A run killed with SIGKILL while it writes a checkpoint loses nothing: a child process (tests/ModelGen.FaultChild)
/// saves a 16 MB checkpoint over and over and is killed at random moments, many times; after every kill the file loads and
/// holds one whole generation, never older than the last one the child reported saved.</summary>
public class CheckpointFaultTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The child's assembly, built beside this one (same configuration).</summary>
    static string Child()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = here.Name, configuration = here.Parent!.Name;
        string tests = here.Parent.Parent!.Parent!.Parent!.FullName;
        string path = Path.Combine(tests, "ModelGen.FaultChild", "bin", configuration, framework, "ModelGen.FaultChild.dll");
        Assert.True(File.Exists(path), $"the fault child is not built at {path}");
        return path;
    }

    static ParameterSet Shaped(int megabytes)
    {
        int perParameter = megabytes * 1024 * 1024 / 4 / 8;
        return new ParameterSet(Enumerable.Range(0, 8).Select(i => new Parameter($"layers.{i}.weight", new[] { perParameter }, decay: true)));
    }

    [Fact]
    public void ARunKilledWhileSaving_LeavesTheLastCheckpointIntactAndLoadable()
    {
        const int megabytes = 16;
        string child = Child();
        using var dir = new TempDirectory("modelgen-faults-");
        string file = dir.File("model.safetensors");
        var random = new Random(7);
        int reported = 0, kills = 0, midWrite = 0;
        while (kills < 40 && (kills < 15 || midWrite < 3))
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add(child);
            info.ArgumentList.Add(file);
            info.ArgumentList.Add(megabytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var p = Process.Start(info)!;
            string? first = p.StandardOutput.ReadLine();
            if (first is null || !first.StartsWith("saved ", StringComparison.Ordinal))
            {
                p.WaitForExit(10_000);
                Assert.Fail($"the child did not save: {first} {p.StandardError.ReadToEnd()}");
            }
            reported = Math.Max(reported, int.Parse(first.Substring(6), System.Globalization.CultureInfo.InvariantCulture));
            // Somewhere inside a later save (each writes 16 MB).
            System.Threading.Thread.Sleep(random.Next(1, 80));
            p.Kill();
            p.WaitForExit();
            kills++;
            if (Directory.GetFiles(dir.Path, ".model.safetensors.*.tmp").Length > midWrite) midWrite++;
            var parameters = Shaped(megabytes);
            parameters.Load(file);
            int generation = (int)parameters[0].Value[0];
            Assert.True(generation >= reported, $"after kill {kills} the checkpoint holds generation {generation}, older than the reported {reported}");
            foreach (var q in parameters)
                Assert.True(q.Value.All(v => v == generation), $"after kill {kills} '{q.Name}' mixes generations");
            reported = generation;
        }
        output.WriteLine($"{kills} kills, {midWrite} of them mid-write; the checkpoint loaded whole after every one (last generation {reported})");
        Assert.True(midWrite >= 3, $"{kills} kills, of which only {midWrite} interrupted a write (left its temporary file)");
    }
}
