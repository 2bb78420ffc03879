using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[PerformerAttention(heads, features)]: self-attention through FAVOR+'s positive orthogonal random features,
/// (n, width) -> (n, width) in O(n·m·d); causal by prefix sums.</summary>
internal sealed class PerformerAttentionRule : LayerRule<PerformerAttentionAttribute>
{
    internal sealed record Config(AttentionConfig Attention, int Features, string? Padding) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            PerformerAttentionRule.Lower(lower, layer.Path, layer.Input, Attention, Features, Padding, layer.Output);
    }

    /// <summary>q, k, v projected as nn.MultiheadAttention's (rotated when rotary), one projection (m, dk) for the features of
    /// every head's queries and keys (padded keys' features 0), linear attention, out_proj.</summary>
    static void Lower(ModelGenerator.Lowerer l, string path, string x, AttentionConfig c, int features, string? padding, string output)
    {
        var (q, k, v) = MultiHeadAttentionRule.SelfProjections(l, path, x, c);
        int projection = l.FeatureProjection(path, features, c.KeyDim);
        string qf = l.RandomFeatures(path + ".q_features", q, c.Heads, c.KeyDim, features, projection, keys: false);
        string kf = l.RandomFeatures(path + ".k_features", k, c.KvHeads, c.KeyDim, features, projection, keys: true, padding);
        string heads = l.LinearAttention(path + ".heads", qf, kf, v, c, features);
        l.Linear(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, output, biasInit: "zero");
    }

    protected override Edge? Check(PerformerAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (MultiHeadAttentionRule.Heads(a, c) is not { } h) return null;
        if (c.Positive("Features", a.Features) is not { } m) return null;
        // Padded keys are left out of the features' sums; an attention mask or a score bias would need the scores.
        if (MultiHeadAttentionRule.ScoreOption(a, paddingAllowed: true) is { } option)
        {
            c.Report(DiagnosticDescriptors.PerformerFormsNoScores, option.Argument, c.Path, m, c.Input.Shape[0], option.What);
            return null;
        }
        if (!MultiHeadAttentionRule.Mask(a, c, c.Input.Shape[0], out var mask)) return null;
        return c.Same(new Config(h, m, mask));
    }
}
