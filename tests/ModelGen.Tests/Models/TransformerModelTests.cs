using System;
using System.Linq;
using ModelGen;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>The encoder–decoder Transformer as a user declares it, against torch.nn.Transformer on the same weights (float64;
/// output, both inputs' gradients, every parameter gradient): post-norm with ReLU and a causal decoder, and pre-norm with GELU.</summary>
public class TransformerModelTests
{
    [SkippableFact]
    public void PostNormCausal_AgreesWithNnTransformer()
    {
        using var m = new TinyTransformer(Device.Cpu(), seed: 3);
        Assert.Contains(m.Parameters, p => p.Name == "model.encoder.norm.weight");
        Assert.Contains(m.Parameters, p => p.Name == "model.decoder.layers.1.cross_attn.k_proj.weight");
        var src = ModelData.Random(4, 1f, 2, 7, 16);
        var tgt = ModelData.Random(5, 1f, 2, 5, 16);
        var y = m.Forward(src, tgt);
        Assert.Equal(new[] { 2, 5, 16 }, y.Shape);
        TorchTwin.AgreesWithTorch(y, m.Backward, m.Parameters, m.InputGradient,
            new { op = "transformer", heads = 2, feed_forward = 24, encoder_layers = 2, decoder_layers = 2, norm_first = false, activation = "relu", causal = true },
            "model.", "", new[] { "src", "tgt" }, TorchTwin.Named("src", src), TorchTwin.Named("tgt", tgt));
    }

    [SkippableFact]
    public void PreNorm_AgreesWithNnTransformer()
    {
        using var m = new PreNormTransformer(Device.Cpu(), seed: 6);
        var src = ModelData.Random(7, 1f, 3, 6, 16);
        var tgt = ModelData.Random(8, 1f, 3, 8, 16);
        TorchTwin.AgreesWithTorch(m.Forward(src, tgt), m.Backward, m.Parameters, m.InputGradient,
            new { op = "transformer", heads = 4, feed_forward = 32, encoder_layers = 1, decoder_layers = 1, norm_first = true, activation = "gelu", causal = false },
            "model.", "", new[] { "src", "tgt" }, TorchTwin.Named("src", src), TorchTwin.Named("tgt", tgt));
    }
}
