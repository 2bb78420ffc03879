using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[PerformerAttention(heads, features)]: self-attention through FAVOR+'s positive orthogonal random features,
/// (n, width) -> (n, width) in O(n·m·d); causal by prefix sums.</summary>
internal sealed class PerformerAttentionRule : LayerRule<PerformerAttentionAttribute>
{
    internal sealed record Config(AttentionConfig Attention, int Features) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            PerformerAttentionRule.Lower(lower, layer.Path, layer.Input, Attention, Features, layer.Output);
    }

    /// <summary>q, k, v projected as nn.MultiheadAttention's (rotated when rotary), one projection (m, dk) for the features of
    /// every head's queries and keys, linear attention, out_proj.</summary>
    static void Lower(ModelGenerator.Lowerer l, string path, string x, AttentionConfig c, int features, string output)
    {
        int qOut = c.Heads * c.KeyDim, kOut = c.KvHeads * c.KeyDim, vOut = c.KvHeads * c.ValueDim;
        var (qInit, kInit, vInit) = MultiHeadAttentionRule.ProjectionInits(c);
        var (q, k, v) = l.Projections(path, x, c.Width, new("q_proj", qOut, qInit), new("k_proj", kOut, kInit), new("v_proj", vOut, vInit), c.Bias, "zero");
        if (c.RotaryBase > 0)
        {
            q = l.Rotary(path + ".q_rope", q, c.Heads, c.KeyDim, c.RotaryBase);
            k = l.Rotary(path + ".k_rope", k, c.KvHeads, c.KeyDim, c.RotaryBase);
        }
        int projection = l.FeatureProjection(path, features, c.KeyDim);
        string qf = l.RandomFeatures(path + ".q_features", q, c.Heads, c.KeyDim, features, projection, keys: false);
        string kf = l.RandomFeatures(path + ".k_features", k, c.KvHeads, c.KeyDim, features, projection, keys: true);
        string heads = l.LinearAttention(path + ".heads", qf, kf, v, c, features);
        l.Linear(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, output, biasInit: "zero");
    }

    protected override Edge? Check(PerformerAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (MultiHeadAttentionRule.Heads(a, c) is not { } h) return null;
        if (c.Positive("Features", a.Features) is not { } m) return null;
        string? scores = a.KeyPaddingMask is not null ? "KeyPaddingMask" : a.AttentionMask is not null ? "AttentionMask"
            : a.Positions is RelativePositions.Alibi or RelativePositions.RelativeBias or RelativePositions.Shaw or RelativePositions.AdaptiveSpan ? "Positions" : null;
        if (scores is not null)
        {
            c.Report(DiagnosticDescriptors.PerformerFormsNoScores, scores, c.Path, m, c.Input.Shape[0], scores == "Positions" ? MultiHeadAttentionRule.PositionsName(a.Positions) : scores);
            return null;
        }
        return c.Same(new Config(h, m));
    }
}
