using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[LocationAttention]: Luong's location-based weights α_i = softmax(W_a s_i) over the key positions, from the query alone,
/// and the weighted sum of the keys; (queries, d_q) -> (queries, d_k).</summary>
internal sealed class LocationAttentionRule : LayerRule<LocationAttentionAttribute>
{
    internal sealed record Config(string Keys, int Queries, int KeyCount, int QueryWidth, int KeyWidth, string? Padding) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string p = layer.Path;
            string scores = l.Linear(p + ".location", layer.Input, QueryWidth, KeyCount, bias: true, null);
            if (Padding is not null) scores = l.KeyPadding(p + ".padding", scores, Padding, Queries, KeyCount);
            string alpha = l.Softmax(p + ".weights", scores, KeyCount);
            l.BatchedMatMul(p + ".context", alpha, Keys, Queries, KeyWidth, KeyCount, transA: false, transB: false, new[] { Queries, KeyWidth }, layer.Output);
        }
    }

    protected override Edge? Check(LocationAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (AdditiveAttentionRule.KeysOf(c, a.KeyValue) is not { } keys) return null;
        if (!MultiHeadAttentionRule.KeyPadding(c, "KeyPaddingMask", a.KeyPaddingMask, keys.Shape[0], out var padding)) return null;
        return c.Emit(new Config(keys.Name, c.Input.Shape[0], keys.Shape[0], c.Input.Last, keys.Last, padding), new[] { c.Input.Shape[0], keys.Last });
    }
}
