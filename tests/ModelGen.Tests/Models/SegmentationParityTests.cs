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
/// The third oracle for the segmentation models: PyTorch (Peers/segmentation_reference.py, float64) on the same weights
/// and inputs, exchanged as safetensors. Output, input gradient and every parameter gradient are compared by name and,
/// in training mode, the BatchNorm running statistics after the forward pass.
/// </summary>
public class SegmentationParityTests : IDisposable
{
    const double MaxRelativeError = 1e-4;
    const string Script = "segmentation_reference.py";
    readonly TempDirectory _temp = new("modelgen-torch-seg-");
    readonly ITestOutputHelper _log;

    public SegmentationParityTests(ITestOutputHelper log) => _log = log;

    public void Dispose() => _temp.Dispose();

    [SkippableFact]
    public void TinySetrTraining_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new TinySetr(Device.Cpu(), seed: 31) { Training = true };
        Compare("tiny_setr", true, m.Parameters, TinySetr.Summary, "image", ModelData.Random(32, 1f, 2, 1, 16, 16), m.Forward, m.Backward, () => m.InputGradient("image"), 33);
    }

    [SkippableFact]
    public void TinySetrEval_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new TinySetr(Device.Cpu(), seed: 34) { Training = false };
        Compare("tiny_setr", false, m.Parameters, TinySetr.Summary, "image", ModelData.Random(35, 1f, 2, 1, 16, 16), m.Forward, m.Backward, () => m.InputGradient("image"), 36);
    }

    [SkippableFact]
    public void TinySegmenter_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new TinySegmenter(Device.Cpu(), seed: 37);
        Compare("tiny_segmenter", false, m.Parameters, TinySegmenter.Summary, "image", ModelData.Random(38, 1f, 2, 1, 16, 16), m.Forward, m.Backward, () => m.InputGradient("image"), 39);
    }

    [SkippableFact]
    public void TinyMaskFormer_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new TinyMaskFormer(Device.Cpu(), seed: 40);
        Compare("tiny_maskformer", false, m.Parameters, TinyMaskFormer.Summary, "image", ModelData.Random(41, 1f, 2, 1, 16, 16), m.Forward, m.Backward, () => m.InputGradient("image"), 42);
    }

    [SkippableFact]
    public void SpatialBlocksTraining_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new SpatialBlocks(Device.Cpu(), seed: 43) { Training = true };
        Compare("spatial_blocks", true, m.Parameters, SpatialBlocks.Summary, "x", ModelData.Random(44, 1f, 2, 4, 6, 5), m.Forward, m.Backward, () => m.InputGradient("x"), 45);
    }

    [SkippableFact]
    public void SpatialBlocksEval_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new SpatialBlocks(Device.Cpu(), seed: 46) { Training = false };
        Compare("spatial_blocks", false, m.Parameters, SpatialBlocks.Summary, "x", ModelData.Random(47, 1f, 2, 4, 6, 5), m.Forward, m.Backward, () => m.InputGradient("x"), 48);
    }

    [SkippableFact]
    public void NonLocalVariantsTraining_AgreesWithPyTorch()
    {
        Torch.RequireOrSkip();
        using var m = new NonLocalVariants(Device.Cpu(), seed: 49) { Training = true };
        Compare("nonlocal_variants", true, m.Parameters, NonLocalVariants.Summary, "x", ModelData.Random(50, 1f, 2, 6, 4, 3), m.Forward, m.Backward, () => m.InputGradient("x"), 51);
    }

    /// <summary>
    /// Parameters with a constant initial value (norm scales and shifts, biases of zero, class tokens, running statistics,
    /// and the non-local blocks' BatchNorm scale of 0, which would zero every gradient of its branch) are redrawn around
    /// that value, so that a mixed-up weight and bias, mean and variance or branch cannot agree by accident.
    /// </summary>
    static void Perturb(ParameterSet parameters, int seed)
    {
        var r = new Random(seed);
        foreach (var p in parameters)
        {
            if (p.Value.Length == 0 || p.Value.Any(v => v != p.Value[0])) continue;
            bool variance = p.Name.EndsWith(".running_var", StringComparison.Ordinal);
            float c = p.Value[0];
            for (int i = 0; i < p.Value.Length; i++)
                p.Value[i] = variance ? (float)(0.5 + r.NextDouble()) : c + (float)(r.NextDouble() - 0.5);
            p.MarkChanged();
        }
    }

    void Compare(string model, bool training, ParameterSet parameters, ModelSummary summary, string input, Tensor x, Func<Tensor, Tensor> forward,
        Action<Tensor> backward, Func<Tensor> inputGradient, int seed)
    {
        Perturb(parameters, seed);
        string configPath = _temp.File("config.json"), weights = _temp.File("weights.safetensors");
        string inputs = _temp.File("inputs.safetensors"), outputs = _temp.File("outputs.safetensors");
        File.WriteAllText(configPath, $$"""{"model": "{{model}}", "training": {{(training ? "true" : "false")}}}""");
        parameters.Save(weights); // before the forward pass, which moves the running statistics in training
        var before = parameters.Where(p => !p.Trainable).ToDictionary(p => p.Name, p => (float[])p.Value.Clone());

        var y = forward(x);
        var dy = ModelData.Random(seed + 1000, 1f, y.Shape);
        backward(dy);
        var dx = inputGradient();
        SafeTensors.Save(inputs, new[] { new SafeTensor(input, x.Shape, x.Data), new SafeTensor("grad_output", dy.Shape, dy.Data) });

        string scriptPath = Path.Combine(AppContext.BaseDirectory, "Peers", Script);
        var (code, output) = Torch.Run(new[] { scriptPath, configPath, weights, inputs, outputs }, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"{Script} exited with {code}:\n{output}");
        var reference = SafeTensors.Load(outputs);

        var report = new List<string>();
        var failures = new List<string>();
        double worst = 0;
        void Check(string name, float[] actual, double floor)
        {
            if (!reference.TryGetValue(name, out var expected)) { failures.Add($"{name}: missing from {Script}'s output"); return; }
            if (expected.Data.Length != actual.Length) { failures.Add($"{name}: {expected.Data.Length} values from {Script}, {actual.Length} here"); return; }
            double diff = 0, scale = floor;
            for (int i = 0; i < actual.Length; i++)
            {
                diff = Math.Max(diff, Math.Abs(expected.Data[i] - actual[i]));
                scale = Math.Max(scale, Math.Abs(expected.Data[i]));
            }
            double relative = scale == 0 ? diff : diff / scale;
            worst = Math.Max(worst, relative);
            report.Add($"{name}: {relative:E2} (max abs diff {diff:E2}, scale {scale:E2})");
            if (!(relative <= MaxRelativeError)) failures.Add($"{name}: relative error {relative:E3} > {MaxRelativeError:E0}");
        }

        Check("output", y.Data, 0);
        Check("grad." + input, dx.Data, 0);
        // The generated summary counts what PyTorch's named_parameters() holds, without running anything.
        long torchParameters = reference.Where(r => r.Key.StartsWith("grad.", StringComparison.Ordinal) && r.Key != "grad." + input).Sum(r => (long)r.Value.Data.Length);
        if (torchParameters != summary.Parameters) failures.Add($"parameters: PyTorch has {torchParameters}, the generated summary {summary.Parameters}");
        // Where a gradient is small, the error is measured against a thousandth of the largest gradient in the model rather
        // than against rounding noise. Some gradients are zero in exact arithmetic: a key-projection bias and the φ bias of
        // a softmax affinity (softmax ignores a shift of a whole row of scores), the class token that TokensToMap skips and,
        // in training, a bias in front of a BatchNorm (the batch mean takes it out again; also g's bias in a softmax non-local
        // block, as the affinity's rows sum to 1). PyTorch's float64 gives ~1e-13 there, and here the float32 sum of n terms
        // that cancel leaves n·ε times their size, which grows with the BatchNorm's 1/σ (up to ~5e-5 of the largest gradient
        // here): such a gradient (at most 1e-9 of the largest in PyTorch) must be zero to within 1e-3 of the largest.
        var trainable = parameters.Where(p => p.Trainable).ToList();
        double largest = trainable.Max(p => reference.TryGetValue("grad." + p.Name, out var g) ? g.Data.Max(Math.Abs) : 0.0);
        foreach (var p in trainable)
        {
            bool zero = reference.TryGetValue("grad." + p.Name, out var g) && g.Data.Max(Math.Abs) <= 1e-9 * largest;
            Check("grad." + p.Name, p.Grad, zero ? 10 * largest : 1e-3 * largest);
        }
        foreach (var p in parameters.Where(p => !p.Trainable))
        {
            if (training) Check("value." + p.Name, p.Value, 0);
            else if (!p.Value.SequenceEqual(before[p.Name])) failures.Add($"{p.Name}: changed by an evaluation-mode forward pass");
        }
        int expectedCount = 2 + trainable.Count + (training ? parameters.Count - trainable.Count : 0);
        if (reference.Count != expectedCount)
        {
            var ours = new HashSet<string>(parameters.Select(p => (p.Trainable ? "grad." : "value.") + p.Name).Append("output").Append("grad." + input));
            failures.Add($"{Script} wrote {reference.Count} tensors, expected {expectedCount}; not ours: " +
                string.Join(", ", reference.Keys.Where(k => !ours.Contains(k)).OrderBy(k => k, StringComparer.Ordinal)));
        }

        report.Add($"worst relative error ({model}, training={training}): {worst:E2}");
        string text = string.Join("\n", report);
        _log.WriteLine(text);
        Assert.True(failures.Count == 0, $"{model} (training={training}) disagrees with PyTorch:\n{string.Join("\n", failures)}\n\nAll tensors:\n{text}");
    }
}
