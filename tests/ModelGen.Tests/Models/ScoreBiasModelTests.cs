using System;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Attention with score biases as a user declares them — ALiBi, T5's learned relative bias, boolean and additive
/// attention masks, and a bias with a mask — against nn.MultiheadAttention's own function on the same weights with the biases as
/// its float attn_mask (float64): output, input gradient and every parameter gradient, the bias table's included. The device
/// kernels of these models are checked in DevicePathTests.</summary>
public class ScoreBiasModelTests
{
    static void AgreesWithTorch(Tensor y, Action<Tensor> backward, ParameterSet parameters, Func<string, Tensor> inputGradient, object config,
        params SafeTensor[] modelInputs) =>
        TorchTwin.AgreesWithTorch(y, backward, parameters, inputGradient, config, "attn.", "", new[] { "x" }, modelInputs);

    static SafeTensor Named(string name, Tensor t) => TorchTwin.Named(name, t);

    [SkippableFact]
    public void Alibi_AgreesWithPyTorch()
    {
        using var m = new AlibiAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(4, 1f, 2, 9, 24);
        AgreesWithTorch(m.Forward(x), m.Backward, m.Parameters, m.InputGradient,
            new { op = "biased_attention", heads = 3, causal = true, positions = "alibi", buckets = 0, max_distance = 0, mask = "none" }, Named("x", x));
    }

    [SkippableFact]
    public void T5RelativeBias_AgreesWithPyTorch()
    {
        using var m = new T5BiasAttention(Device.Cpu(), seed: 3);
        Assert.Contains(m.Parameters, p => p.Name == "attn.relative_attention_bias.weight" && p.Shape.SequenceEqual(new[] { 8, 4 }));
        var x = ModelData.Random(6, 1f, 2, 12, 24);
        AgreesWithTorch(m.Forward(x), m.Backward, m.Parameters, m.InputGradient,
            new { op = "biased_attention", heads = 4, causal = false, positions = "t5", buckets = 8, max_distance = 10, mask = "none" }, Named("x", x));
    }

    [SkippableFact]
    public void BooleanAttentionMask_AgreesWithPyTorch()
    {
        using var m = new MaskedAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(7, 1f, 3, 7, 16);
        var mask = ModelData.AttentionMask(3, 7, 7, seed: 8);
        AgreesWithTorch(m.Forward(x, mask), m.Backward, m.Parameters, m.InputGradient,
            new { op = "biased_attention", heads = 2, causal = false, positions = "none", buckets = 0, max_distance = 0, mask = "bool" }, Named("x", x), Named("mask", mask));
    }

    [SkippableFact]
    public void LearnedBiasWithAnAdditiveMaskPerHead_AgreesWithPyTorch()
    {
        using var m = new BiasedT5Attention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(9, 1f, 2, 8, 16);
        var bias = ModelData.Random(10, 1f, 2, 2, 8, 8);
        AgreesWithTorch(m.Forward(x, bias), m.Backward, m.Parameters, m.InputGradient,
            new { op = "biased_attention", heads = 2, causal = true, positions = "t5", buckets = 6, max_distance = 5, mask = "float" }, Named("x", x), Named("mask", bias));
    }

    [Fact]
    public void AMaskedScoreGetsNoWeight_AndTheMaskChangesOnlyItsRow()
    {
        using var m = new MaskedAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(11, 1f, 1, 7, 16);
        var open = Tensor.Zeros(1, 7, 7);
        var masked = Tensor.Zeros(1, 7, 7);
        masked.Data[2 * 7 + 5] = 1f; // query 2 may not see key 5
        var y0 = m.Forward(x, open).Data.ToArray();
        var y1 = m.Forward(x, masked).Data.ToArray();
        var probs = m.Intermediate("attn.heads.probs")!;
        for (int h = 0; h < 2; h++) Assert.Equal(0f, probs.Data[(h * 7 + 2) * 7 + 5]);
        for (int i = 0; i < 7; i++)
            for (int c = 0; c < 16; c++)
            {
                bool changed = y0[i * 16 + c] != y1[i * 16 + c];
                if (i != 2) Assert.False(changed, $"row {i} changed");
            }
        Assert.NotEqual(y0.Skip(2 * 16).Take(16), y1.Skip(2 * 16).Take(16));
    }

    [Fact]
    public void AMaskOfTheWrongShape_IsRefusedWithTheNumbers()
    {
        using var m = new MaskedAttention(Device.Cpu(), seed: 3);
        var e = Assert.ThrowsAny<ArgumentException>(() => m.Forward(ModelData.Random(1, 1f, 2, 7, 16), Tensor.Zeros(2, 7, 6)));
        Assert.Contains("mask", e.Message);
        Assert.Contains("6", e.Message);
    }
}
