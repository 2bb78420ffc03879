using System.Collections.Generic;
using System.Linq;
using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[SparseAttention(heads, block)]: self-attention over a block pattern (window, global, strided, random: BigBird's
/// union), exact softmax computed block by block, (n, width) -> (n, width) in O(n·keys per row).</summary>
internal sealed class SparseAttentionRule : LayerRule<SparseAttentionAttribute>
{
    internal sealed record Config(AttentionConfig Attention, int Block, int Window, int GlobalBlocks, int RandomBlocks, int Stride, int Seed, string? Padding) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            SparseAttentionRule.Lower(lower, layer.Path, layer.Input, this, layer.Output);
    }

    /// <summary>q, k, v projected as nn.MultiheadAttention's (rotated when rotary), the block-sparse core, out_proj.</summary>
    static void Lower(ModelGenerator.Lowerer l, string path, string x, Config s, string output)
    {
        var c = s.Attention;
        var (q, k, v) = MultiHeadAttentionRule.SelfProjections(l, path, x, c);
        int blocks = c.Queries / s.Block;
        string I(int v) => ModelGenerator.Lowerer.Int(v);
        string layout = $"global::ModelGen.Ops.BlockSparseAttention.Layout({I(blocks)}, window: {I(s.Window)}, globalBlocks: {I(s.GlobalBlocks)}, " +
            $"randomBlocks: {I(s.RandomBlocks)}, stride: {I(s.Stride)}, causal: {ModelGenerator.Lowerer.Bool(c.Causal)}, seed: {I(s.Seed)})";
        var pattern = new List<string> { $"window ±{I(s.Window)}" };
        if (s.GlobalBlocks > 0) pattern.Add($"{I(s.GlobalBlocks)} global");
        if (s.Stride > 0) pattern.Add($"stride {I(s.Stride)}");
        if (s.RandomBlocks > 0) pattern.Add($"{I(s.RandomBlocks)} random (seed {I(s.Seed)})");
        if (c.Causal) pattern.Add("causal");
        int pairs = Pairs(blocks, s.Window, s.GlobalBlocks, s.RandomBlocks, s.Stride, c.Causal);
        string heads = l.BlockSparseAttention(path + ".heads", q, k, v, c, s.Block, layout, pairs, string.Join(", ", pattern), s.Padding);
        l.Linear(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, output, biasInit: "zero");
    }

    /// <summary>The pattern's block pairs, counted as the runtime's layout builds them (random blocks: as many as each row has
    /// room for). A test holds it equal to the count of <c>BlockSparseAttention.Layout</c>, which the generator cannot call.</summary>
    internal static int Pairs(int blocks, int window, int globalBlocks, int randomBlocks, int stride, bool causal)
    {
        int pairs = 0;
        for (int i = 0; i < blocks; i++)
        {
            int last = causal ? i : blocks - 1;
            if (i < globalBlocks) { pairs += last + 1; continue; }
            var set = new HashSet<int>();
            for (int j = System.Math.Max(0, i - window); j <= System.Math.Min(last, i + window); j++) set.Add(j);
            for (int j = 0; j < System.Math.Min(globalBlocks, last + 1); j++) set.Add(j);
            if (stride > 0)
                for (int j = i % stride; j <= last; j += stride) set.Add(j);
            pairs += set.Count + System.Math.Min(randomBlocks, last + 1 - set.Count);
        }
        return pairs;
    }

    protected override Edge? Check(SparseAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (MultiHeadAttentionRule.Heads(a, c) is not { } h) return null;
        int tokens = c.Input.Shape[0];
        if (c.Positive("Block", a.Block) is not { } block) return null;
        if (tokens % block != 0)
        {
            c.Report(DiagnosticDescriptors.SparseBlockDoesNotDivide, "Block", c.Path, tokens, block, LayerContext.NearestDivisor(tokens, block));
            return null;
        }
        int blocks = tokens / block;
        if (c.AtLeast("Window", a.Window, 0, "0 or more blocks") is not { } window) return null;
        if (c.InRange("GlobalBlocks", a.GlobalBlocks, a.GlobalBlocks >= 0 && a.GlobalBlocks <= blocks, $"between 0 and the {blocks} blocks") is not { } global) return null;
        if (c.InRange("RandomBlocks", a.RandomBlocks, a.RandomBlocks >= 0 && a.RandomBlocks <= blocks, $"between 0 and the {blocks} blocks") is not { } random) return null;
        if (c.AtLeast("Stride", a.Stride, 0, "0 (none) or positive") is not { } stride) return null;
        if (MultiHeadAttentionRule.ScoreOption(a, paddingAllowed: true) is { } option)
        {
            c.Report(DiagnosticDescriptors.SparseAttentionScores, option.Argument, c.Path, option.What);
            return null;
        }
        if (!MultiHeadAttentionRule.Mask(a, c, tokens, out var mask)) return null;
        return c.Same(new Config(h, block, window, global, random, stride, a.Seed, mask));
    }
}
