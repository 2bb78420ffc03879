using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[MaskClassifier(classes)]: MaskFormer-style mask classification. Learned queries through decoder layers (self-attention,
/// cross-attention to the patches, MLP); per query a class distribution (with "no object") and a mask σ(embedding · pixel
/// embedding); log Σ_i p_i[k]·M_i(x), upsampled to the image.</summary>
internal sealed class MaskClassifierRule : LayerRule<MaskClassifierAttribute>
{
    internal sealed record Config(MaskHeadShape Shape, int Width, int Queries) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string path = layer.Path;
            int classes = Shape.Classes, n = Shape.Patches, width = Width, queries = Queries;
            string patches = Shape.PatchTokens(l, path + ".patches", layer.Input);
            string pixels = l.Linear(path + ".pixel_embed", patches, width, width, bias: true, null);
            string q = l.LearnedTokens(path + ".query_embed", null, queries, width);
            var self = Shape.Attention(width, queries);
            var cross = self with { Keys = n };
            for (int i = 0; i < Shape.Depth; i++)
            {
                string block = $"{path}.layers.{i}";
                string n1 = l.LayerNorm(block + ".norm1", q, 1e-5f, null);
                q = l.Add(block + ".res1", q, MultiHeadAttentionRule.Lower(l, block + ".self_attn", n1, n1, n1, null, self, null), null);
                string n2 = l.LayerNorm(block + ".norm2", q, 1e-5f, null);
                q = l.Add(block + ".res2", q, MultiHeadAttentionRule.Lower(l, block + ".cross_attn", n2, patches, patches, null, cross, null), null);
                string n3 = l.LayerNorm(block + ".norm3", q, 1e-5f, null);
                q = l.Add(block + ".res3", q, FeedForwardRule.Lower(l, block + ".mlp", n3, width, 4 * width, Activation.Gelu, 0f, null), null);
            }
            q = l.LayerNorm(path + ".norm", q, 1e-5f, null);
            string probs = l.Softmax(path + ".class_probs", l.Linear(path + ".class_embed", q, width, classes + 1, bias: true, null), classes + 1);
            // Drop the "no object" column: (Q, K + 1) -> (Q, K).
            string classProbs = l.Split(path + ".classes", probs, "batch * " + ModelGenerator.Lowerer.Int(queries), classes, 1, 1, new[] { queries, classes }, new[] { queries, 1 }).First;
            string embedding = l.Relu(path + ".mask_embed.act", l.Linear(path + ".mask_embed.0", q, width, width, bias: true, null), null);
            embedding = l.Linear(path + ".mask_embed.2", embedding, width, width, bias: true, null);
            string masks = l.Sigmoid(path + ".masks", l.BatchedMatMul(path + ".mask_logits", embedding, pixels, queries, n, width, transA: false, transB: true), null);
            // p(x)[k] = Σ_i p_i[k]·M_i(x): (K, Q)·(Q, N), laid out as a (K, h, w) map.
            string semantic = l.BatchedMatMul(path + ".semantic", classProbs, masks, classes, n, queries, transA: true, transB: false, new[] { classes, Shape.GridHeight, Shape.GridWidth });
            string up = l.Upsample(path + ".up", semantic, Shape.Factor, nearest: false, null);
            l.Log(path + ".log", up, 1e-6f, layer.Output);
        }
    }

    protected override Edge? Check(MaskClassifierAttribute a, LayerContext c)
    {
        int width = c.Input.Shape.Count == 2 ? c.Input.Last : 0;
        if (MaskHeadShape.Check(c, a, width) is not { } shape) return null;
        if (c.AtLeast("Queries", a.Queries, 0, "positive (or 0 for 2 × Classes)") is not { } queriesArg) return null;
        int queries = queriesArg == 0 ? 2 * shape.Classes : queriesArg;
        return c.Emit(new Config(shape, width, queries), new[] { shape.Classes, shape.GridHeight * shape.Factor, shape.GridWidth * shape.Factor });
    }
}
