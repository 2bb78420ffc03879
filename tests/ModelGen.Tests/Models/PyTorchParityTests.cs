using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace ModelGen.Tests.Models;

/// <summary>
/// The third oracle: PyTorch (Peers/encoder_reference.py, float64) on the same weights and inputs, exchanged as
/// safetensors. Output, input gradient and every parameter gradient are compared by name.
/// </summary>
public class PyTorchParityTests : IDisposable
{
    const double MaxRelativeError = 1e-4;
    readonly TempDirectory _temp = new("modelgen-torch-");
    readonly ITestOutputHelper _log;

    public PyTorchParityTests(ITestOutputHelper log) => _log = log;

    public void Dispose() => _temp.Dispose();

    [SkippableFact]
    public void GqaCausalPaddedPreNormEncoder_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new GqaEncoder(Device.Cpu(), seed: 21);
        var x = ModelData.Random(1, 1f, 3, 12, 32);
        var padding = ModelData.Padding(12, 0, 4, 1);
        var y = m.Forward(x, padding);
        var dy = ModelData.Random(2, 1f, y.Shape);
        m.Backward(dy);
        Compare("""{"width": 32, "depth": 2, "heads": 4, "kv_heads": 2, "key_dim": 8, "value_dim": 8, "ff": 64, "norm": "pre", "causal": true, "final_norm": true, "head_classes": 10}""",
            m.Parameters, GqaEncoder.Summary, x, padding, y, dy, m.InputGradient("x"));
    }

    [SkippableFact]
    public void PostNormReluPaddedEncoder_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new PostNormEncoder(Device.Cpu(), seed: 22);
        var x = ModelData.Random(3, 1f, 2, 9, 24);
        var padding = ModelData.Padding(9, 3, 0);
        var y = m.Forward(x, padding);
        var dy = ModelData.Random(4, 1f, y.Shape);
        m.Backward(dy);
        Compare("""{"width": 24, "depth": 2, "heads": 4, "kv_heads": 4, "key_dim": 6, "value_dim": 6, "ff": 48, "norm": "post", "activation": "relu", "final_norm": false, "head_classes": 0}""",
            m.Parameters, PostNormEncoder.Summary, x, padding, y, dy, m.InputGradient("x"));
    }

    [SkippableFact]
    public void MultiQueryCausalEncoderWithoutBias_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new MqaEncoder(Device.Cpu(), seed: 23);
        var x = ModelData.Random(5, 1f, 2, 7, 16);
        var y = m.Forward(x);
        var dy = ModelData.Random(6, 1f, y.Shape);
        m.Backward(dy);
        Compare("""{"width": 16, "depth": 3, "heads": 4, "kv_heads": 1, "key_dim": 6, "value_dim": 5, "ff": 40, "norm": "pre", "causal": true, "bias": false, "final_norm": true, "head_classes": 0}""",
            m.Parameters, MqaEncoder.Summary, x, null, y, dy, m.InputGradient("x"));
    }

    [SkippableFact]
    public void TinyVitWithClassToken_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new TinyVit(Device.Cpu(), seed: 24);
        var image = ModelData.Random(7, 1f, 3, 2, 12, 8);
        var y = m.Forward(image);
        var dy = ModelData.Random(8, 1f, y.Shape);
        m.Backward(dy);
        Compare("""{"image": [2, 12, 8], "patch": 4, "width": 16, "depth": 2, "heads": 2, "ff": 32, "norm": "pre", "class_token": true, "positions": "learned", "final_norm": true, "classes": 5, "pool": "class_token"}""",
            m.Parameters, TinyVit.Summary, image, null, y, dy, m.InputGradient("image"), script: "vit_reference.py", input: "image");
    }

    [SkippableFact]
    public void MeanPooledPostNormVit_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new MeanPoolVit(Device.Cpu(), seed: 25);
        var image = ModelData.Random(9, 1f, 4, 1, 8, 8);
        var y = m.Forward(image);
        var dy = ModelData.Random(10, 1f, y.Shape);
        m.Backward(dy);
        Compare("""{"image": [1, 8, 8], "patch": 2, "width": 8, "depth": 1, "heads": 2, "ff": 16, "norm": "post", "class_token": false, "positions": "learned", "final_norm": false, "classes": 3, "pool": "mean"}""",
            m.Parameters, MeanPoolVit.Summary, image, null, y, dy, m.InputGradient("image"), script: "vit_reference.py", input: "image");
    }

    void Compare(string config, ParameterSet parameters, ModelSummary summary, Tensor x, Tensor? padding, Tensor y, Tensor dy, Tensor dx,
        string script = "encoder_reference.py", string input = "x")
    {
        string configPath = _temp.File("config.json"), weights = _temp.File("weights.safetensors");
        string inputs = _temp.File("inputs.safetensors"), outputs = _temp.File("outputs.safetensors");
        File.WriteAllText(configPath, config);
        parameters.Save(weights);
        var feed = new List<SafeTensor> { new(input, x.Shape, x.Data), new("grad_output", dy.Shape, dy.Data) };
        if (padding is not null) feed.Add(new SafeTensor("padding", padding.Shape, padding.Data));
        SafeTensors.Save(inputs, feed);

        string scriptPath = Path.Combine(AppContext.BaseDirectory, "Peers", script);
        var (code, output) = Torch.Run(new[] { scriptPath, configPath, weights, inputs, outputs }, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"{script} exited with {code}:\n{output}");
        var reference = SafeTensors.Load(outputs);

        var report = new List<string>();
        void Check(string name, float[] expected, float[] actual, double floor)
        {
            Assert.Equal(expected.Length, actual.Length);
            double worst = 0, scale = floor;
            for (int i = 0; i < expected.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
                scale = Math.Max(scale, Math.Abs(expected[i]));
            }
            double relative = worst / scale;
            report.Add($"{name}: {relative:E2}");
            Assert.True(relative <= MaxRelativeError, $"{name}: relative error {relative:E3} > {MaxRelativeError:E0} (max abs diff {worst:E3}, scale {scale:E3})");
        }

        Check("output", reference["output"].Data, y.Data, 0);
        Check("grad." + input, reference["grad." + input].Data, dx.Data, 0);
        // A key-projection bias gets a zero gradient in exact arithmetic (it shifts a whole row of scores, which
        // softmax ignores); there, and only where a tensor's gradient is that small, the error is measured against
        // a thousandth of the largest gradient in the model rather than against rounding noise.
        double largest = parameters.Max(p => reference["grad." + p.Name].Data.Max(Math.Abs));
        foreach (var p in parameters) Check("grad." + p.Name, reference["grad." + p.Name].Data, p.Grad, 1e-3 * largest);
        Assert.Equal(parameters.Count + 2, reference.Count);
        // The generated summary counts what PyTorch's named_parameters() holds, without running anything.
        Assert.Equal(reference.Where(r => r.Key.StartsWith("grad.", StringComparison.Ordinal) && r.Key != "grad." + input).Sum(r => (long)r.Value.Data.Length), summary.Parameters);
        _log.WriteLine(string.Join("\n", report));
    }
}
