using System.Linq;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>Segmentation heads lowered to primitive ops.</summary>
    internal sealed partial class Lowerer
    {
        /// <summary>SETR-PUP: tokens -> (D, h, w) map; per factor Conv3×3 (to that stage's width) -> BatchNorm -> ReLU -> bilinear ×factor; then a 1×1
        /// convolution to the classes at the image's resolution.</summary>
        string SetrDecoder(string path, string x, int skip, int gridHeight, int gridWidth, int[] channels, int classes, int[] factors, string output)
        {
            string map = TokensToMap(path + ".map", x, skip, gridHeight, gridWidth, null);
            for (int i = 0; i < factors.Length; i++)
            {
                string stage = $"{path}.stages.{i}";
                // No bias: the BatchNorm after it would cancel one (as mmseg's SETR-PUP).
                string conv = Conv2d(stage + ".conv", map, channels[i], 3, 1, 1, bias: false, null);
                string act = Relu(stage + ".act", BatchNorm(stage + ".bn", conv, 0.1f, 1e-5f, null), null);
                map = Upsample(stage + ".up", act, factors[i], nearest: false, null);
            }
            return Conv2d(path + ".classifier", map, classes, 1, 1, 0, bias: true, output);
        }

        static int[] Sizes(string text) => text.Length == 0 ? new int[0] : text.Split('x').Select(f => int.Parse(f, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

        /// <summary>The patch tokens of x: all of them, or those after the first <paramref name="skip"/>.</summary>
        string Patches(string path, string x, int skip)
        {
            if (skip == 0) return x;
            var s = ShapeOf(x);
            int n = s[0] - skip, d = s[1];
            return Split(path, x, "batch", skip, n, d, new[] { skip, d }, new[] { n, d }).Second;
        }

        /// <summary>Segmenter's mask transformer: project the patches, append one learned token per class, Transformer layers,
        /// then cosine scores of every patch with every class token, LayerNorm over the classes, upsampled to the image.</summary>
        string MaskTransformer(string path, string x, CheckedLayer l, string output)
        {
            int dim = l.Int("Dim"), width = l.Int("Width"), classes = l.Int("Classes"), skip = l.Int("Skip");
            int gh = l.Int("GridHeight"), gw = l.Int("GridWidth"), n = gh * gw;
            string h = Linear(path + ".proj_dec", Patches(path + ".patches", x, skip), dim, width, bias: true, null);
            string t = LearnedTokens(path + ".cls_emb", h, classes, width);
            for (int i = 0; i < l.Int("Depth"); i++) t = EncoderLayer($"{path}.blocks.{i}", t, null, l, 0f, null);
            t = LayerNorm(path + ".decoder_norm", t, 1e-5f, null);
            var (patches, tokens) = Split(path + ".split", t, "batch", n, classes, width, new[] { n, width }, new[] { classes, width });
            string p = L2Normalize(path + ".patch_norm", Linear(path + ".proj_patch", patches, width, width, bias: false, null));
            string c = L2Normalize(path + ".class_norm", Linear(path + ".proj_classes", tokens, width, width, bias: false, null));
            string masks = BatchedMatMul(path + ".masks", p, c, n, classes, width, transA: false, transB: true);
            masks = LayerNorm(path + ".mask_norm", masks, 1e-5f, null);
            string map = TokensToMap(path + ".map", masks, 0, gh, gw, null);
            return Upsample(path + ".up", map, l.Int("Factor"), nearest: false, output);
        }

        /// <summary>MaskFormer-style mask classification: learned queries through decoder layers (self-attention, cross-attention to
        /// the patches, MLP); per query a class distribution (with "no object") and a mask σ(embedding · pixel embedding);
        /// log Σ_i p_i[k]·M_i(x), upsampled to the image.</summary>
        string MaskClassifier(string path, string x, CheckedLayer l, string output)
        {
            int width = l.Int("Width"), classes = l.Int("Classes"), queries = l.Int("Queries"), skip = l.Int("Skip");
            int gh = l.Int("GridHeight"), gw = l.Int("GridWidth"), n = gh * gw;
            string patches = Patches(path + ".patches", x, skip);
            string pixels = Linear(path + ".pixel_embed", patches, width, width, bias: true, null);
            string q = LearnedTokens(path + ".query_embed", null, queries, width);
            var self = Attention(l);
            var cross = self with { Keys = n };
            for (int i = 0; i < l.Int("Depth"); i++)
            {
                string layer = $"{path}.layers.{i}";
                string n1 = LayerNorm(layer + ".norm1", q, 1e-5f, null);
                q = Add(layer + ".res1", q, MultiHeadAttention(layer + ".self_attn", n1, n1, n1, null, self, null), null);
                string n2 = LayerNorm(layer + ".norm2", q, 1e-5f, null);
                q = Add(layer + ".res2", q, MultiHeadAttention(layer + ".cross_attn", n2, patches, patches, null, cross, null), null);
                string n3 = LayerNorm(layer + ".norm3", q, 1e-5f, null);
                q = Add(layer + ".res3", q, FeedForward(layer + ".mlp", n3, width, 4 * width, 0, 0f, null), null);
            }
            q = LayerNorm(path + ".norm", q, 1e-5f, null);
            string probs = Softmax(path + ".class_probs", Linear(path + ".class_embed", q, width, classes + 1, bias: true, null), classes + 1);
            // Drop the "no object" column: (Q, K + 1) -> (Q, K).
            string classProbs = Split(path + ".classes", probs, "batch * " + Int(queries), classes, 1, 1, new[] { queries, classes }, new[] { queries, 1 }).First;
            string embedding = Relu(path + ".mask_embed.act", Linear(path + ".mask_embed.0", q, width, width, bias: true, null), null);
            embedding = Linear(path + ".mask_embed.2", embedding, width, width, bias: true, null);
            string masks = Sigmoid(path + ".masks", BatchedMatMul(path + ".mask_logits", embedding, pixels, queries, n, width, transA: false, transB: true), null);
            // p(x)[k] = Σ_i p_i[k]·M_i(x): (K, Q)·(Q, N), laid out as a (K, h, w) map.
            string semantic = BatchedMatMul(path + ".semantic", classProbs, masks, classes, n, queries, transA: true, transB: false, new[] { classes, gh, gw });
            string up = Upsample(path + ".up", semantic, l.Int("Factor"), nearest: false, null);
            return Log(path + ".log", up, 1e-6f, output);
        }
    }
}
