using System;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Transformer decoders as a user declares them, against torch.nn.TransformerDecoder of TransformerDecoderLayers on the
/// same weights (float64, q/k/v packed into in_proj on the torch side): output, the target's and the memory's gradients and every
/// parameter gradient; pre- and post-norm, ReLU and GELU, a causal self-attention, a padded memory. The device kernels are
/// checked in DevicePathTests.</summary>
public class DecoderModelTests
{
    /// <summary>Parameter names lose <paramref name="prefix"/> and gain <paramref name="torchPrefix"/> on the torch side.</summary>
    static void AgreesWithTorch(Tensor y, Action<Tensor> backward, ParameterSet parameters, Func<string, Tensor> inputGradient, string prefix,
        string torchPrefix, object config, params SafeTensor[] modelInputs) =>
        TorchTwin.AgreesWithTorch(y, backward, parameters, inputGradient, config, prefix, torchPrefix, new[] { "x", "memory" }, modelInputs);

    static SafeTensor Named(string name, Tensor t) => TorchTwin.Named(name, t);

    [SkippableFact]
    public void PreNormLayer_WithAPaddedMemory_AgreesWithPyTorch()
    {
        using var m = new PreNormDecoderLayer(Device.Cpu(), seed: 3);
        var x = ModelData.Random(4, 1f, 2, 7, 16);
        var memory = ModelData.Random(6, 1f, 2, 9, 16);
        var padding = ModelData.Padding(9, 2, 4);
        // The layer's own parameters are named as in a one-layer stack on the torch side.
        var y = m.Forward(x, memory, padding);
        AgreesWithTorch(y, m.Backward, m.Parameters, m.InputGradient, "decoder.", "layers.0.",
            new { op = "decoder", heads = 2, feed_forward = 24, layers = 1, norm_first = true, activation = "relu", causal = true },
            Named("x", x), Named("memory", memory), Named("memory_padding", padding));
    }

    [SkippableFact]
    public void PostNormStack_AgreesWithPyTorch()
    {
        using var m = new PostNormDecoder(Device.Cpu(), seed: 4);
        var x = ModelData.Random(7, 1f, 3, 6, 16);
        var memory = ModelData.Random(8, 1f, 3, 5, 16);
        AgreesWithTorch(m.Forward(x, memory), m.Backward, m.Parameters, m.InputGradient, "decoder.", "",
            new { op = "decoder", heads = 4, feed_forward = 32, layers = 2, norm_first = false, activation = "gelu", causal = true },
            Named("x", x), Named("memory", memory));
    }

    [Fact]
    public void CausalDecoding_AQueryIgnoresLaterTargets_ButSeesTheWholeMemory()
    {
        using var m = new EncoderDecoder(Device.Cpu(), seed: 5);
        var target = ModelData.Random(9, 1f, 1, 6, 16);
        var source = ModelData.Random(10, 1f, 1, 8, 24);
        var y0 = m.Forward(target, source).Data.ToArray();
        // Changing the last target token changes only the last output row.
        var changed = target.Data.ToArray();
        for (int c = 0; c < 16; c++) changed[5 * 16 + c] += 1f;
        var y1 = m.Forward(new Tensor(target.Shape, changed), source).Data.ToArray();
        Assert.Equal(y0.Take(5 * 5), y1.Take(5 * 5));
        Assert.NotEqual(y0.Skip(25), y1.Skip(25));
        // Changing the last source token changes every output row.
        var source2 = source.Data.ToArray();
        for (int c = 0; c < 24; c++) source2[7 * 24 + c] += 1f;
        var y2 = m.Forward(target, new Tensor(source.Shape, source2)).Data.ToArray();
        for (int i = 0; i < 6; i++) Assert.NotEqual(y0.Skip(i * 5).Take(5), y2.Skip(i * 5).Take(5));
        var names = m.Parameters.Select(p => p.Name).ToList();
        Assert.Contains("decoder.layers.1.cross_attn.k_proj.weight", names);
        Assert.Equal(new[] { 8, 24 }, m.Parameters.First(p => p.Name == "decoder.layers.0.cross_attn.k_proj.weight").Shape); // KvHeads 2 of width 4, from the 24-wide memory
    }
}
