using System;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Linformer attention as a user declares it, against a PyTorch twin written from the paper (K' = E·K, V' = F·V, then
/// softmax attention) on the same weights, float64: output, input gradient and every parameter gradient, E and F included. The
/// device kernels are checked in DevicePathTests.</summary>
public class LinformerModelTests
{
    static void AgreesWithTorch(Tensor x, Tensor y, Action<Tensor> backward, ParameterSet parameters, Func<string, Tensor> inputGradient, object config) =>
        TorchTwin.AgreesWithTorch(y, backward, parameters, inputGradient, config, "attn.", "", new[] { "x" }, TorchTwin.Named("x", x));

    [SkippableFact]
    public void Linformer_AgreesWithPyTorch()
    {
        using var m = new LinformerModel(Device.Cpu(), seed: 3);
        Assert.Equal(new[] { 6, 20 }, m.Parameters.First(p => p.Name == "attn.e_proj.weight").Shape);
        Assert.Contains(m.Parameters, p => p.Name == "attn.f_proj.weight");
        var x = ModelData.Random(4, 1f, 2, 20, 16);
        AgreesWithTorch(x, m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "linformer", heads = 2, kv_heads = 2, share_kv = false });
    }

    [SkippableFact]
    public void SharedKeyValueProjection_WithGroupedHeads_AgreesWithPyTorch()
    {
        using var m = new SharedLinformer(Device.Cpu(), seed: 4);
        Assert.DoesNotContain(m.Parameters, p => p.Name == "attn.f_proj.weight");
        var x = ModelData.Random(6, 1f, 3, 15, 16);
        AgreesWithTorch(x, m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "linformer", heads = 4, kv_heads = 2, share_kv = true });
    }

    [Fact]
    public void TheScoresAreOverTheProjectedLength()
    {
        using var m = new LinformerModel(Device.Cpu(), seed: 3);
        m.Forward(ModelData.Random(7, 1f, 1, 20, 16));
        Assert.Equal(new[] { 1, 2, 20, 6 }, m.Intermediate("attn.heads.probs")!.Shape);
    }
}
