using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[ReformerAttention(heads, chunk)]: self-attention through locality-sensitive hashing of shared queries and keys,
/// (n, width) -> (n, width) in O(n·rounds·chunk).</summary>
internal sealed class ReformerAttentionRule : LayerRule<ReformerAttentionAttribute>
{
    internal sealed record Config(AttentionConfig Attention, string? Padding, int Buckets, int Rounds, int Chunk) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            ReformerAttentionRule.Lower(lower, layer.Path, layer.Input, Attention, Padding, Buckets, Rounds, Chunk, layer.Output);
    }

    /// <summary>qk and v projected as nn.Linear's (the keys are the queries), the rotations buffer, LSH attention, out_proj.</summary>
    static void Lower(ModelGenerator.Lowerer l, string path, string x, AttentionConfig c, string? padding, int buckets, int rounds, int chunk, string output)
    {
        string qk = l.Linear(path + ".qk_proj", x, c.Width, c.Heads * c.KeyDim, c.Bias, null);
        string v = l.Linear(path + ".v_proj", x, c.Width, c.Heads * c.ValueDim, c.Bias, null);
        int rotations = l.ReformerRotations(path, rounds, c.KeyDim, buckets);
        string heads = l.LshAttention(path + ".heads", qk, v, padding, c, rotations, buckets, rounds, chunk);
        l.Linear(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, output, biasInit: "zero");
    }

    protected override Edge? Check(ReformerAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (MultiHeadAttentionRule.Heads(a, c) is not { } h) return null;
        int tokens = c.Input.Shape[0];
        string? refused = a.AttentionMask is not null ? "AttentionMask" : a.Positions != RelativePositions.None ? "Positions"
            : a.KvHeads != 0 && a.KvHeads != a.Heads ? "KvHeads" : null;
        if (refused is not null)
        {
            c.Report(DiagnosticDescriptors.ReformerScores, refused, c.Path,
                refused == "Positions" ? MultiHeadAttentionRule.PositionsName(a.Positions) : refused == "KvHeads" ? $"KvHeads = {a.KvHeads}" : refused);
            return null;
        }
        if (c.Positive("Chunk", a.Chunk) is not { } chunk) return null;
        if (tokens % chunk != 0)
        {
            c.Report(DiagnosticDescriptors.ReformerChunkDoesNotDivide, "Chunk", c.Path, tokens, chunk, LayerContext.NearestDivisor(tokens, chunk));
            return null;
        }
        if (c.InRange("Buckets", a.Buckets, a.Buckets == 0 || (a.Buckets >= 2 && a.Buckets % 2 == 0), "even and at least 2 (or 0 for twice the chunks of a round)")
            is not { } bucketArg) return null;
        if (c.Positive("Rounds", a.Rounds) is not { } rounds) return null;
        if (!MultiHeadAttentionRule.Mask(a, c, tokens, out var mask)) return null;
        int buckets = bucketArg == 0 ? System.Math.Max(2, 2 * (tokens / chunk)) : bucketArg;
        return c.Same(new Config(h, mask, buckets, rounds, chunk));
    }
}
