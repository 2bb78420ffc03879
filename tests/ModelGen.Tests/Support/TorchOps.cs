using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using ModelGen.IO;
using Xunit;

namespace ModelGen.Tests.Support;

/// <summary>
/// Runs one op in PyTorch (Peers/conv_ops_reference.py, float64) on the given inputs, exchanged as safetensors, and returns what
/// it wrote: "output", "grad.&lt;input&gt;" and any state it updated. Skips (or fails under MODELGEN_REQUIRE_TORCH=1) without PyTorch.
/// </summary>
public static class TorchOps
{
    public static IReadOnlyDictionary<string, SafeTensor> Run(object config, params SafeTensor[] inputs) => RunScript("conv_ops_reference.py", config, inputs);

    /// <summary>Runs a script of Peers/ with the same protocol (CONFIG.json INPUTS.safetensors OUT.safetensors).</summary>
    public static IReadOnlyDictionary<string, SafeTensor> RunScript(string name, object config, params SafeTensor[] inputs)
    {
        Torch.RequireOrSkip();
        using var temp = new TempDirectory("modelgen-torch-ops-");
        string configPath = temp.File("config.json"), inputPath = temp.File("inputs.safetensors");
        string outputPath = temp.File("outputs.safetensors");
        File.WriteAllText(configPath, JsonSerializer.Serialize(config));
        SafeTensors.Save(inputPath, inputs);
        string script = Path.Combine(AppContext.BaseDirectory, "Peers", name);
        var (code, output) = Torch.Run(new[] { script, configPath, inputPath, outputPath }, TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"{name} exited with {code}:\n{output}");
        return SafeTensors.Load(outputPath);
    }

    /// <summary>Asserts max|expected − actual| ≤ tolerance·max(max|expected|, floor), the measure used against PyTorch.</summary>
    public static void Close(IReadOnlyDictionary<string, SafeTensor> reference, string name, float[] actual, double tolerance = 1e-5, double floor = 1e-6)
    {
        Assert.True(reference.ContainsKey(name), $"PyTorch wrote no '{name}' (it wrote {string.Join(", ", reference.Keys)})");
        var expected = reference[name].Data;
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0, scale = floor;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (d > worst || double.IsNaN(d)) { worst = double.IsNaN(d) ? double.PositiveInfinity : d; at = i; }
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        Assert.True(worst <= tolerance * scale,
            $"{name}: max abs diff {worst:E3} at [{at}] (PyTorch {expected[at]:G9}, ours {actual[at]:G9}) exceeds {tolerance:E1}·{scale:E3}");
    }
}
