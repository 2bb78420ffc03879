using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[LinformerAttention(heads, k)]: self-attention whose keys and values are projected along the sequence onto k learned
/// mixtures of the tokens; (n, width) -> (n, width) in O(n·k).</summary>
internal sealed class LinformerAttentionRule : LayerRule<LinformerAttentionAttribute>
{
    internal sealed record Config(AttentionConfig Attention, int Projected, bool ShareKeyValue) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            LinformerAttentionRule.Lower(lower, layer.Path, layer.Input, Attention, Projected, ShareKeyValue, layer.Output);
    }

    /// <summary>q, k, v projected as nn.MultiheadAttention's; then Eᵀ along the tokens of k (and F of v): each projection is
    /// a transpose, a bias-free Linear over the n tokens (nn.Linear's initialisation) and a transpose back.</summary>
    static void Lower(ModelGenerator.Lowerer l, string path, string x, AttentionConfig c, int projected, bool shareKeyValue, string output)
    {
        int n = c.Queries, kOut = c.KvHeads * c.KeyDim, vOut = c.KvHeads * c.ValueDim;
        var (q, k, v) = MultiHeadAttentionRule.SelfProjections(l, path, x, c);
        string Project(string name, string t)
        {
            string mixed = l.Linear($"{path}.{name}", l.Transpose($"{path}.{name}.in", t), n, projected, bias: false, null);
            return l.Transpose($"{path}.{name}.out", mixed);
        }
        string kp, vp;
        if (shareKeyValue)
        {
            // One product for both: [k | v] along the features, projected by E, split again.
            string kv = l.Concat(path + ".kv", k, v, "batch * " + ModelGenerator.Lowerer.Int(n), kOut, vOut, 1, new[] { n, kOut + vOut });
            (kp, vp) = l.Split(path + ".e_proj.split", Project("e_proj", kv), "batch * " + ModelGenerator.Lowerer.Int(projected), kOut, vOut, 1,
                new[] { projected, kOut }, new[] { projected, vOut });
        }
        else
        {
            kp = Project("e_proj", k);
            vp = Project("f_proj", v);
        }
        var attention = c with { Keys = projected };
        string heads = l.ScaledDotProduct(path + ".heads", q, kp, vp, null, attention);
        l.Linear(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, output, biasInit: "zero");
    }

    protected override Edge? Check(LinformerAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (MultiHeadAttentionRule.Heads(a, c) is not { } h) return null;
        int tokens = c.Input.Shape[0];
        string? masked = a.Causal ? "Causal" : a.KeyPaddingMask is not null ? "KeyPaddingMask" : a.AttentionMask is not null ? "AttentionMask"
            : a.Positions != RelativePositions.None ? "Positions" : null;
        if (masked is not null)
        {
            c.Report(DiagnosticDescriptors.LinformerMixesTokens, masked, c.Path, tokens, a.ProjectedLength, masked);
            return null;
        }
        if (c.InRange("ProjectedLength", a.ProjectedLength, a.ProjectedLength >= 1 && a.ProjectedLength <= tokens, $"between 1 and the {tokens} tokens") is not { } k)
            return null;
        return c.Same(new Config(h, k, a.ShareKeyValue));
    }
}
