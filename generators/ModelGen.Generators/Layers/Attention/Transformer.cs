using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[Transformer(heads, Target = "...")]: nn.Transformer: an encoder stack and its final norm over the source give the
/// memory; a decoder stack over the target reads it, then the decoder's final norm. (source, width), (target, width) -> (target, width).</summary>
internal sealed class TransformerRule : LayerRule<TransformerAttribute>
{
    internal sealed record Config(AttentionConfig Encoder, EncoderOptions Options, string? SourceMask, TransformerDecoderLayerRule.Decoder Decoder,
        int EncoderLayers, int DecoderLayers, string Target) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            TransformerRule.Lower(lower, layer.Path, layer.Input, this, layer.Output);
    }

    /// <summary>Stochastic depth rises linearly over each stack, as in <see cref="TransformerEncoderRule"/>.</summary>
    static void Lower(ModelGenerator.Lowerer l, string path, string source, Config c, string output)
    {
        float eps = (float)c.Options.Eps;
        static float Rate(double last, int i, int depth) => depth == 1 ? 0f : (float)(last * i / (depth - 1));
        string x = source;
        for (int i = 0; i < c.EncoderLayers; i++)
            x = TransformerEncoderLayerRule.Lower(l, $"{path}.encoder.layers.{i}", x, c.SourceMask, c.Encoder, c.Options, Rate(c.Options.DropPath, i, c.EncoderLayers), null);
        string memory = l.LayerNorm(path + ".encoder.norm", x, eps, null);
        var decoder = c.Decoder with { Memory = memory };
        string y = c.Target;
        for (int i = 0; i < c.DecoderLayers; i++)
            y = TransformerDecoderLayerRule.Lower(l, $"{path}.decoder.layers.{i}", y, decoder, Rate(c.Options.DropPath, i, c.DecoderLayers), null);
        l.LayerNorm(path + ".decoder.norm", y, eps, output);
    }

    protected override Edge? Check(TransformerAttribute a, LayerContext c)
    {
        if (TransformerEncoderLayerRule.Check(a, c) is not { } encoder) return null;
        // The encoder's T5 buckets are bidirectional even when the decoder is causal: half for each side of the query.
        if (a.Positions == RelativePositions.RelativeBias && a.Causal
            && c.AtLeast("RelativeBuckets", a.RelativeBuckets, 4, "at least 4 (the encoder's half for each side of the query)") is null) return null;
        if (c.Positive("EncoderLayers", a.EncoderLayers) is not { } encoderLayers) return null;
        if (c.Positive("DecoderLayers", a.DecoderLayers) is not { } decoderLayers) return null;
        int width = c.Input.Last, sourceTokens = c.Input.Shape[0];
        if (a.Target is not { } targetName)
        {
            c.Report(DiagnosticDescriptors.TransformerNeedsTarget, null, c.Path, width);
            return null;
        }
        if (c.ResolveData("Target", targetName, "a Transformer's target") is not { } target) return null;
        if (target.Shape.Count != 2)
        {
            c.Report(DiagnosticDescriptors.RankMismatch, "Target", c.Path, "a target sequence (B, tokens, width)", targetName, target.Display);
            return null;
        }
        if (target.Last != width)
        {
            c.Report(DiagnosticDescriptors.ShapeMismatch, "Target", c.Path, $"(B, tokens, {width}) like the source", targetName, target.Display);
            return null;
        }
        int targetTokens = target.Shape[0];
        if (!MultiHeadAttentionRule.KeyPadding(c, "TargetKeyPaddingMask", a.TargetKeyPaddingMask, targetTokens, out var targetMask)) return null;
        // The encoder attends without the causal mask; the decoder's self-attention takes it (and the relative positions).
        var sourceAttention = encoder.Attention with { Causal = false };
        var self = encoder.Attention with { Queries = targetTokens, Keys = targetTokens, Mask = null };
        var cross = self with
        {
            Causal = false, Keys = sourceTokens, RotaryBase = 0, Positions = RelativePositions.None, Buckets = 0, MaxDistance = 0,
        };
        var decoder = new TransformerDecoderLayerRule.Decoder(self, cross, encoder.Options, targetMask, Memory: "", MemoryMask: encoder.Mask);
        return c.Emit(new Config(sourceAttention, encoder.Options, encoder.Mask, decoder, encoderLayers, decoderLayers, target.Name), new[] { targetTokens, width });
    }
}
