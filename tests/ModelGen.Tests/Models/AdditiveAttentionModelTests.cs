using System.Linq;
using ModelGen;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Additive (Bahdanau) and location-based (Luong) attention with queries and keys of different widths, against
/// PyTorch twins written from the papers on the same weights (float64: output, both inputs' gradients, every parameter
/// gradient). The device kernels are checked in DevicePathTests.</summary>
public class AdditiveAttentionModelTests
{
    [SkippableFact]
    public void Additive_AgreesWithPyTorch()
    {
        using var m = new AdditiveAttender(Device.Cpu(), seed: 3);
        Assert.Equal(new[] { "attn.q_proj.weight", "attn.q_proj.bias", "attn.k_proj.weight", "attn.v.weight" }, m.Parameters.Select(p => p.Name));
        var x = ModelData.Random(4, 1f, 2, 5, 12);
        var memory = ModelData.Random(6, 1f, 2, 7, 20);
        var y = m.Forward(x, memory);
        Assert.Equal(new[] { 2, 5, 20 }, y.Shape);
        TorchTwin.AgreesWithTorch(y, m.Backward, m.Parameters, m.InputGradient, new { op = "additive_attention" }, "attn.", "",
            new[] { "x", "memory" }, TorchTwin.Named("x", x), TorchTwin.Named("memory", memory));
    }

    [SkippableFact]
    public void Location_AgreesWithPyTorch()
    {
        using var m = new LocationAttender(Device.Cpu(), seed: 3);
        var x = ModelData.Random(7, 1f, 3, 5, 12);
        var memory = ModelData.Random(8, 1f, 3, 7, 20);
        TorchTwin.AgreesWithTorch(m.Forward(x, memory), m.Backward, m.Parameters, m.InputGradient, new { op = "location_attention" }, "attn.", "",
            new[] { "x", "memory" }, TorchTwin.Named("x", x), TorchTwin.Named("memory", memory));
    }

    [SkippableFact]
    public void PaddedAdditive_AgreesWithPyTorch_AndIgnoresThePaddedKeys()
    {
        using var m = new PaddedAdditive(Device.Cpu(), seed: 12);
        var x = ModelData.Random(13, 1f, 2, 5, 12);
        var memory = ModelData.Random(14, 1f, 2, 7, 20);
        var pad = ModelData.Padding(7, 2, 4);
        TorchTwin.AgreesWithTorch(m.Forward(x, memory, pad), m.Backward, m.Parameters, m.InputGradient, new { op = "additive_attention" }, "attn.", "",
            new[] { "x", "memory" }, TorchTwin.Named("x", x), TorchTwin.Named("memory", memory), TorchTwin.Named("padding", pad));
        var w = m.Intermediate("attn.weights")!.Data;
        Assert.All(Enumerable.Range(5, 2), j => Assert.Equal(0f, w[j]));              // sample 0, query 0: its last 2 keys
        Assert.All(Enumerable.Range(3, 4), j => Assert.Equal(0f, w[5 * 7 + j]));      // sample 1, query 0: its last 4 keys
        // A padded key's gradient is zero: it never reached the output.
        var dm = m.InputGradient("memory").Data;
        Assert.All(Enumerable.Range(0, 20), e => Assert.Equal(0f, dm[6 * 20 + e]));
    }

    [SkippableFact]
    public void PaddedLocation_AgreesWithPyTorch()
    {
        using var m = new PaddedLocation(Device.Cpu(), seed: 15);
        var x = ModelData.Random(16, 1f, 2, 5, 12);
        var memory = ModelData.Random(17, 1f, 2, 7, 20);
        var pad = ModelData.Padding(7, 1, 3);
        TorchTwin.AgreesWithTorch(m.Forward(x, memory, pad), m.Backward, m.Parameters, m.InputGradient, new { op = "location_attention" }, "attn.", "",
            new[] { "x", "memory" }, TorchTwin.Named("x", x), TorchTwin.Named("memory", memory), TorchTwin.Named("padding", pad));
    }

    [Fact]
    public void TheWeightsOverTheKeysSumToOne()
    {
        using var m = new AdditiveAttender(Device.Cpu(), seed: 3);
        m.Forward(ModelData.Random(9, 1f, 1, 5, 12), ModelData.Random(10, 1f, 1, 7, 20));
        var w = m.Intermediate("attn.weights")!;
        for (int i = 0; i < 5; i++) Assert.Equal(1.0, w.Data.Skip(i * 7).Take(7).Sum(), 5);
    }

    [SkippableFact]
    public void SelfAttentionOfHiddenWidthOne_AgreesWithPyTorch()
    {
        // Fuzzer regression: with one hidden unit the pairwise sum must keep its (hidden, query·key) layout.
        using var m = new NarrowAdditiveSelfAttention(Device.Cpu(), seed: 5);
        var x = ModelData.Random(11, 1f, 2, 6, 10);
        var y = m.Forward(x);
        var dy = ModelData.Random(12, 1f, y.Shape);
        m.Backward(dy);
        var inputs = new[] { TorchTwin.Named("x", x), TorchTwin.Named("memory", x), new ModelGen.IO.SafeTensor("grad_output", dy.Shape, dy.Data) }
            .Concat(m.Parameters.Select(p => new ModelGen.IO.SafeTensor(p.Name.Substring("attn.".Length), p.Shape, p.Value))).ToArray();
        var reference = TorchOps.Run(new { op = "additive_attention" }, inputs);
        TorchOps.Close(reference, "output", y.Data);
        // The input is both the queries and the keys: its gradient is the sum of the twin's two.
        var both = reference["grad.x"].Data.Zip(reference["grad.memory"].Data, (a, b) => a + b).ToArray();
        var expected = new System.Collections.Generic.Dictionary<string, ModelGen.IO.SafeTensor> { ["x"] = new("x", x.Shape, both) };
        TorchOps.Close(expected, "x", m.InputGradient("x").Data);
        foreach (var p in m.Parameters) TorchOps.Close(reference, "grad." + p.Name.Substring("attn.".Length), p.Grad);
    }
}
