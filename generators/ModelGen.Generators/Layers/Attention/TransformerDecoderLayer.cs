using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[TransformerDecoderLayer(heads)]: self-attention, cross-attention to a memory edge and an MLP, each with a residual and a
/// layer norm (pre or post), as PyTorch's TransformerDecoderLayer; (tokens, width) -> (tokens, width).</summary>
internal sealed class TransformerDecoderLayerRule : LayerRule<TransformerDecoderLayerAttribute>
{
    /// <summary>A decoder layer's two attentions (the self-attention's sizes and masks; the cross-attention's keys are the
    /// memory's), its MLP and norms, and its wiring.</summary>
    internal sealed record Decoder(AttentionConfig Self, AttentionConfig Cross, EncoderOptions Options, string? Mask, string Memory, string? MemoryMask);

    internal sealed record Config(Decoder Decoder) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            TransformerDecoderLayerRule.Lower(lower, layer.Path, layer.Input, Decoder, (float)Decoder.Options.DropPath, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, TransformerDecoderLayerRule.LowerStep(step, layer.Path, step.In(layer), Decoder));
    }

    /// <summary>Pre-norm: x + self(norm1(x)), + cross(norm2(·), memory), + mlp(norm3(·)). Post-norm: norm1(x + self(x)), then
    /// norm2(· + cross(·, memory)), then norm3(· + mlp(·)). Dropout (and drop path) on each branch before its residual sum.</summary>
    internal static string Lower(ModelGenerator.Lowerer l, string path, string x, Decoder d, float dropPath, string? output)
    {
        var o = d.Options;
        float dropout = (float)o.Dropout, eps = (float)o.Eps;
        string Branch(string y, int index) => TransformerEncoderLayerRule.Branch(l, path, y, index, dropout, dropPath);
        string SelfAttention(string y) => MultiHeadAttentionRule.Lower(l, path + ".self_attn", y, y, y, d.Mask, d.Self, null);
        string CrossAttention(string y) => MultiHeadAttentionRule.Lower(l, path + ".cross_attn", y, d.Memory, d.Memory, d.MemoryMask, d.Cross, null);
        string Mlp(string y) => FeedForwardRule.Lower(l, path + ".mlp", y, d.Self.Width, o.FeedForward, o.Activation, dropout, null);
        if (o.Norm == NormPlacement.Pre)
        {
            string r1 = l.Add(path + ".res1", x, Branch(SelfAttention(l.LayerNorm(path + ".norm1", x, eps, null)), 1), null);
            string r2 = l.Add(path + ".res2", r1, Branch(CrossAttention(l.LayerNorm(path + ".norm2", r1, eps, null)), 2), null);
            return l.Add(path + ".res3", r2, Branch(Mlp(l.LayerNorm(path + ".norm3", r2, eps, null)), 3), output);
        }
        string p1 = l.LayerNorm(path + ".norm1", l.Add(path + ".res1", x, Branch(SelfAttention(x), 1), null), eps, null);
        string p2 = l.LayerNorm(path + ".norm2", l.Add(path + ".res2", p1, Branch(CrossAttention(p1), 2), null), eps, null);
        return l.LayerNorm(path + ".norm3", l.Add(path + ".res3", p2, Branch(Mlp(p2), 3), null), eps, output);
    }

    /// <summary>One decoding step: causal self-attention over the cache, cross-attention to the memory (its keys and values
    /// projected once), the MLP, with the norms where the layer has them. Null when the self-attention cannot be decoded so.</summary>
    internal static string? LowerStep(ModelGenerator.StepLowerer s, string path, string x, Decoder d)
    {
        if (d.Mask is not null) return null;
        var o = d.Options;
        float eps = (float)o.Eps;
        string Mlp(string y) => s.FeedForward(path + ".mlp", y, d.Self.Width, o.FeedForward, o.Activation);
        string? Cross(string y) => s.CrossAttention(path + ".cross_attn", y, d.Memory, d.MemoryMask, d.Cross);
        if (o.Norm == NormPlacement.Pre)
        {
            if (s.SelfAttention(path + ".self_attn", s.LayerNorm(path + ".norm1", x, eps), d.Self) is not { } a) return null;
            string r1 = s.Add(path + ".res1", x, a);
            if (Cross(s.LayerNorm(path + ".norm2", r1, eps)) is not { } b) return null;
            string r2 = s.Add(path + ".res2", r1, b);
            return s.Add(path + ".res3", r2, Mlp(s.LayerNorm(path + ".norm3", r2, eps)));
        }
        if (s.SelfAttention(path + ".self_attn", x, d.Self) is not { } e) return null;
        string p1 = s.LayerNorm(path + ".norm1", s.Add(path + ".res1", x, e), eps);
        if (Cross(p1) is not { } f) return null;
        string p2 = s.LayerNorm(path + ".norm2", s.Add(path + ".res2", p1, f), eps);
        return s.LayerNorm(path + ".norm3", s.Add(path + ".res3", p2, Mlp(p2)), eps);
    }

    protected override Edge? Check(TransformerDecoderLayerAttribute a, LayerContext c) =>
        Check(a, c) is { } decoder ? c.Same(new Config(decoder)) : null;

    /// <summary>The checks a decoder layer and a stack of them share: the encoder layer's (for the self-attention), then the
    /// memory (a sequence; relative positions stay on the self-attention) and its padding mask.</summary>
    internal static Decoder? Check(DecoderOptionsAttribute a, LayerContext c)
    {
        if (TransformerEncoderLayerRule.Check(a, c) is not { } self) return null;
        if (a.Memory is not { } memoryName)
        {
            c.Report(DiagnosticDescriptors.DecoderNeedsMemory, null, c.Path);
            return null;
        }
        if (c.ResolveData("Memory", memoryName, "a decoder's memory") is not { } memory) return null;
        if (memory.Shape.Count != 2)
        {
            c.Report(DiagnosticDescriptors.RankMismatch, "Memory", c.Path, "a memory (B, tokens, width)", memoryName, memory.Display);
            return null;
        }
        if (!MultiHeadAttentionRule.KeyPadding(c, "MemoryKeyPaddingMask", a.MemoryKeyPaddingMask, memory.Shape[0], out var memoryMask)) return null;
        var attention = self.Attention;
        var cross = attention with
        {
            Causal = false, Keys = memory.Shape[0], KeyWidth = memory.Last, ValueWidth = memory.Last,
            RotaryBase = 0, Positions = RelativePositions.None, Buckets = 0, MaxDistance = 0, Mask = null,
        };
        return new Decoder(attention, cross, self.Options, self.Mask, memory.Name, memoryMask);
    }
}
