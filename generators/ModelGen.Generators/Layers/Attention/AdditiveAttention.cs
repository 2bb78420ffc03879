using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[AdditiveAttention(hidden)]: Bahdanau's e_ij = vᵀ tanh(W_q q_i + W_k k_j), softmax over the keys, the weighted sum of
/// the keys; (queries, d_q) -> (queries, d_k).</summary>
internal sealed class AdditiveAttentionRule : LayerRule<AdditiveAttentionAttribute>
{
    internal sealed record Config(string Keys, int Queries, int KeyCount, int QueryWidth, int KeyWidth, int Hidden, bool Bias, string? Padding) : LayerConfig
    {
        /// <summary>Both projections transposed to (hidden, tokens) so that one pairwise sum gives every (hidden, query, key) term;
        /// tanh; transposed back to (query·key, hidden) for v; a softmax over each query's keys; the weighted sum of the keys.
        /// Memory O(hidden·queries·keys) per sample, as the formula asks.</summary>
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string p = layer.Path;
            string q = l.Linear(p + ".q_proj", layer.Input, QueryWidth, Hidden, Bias, null);
            string k = l.Linear(p + ".k_proj", Keys, KeyWidth, Hidden, bias: false, null);
            string f = l.PairwiseSum(p + ".sum", l.Transpose(p + ".q_proj.t", q), l.Transpose(p + ".k_proj.t", k), Queries, KeyCount, groups: Hidden);
            string e = l.Linear(p + ".v", l.Transpose(p + ".tanh.t", l.Tanh(p + ".tanh", f)), Hidden, 1, bias: false, null);
            if (Padding is not null) e = l.KeyPadding(p + ".padding", e, Padding, Queries, KeyCount);
            string alpha = l.Softmax(p + ".weights", e, KeyCount);
            l.BatchedMatMul(p + ".context", alpha, Keys, Queries, KeyWidth, KeyCount, transA: false, transB: false, new[] { Queries, KeyWidth }, layer.Output);
        }
    }

    protected override Edge? Check(AdditiveAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (c.Positive("Hidden", a.Hidden) is not { } hidden) return null;
        if (KeysOf(c, a.KeyValue) is not { } keys) return null;
        if (!MultiHeadAttentionRule.KeyPadding(c, "KeyPaddingMask", a.KeyPaddingMask, keys.Shape[0], out var padding)) return null;
        return c.Emit(new Config(keys.Name, c.Input.Shape[0], keys.Shape[0], c.Input.Last, keys.Last, hidden, a.Bias, padding), new[] { c.Input.Shape[0], keys.Last });
    }

    /// <summary>The keys (and values) an attention reads: the edge <c>KeyValue</c> names, a sequence, or the input itself.</summary>
    internal static Edge? KeysOf(LayerContext c, string? keyValue)
    {
        if (keyValue is null) return c.Input;
        if (c.ResolveData("KeyValue", keyValue, "keys and values") is not { } keys) return null;
        if (keys.Shape.Count != 2)
        {
            c.Report(DiagnosticDescriptors.RankMismatch, "KeyValue", c.Path, "keys and values as (B, tokens, width)", keyValue, keys.Display);
            return null;
        }
        return keys;
    }
}
