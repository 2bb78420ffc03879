using System;
using System.IO;
using System.Text.Json;
using ModelGen.Tests.Support;
using Xunit.Sdk;

namespace ModelGen.Tests.Training;

/// <summary>Runs an inline PyTorch script on JSON input (the file named by sys.argv[1]) and parses the JSON it prints.</summary>
internal static class TorchOracle
{
    public static JsonElement Run(string script, object input)
    {
        Torch.RequireOrSkip();
        using var temp = new TempDirectory("modelgen-torch-");
        string scriptPath = temp.File("oracle.py");
        string inputPath = temp.File("input.json");
        File.WriteAllText(scriptPath, "import json, math, sys, torch\ntorch.set_num_threads(1)\ninp = json.load(open(sys.argv[1]))\n" + script);
        File.WriteAllText(inputPath, JsonSerializer.Serialize(input));
        var (code, output) = Torch.Run(new[] { scriptPath, inputPath }, TimeSpan.FromMinutes(3));
        if (code != 0) throw new XunitException($"The PyTorch oracle failed (exit {code}):\n{output}");
        int start = output.IndexOf('{');
        if (start < 0) throw new XunitException($"The PyTorch oracle printed no JSON:\n{output}");
        using var doc = JsonDocument.Parse(output[start..]);
        return doc.RootElement.Clone();
    }

    public static float[] Floats(JsonElement array)
    {
        var a = new float[array.GetArrayLength()];
        int i = 0;
        foreach (var e in array.EnumerateArray()) a[i++] = (float)e.GetDouble();
        return a;
    }

    public static double[] Doubles(JsonElement array)
    {
        var a = new double[array.GetArrayLength()];
        int i = 0;
        foreach (var e in array.EnumerateArray()) a[i++] = e.GetDouble();
        return a;
    }
}
