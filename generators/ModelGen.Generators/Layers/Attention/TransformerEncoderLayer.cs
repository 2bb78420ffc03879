using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>What a Transformer layer adds to its attention: the MLP's width and activation, where the norms sit, dropout, drop path, eps.</summary>
internal sealed record EncoderOptions(int FeedForward, NormPlacement Norm, Activation Activation, double Dropout, double DropPath, double Eps)
{
    /// <summary>As PyTorch's TransformerEncoderLayer defaults with a 4× MLP: what heads built of encoder layers use.</summary>
    public static EncoderOptions Default(int width) => new(4 * width, NormPlacement.Pre, Activation.Gelu, 0, 0, 1e-5);
}

/// <summary>[TransformerEncoderLayer(heads)]: self-attention and an MLP, each with a residual and a layer norm (pre or post);
/// (tokens, width) -> (tokens, width).</summary>
internal sealed class TransformerEncoderLayerRule : LayerRule<TransformerEncoderLayerAttribute>
{
    internal sealed record Config(AttentionConfig Attention, EncoderOptions Options, string? Mask) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            TransformerEncoderLayerRule.Lower(lower, layer.Path, layer.Input, Mask, Attention, Options, (float)Options.DropPath, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, Mask is null ? TransformerEncoderLayerRule.LowerStep(step, layer.Path, step.In(layer), Attention, Options) : null);
    }

    /// <summary>Pre-norm: x + attn(norm1(x)), then + mlp(norm2(·)). Post-norm: norm1(x + attn(x)), then norm2(· + mlp(·)). As PyTorch's
    /// TransformerEncoderLayer. A drop path rate drops each branch per sample before its residual sum, as timm's Block.</summary>
    internal static string Lower(ModelGenerator.Lowerer l, string path, string x, string? mask, AttentionConfig attention, EncoderOptions o, float dropPath, string? output)
    {
        int tokens = l.ShapeOf(x)[0];
        var c = attention with { Queries = tokens, Keys = tokens, KeyWidth = attention.Width, ValueWidth = attention.Width };
        float dropout = (float)o.Dropout, eps = (float)o.Eps;
        string Branch(string y, int index) => TransformerEncoderLayerRule.Branch(l, path, y, index, dropout, dropPath);
        // Without dropout or drop path on the branches, each branch's last linear layer and its residual sum are one fused op.
        if (dropout == 0 && dropPath == 0)
        {
            if (o.Norm == NormPlacement.Pre)
            {
                string m1 = l.LayerNorm(path + ".norm1", x, eps, null);
                string s1 = MultiHeadAttentionRule.Lower(l, path + ".attn", m1, m1, m1, mask, c, null, residual: x, sumPath: path + ".res1");
                string m2 = l.LayerNorm(path + ".norm2", s1, eps, null);
                return FeedForwardRule.Lower(l, path + ".mlp", m2, c.Width, o.FeedForward, o.Activation, dropout, output, residual: s1, sumPath: path + ".res2");
            }
            string q1 = l.LayerNorm(path + ".norm1", MultiHeadAttentionRule.Lower(l, path + ".attn", x, x, x, mask, c, null, residual: x, sumPath: path + ".res1"), eps, null);
            string q2 = FeedForwardRule.Lower(l, path + ".mlp", q1, c.Width, o.FeedForward, o.Activation, dropout, null, residual: q1, sumPath: path + ".res2");
            return l.LayerNorm(path + ".norm2", q2, eps, output);
        }
        if (o.Norm == NormPlacement.Pre)
        {
            string n1 = l.LayerNorm(path + ".norm1", x, eps, null);
            string r1 = l.Add(path + ".res1", x, Branch(MultiHeadAttentionRule.Lower(l, path + ".attn", n1, n1, n1, mask, c, null), 1), null);
            string n2 = l.LayerNorm(path + ".norm2", r1, eps, null);
            string f = FeedForwardRule.Lower(l, path + ".mlp", n2, c.Width, o.FeedForward, o.Activation, dropout, null);
            return l.Add(path + ".res2", r1, Branch(f, 2), output);
        }
        string a = Branch(MultiHeadAttentionRule.Lower(l, path + ".attn", x, x, x, mask, c, null), 1);
        string p1 = l.LayerNorm(path + ".norm1", l.Add(path + ".res1", x, a, null), eps, null);
        string g = Branch(FeedForwardRule.Lower(l, path + ".mlp", p1, c.Width, o.FeedForward, o.Activation, dropout, null), 2);
        return l.LayerNorm(path + ".norm2", l.Add(path + ".res2", p1, g, null), eps, output);
    }

    /// <summary>One decoding step of the layer (dropout and drop path are off): pre-norm x + attn(norm1(x)), + mlp(norm2(·)); post-norm
    /// norm1(x + attn(x)), norm2(· + mlp(·)). Null when its attention cannot be decoded step by step (not causal, positions).</summary>
    internal static string? LowerStep(ModelGenerator.StepLowerer s, string path, string x, AttentionConfig c, EncoderOptions o)
    {
        float eps = (float)o.Eps;
        string Mlp(string y) => s.FeedForward(path + ".mlp", y, c.Width, o.FeedForward, o.Activation);
        if (o.Norm == NormPlacement.Pre)
        {
            if (s.SelfAttention(path + ".attn", s.LayerNorm(path + ".norm1", x, eps), c) is not { } a) return null;
            string r1 = s.Add(path + ".res1", x, a);
            return s.Add(path + ".res2", r1, Mlp(s.LayerNorm(path + ".norm2", r1, eps)));
        }
        if (s.SelfAttention(path + ".attn", x, c) is not { } b) return null;
        string p1 = s.LayerNorm(path + ".norm1", s.Add(path + ".res1", x, b), eps);
        return s.LayerNorm(path + ".norm2", s.Add(path + ".res2", p1, Mlp(p1)), eps);
    }

    /// <summary>A residual branch's dropout and drop path (each only when its rate is positive), before its sum: what encoder and
    /// decoder layers do to every branch.</summary>
    internal static string Branch(ModelGenerator.Lowerer l, string path, string y, int index, float dropout, float dropPath)
    {
        if (dropout > 0) y = l.Dropout($"{path}.drop{index}", y, dropout, null);
        if (dropPath > 0) y = l.DropPath($"{path}.drop_path{index}", y, dropPath, null);
        return y;
    }

    protected override Edge? Check(TransformerEncoderLayerAttribute a, LayerContext c) =>
        Check(a, c) is { } checkedLayer ? c.Same(new Config(checkedLayer.Attention, checkedLayer.Options, checkedLayer.Mask)) : null;

    /// <summary>The checks an encoder layer and a stack of them share.</summary>
    internal static (AttentionConfig Attention, EncoderOptions Options, string? Mask)? Check(EncoderOptionsAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (MultiHeadAttentionRule.Heads(a, c) is not { } attention) return null;
        if (!MultiHeadAttentionRule.Mask(a, c, c.Input.Shape[0], out var mask)) return null;
        if (!MultiHeadAttentionRule.AttentionMask(a, c, attention.Heads, c.Input.Shape[0], c.Input.Shape[0], out var attentionMask)) return null;
        attention = attention with { Mask = attentionMask };
        if (c.AtLeast("FeedForward", a.FeedForward, 0, "positive (or 0 for 4 × width)") is not { } ff) return null;
        if (c.Probability("Dropout", a.Dropout) is not { } p) return null;
        if (c.Probability("DropPath", a.DropPath) is not { } dp) return null;
        if (c.Positive("Eps", a.Eps) is not { } e) return null;
        return (attention, new EncoderOptions(ff == 0 ? 4 * attention.Width : ff, a.Norm, a.Activation, p, dp, e), mask);
    }
}
