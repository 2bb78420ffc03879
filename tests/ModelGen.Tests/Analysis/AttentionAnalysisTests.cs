using System;
using System.Linq;
using ModelGen;
using ModelGen.Analysis;
using ModelGen.Tests.Models;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Analysis;

/// <summary>The head analysis tools on hand-computed cases, and on a real model's probabilities and gradients.</summary>
public class AttentionAnalysisTests
{
    /// <summary>(1, 2, 2, 4): head 0 uniform over 4 keys, head 1 all on one key per query (query 0 on key 0, query 1 on key 3).</summary>
    static Tensor TwoHeads()
    {
        var t = Tensor.Zeros(1, 2, 2, 4);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) t[0, 0, i, j] = 0.25f;
        t[0, 1, 0, 0] = 1f;
        t[0, 1, 1, 3] = 1f;
        return t;
    }

    [Fact]
    public void Entropy_IsLnNForUniformRows_AndZeroForOneHotRows()
    {
        var e = AttentionAnalysis.HeadEntropy(TwoHeads());
        Assert.Equal(Math.Log(4), e[0], 6);
        Assert.Equal(0, e[1], 12);
    }

    [Fact]
    public void Entropy_LeavesOutFullyMaskedRows()
    {
        var t = TwoHeads();
        for (int j = 0; j < 4; j++) t[0, 0, 1, j] = 0f; // head 0, query 1: every key masked
        Assert.Equal(Math.Log(4), AttentionAnalysis.HeadEntropy(t)[0], 6);
    }

    [Fact]
    public void Similarity_IsTheCosineOfTheAttentionMatrices()
    {
        var s = AttentionAnalysis.HeadSimilarity(TwoHeads());
        Assert.Equal(1, s[0, 0], 6);
        Assert.Equal(1, s[1, 1], 6);
        // tr(A0ᵀA1) = 0.25 + 0.25 = 0.5; ‖A0‖ = √(8·0.0625) = √0.5; ‖A1‖ = √2: 0.5 / (√0.5·√2) = 0.5.
        Assert.Equal(0.5, s[0, 1], 6);
        Assert.Equal(s[0, 1], s[1, 0]);
    }

    [Fact]
    public void Importance_SumsEachHeadsWeightTimesGradient()
    {
        using var m = new MaskedAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(1, 1f, 2, 7, 16);
        var y = m.Forward(x, Tensor.Zeros(2, 7, 7));
        m.Backward(ModelData.Random(2, 1f, y.Shape));
        var importance = AttentionAnalysis.HeadImportance(m.Parameters, "attn", heads: 2);
        // By hand for head 1: rows 8..15 of q, k, v (16 wide) and columns 8..15 of out_proj.
        double expected = 0;
        foreach (var name in new[] { "attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight" })
        {
            var p = m.Parameters[name];
            for (int at = 8 * 16; at < 16 * 16; at++) expected += Math.Abs((double)p.Value[at] * p.Grad[at]);
        }
        var o = m.Parameters["attn.out_proj.weight"];
        for (int r = 0; r < 16; r++)
            for (int c = 8; c < 16; c++) expected += Math.Abs((double)o.Value[r * 16 + c] * o.Grad[r * 16 + c]);
        Assert.Equal(expected, importance[1], 9);
        Assert.True(importance[0] > 0);
        var e = Assert.Throws<ArgumentException>(() => AttentionAnalysis.HeadImportance(m.Parameters, "encoder", heads: 2));
        Assert.Contains("known: attn", e.Message);
    }

    [Fact]
    public void ARealModelsHeads_HaveEntropiesBetweenZeroAndLnN()
    {
        using var m = new RotaryAttention(Device.Cpu(), seed: 3);
        m.Forward(ModelData.Random(4, 1f, 2, 11, 24));
        var probs = m.Intermediate("attn.heads.probs")!;
        var e = AttentionAnalysis.HeadEntropy(probs);
        Assert.Equal(3, e.Length);
        Assert.All(e, h => Assert.InRange(h, 0, Math.Log(11) + 1e-9));
        var s = AttentionAnalysis.HeadSimilarity(probs);
        for (int h = 0; h < 3; h++) Assert.Equal(1, s[h, h], 5);
        Assert.Throws<ArgumentException>(() => AttentionAnalysis.HeadEntropy(Tensor.Zeros(2, 3)));
    }

    [Fact]
    public void MaskingHeads_RemovesTheirContribution_AndDisposingRestoresTheWeights()
    {
        using var m = new MaskedAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(1, 1f, 2, 7, 16);
        var open = Tensor.Zeros(2, 7, 7);
        var before = m.Forward(x, open).Data.ToArray();
        var weights = m.Parameters["attn.out_proj.weight"].Value.ToArray();
        using (AttentionAnalysis.MaskHeads(m.Parameters, "attn", 2, 0, 1))
        {
            // Every head pruned: the layer outputs its out_proj bias alone.
            var y = m.Forward(x, open).Data;
            var bias = m.Parameters["attn.out_proj.bias"].Value;
            for (int i = 0; i < y.Length; i++) Assert.Equal(bias[i % 16], y[i], 6);
        }
        Assert.Equal(weights, m.Parameters["attn.out_proj.weight"].Value);
        Assert.Equal(before, m.Forward(x, open).Data.ToArray());
        using (AttentionAnalysis.MaskHeads(m.Parameters, "attn", 2, 1))
            Assert.NotEqual(before, m.Forward(x, open).Data.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionAnalysis.MaskHeads(m.Parameters, "attn", 2, 2));
    }

    [Fact]
    public void APrunedModel_ComputesWhatMaskingComputes_WithFewerHeads()
    {
        using var full = new FourHeadEncoder(Device.Cpu(), seed: 4);
        using var small = new PrunedFourHeadEncoder(Device.Cpu(), seed: 5);
        var drop = new System.Collections.Generic.Dictionary<string, int[]> { ["encoder.layers.0.attn"] = new[] { 2 }, ["encoder.layers.1.attn"] = new[] { 0 } };
        AttentionAnalysis.PruneHeads(full.Parameters, small.Parameters, drop, heads: 4);
        Assert.Equal(new[] { 12, 16 }, small.Parameters["encoder.layers.0.attn.q_proj.weight"].Shape);
        var x = ModelData.Random(6, 1f, 3, 9, 16);
        float[] masked;
        using (AttentionAnalysis.MaskHeads(full.Parameters, "encoder.layers.0.attn", 4, 2))
        using (AttentionAnalysis.MaskHeads(full.Parameters, "encoder.layers.1.attn", 4, 0))
            masked = full.Forward(x).Data.ToArray();
        var pruned = small.Forward(x).Data;
        Approx.Equal(masked, pruned, 1e-6, 1e-5, "pruned vs masked");
        Assert.True(Approx.RelativeError(full.Forward(x).Data, pruned) > 1e-4, "pruning changed the output");
        // Shapes that do not keep the heads' features, and grouped heads, are refused with their numbers.
        var wrong = new System.Collections.Generic.Dictionary<string, int[]> { ["encoder.layers.0.attn"] = new[] { 1, 2 }, ["encoder.layers.1.attn"] = new[] { 0 } };
        Assert.Contains("keeps 2 of 4 heads of 4 features, 8 in all, but the pruned model has 12",
            Assert.Throws<ArgumentException>(() => AttentionAnalysis.PruneHeads(full.Parameters, small.Parameters, wrong, 4)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            AttentionAnalysis.PruneHeads(full.Parameters, small.Parameters, new System.Collections.Generic.Dictionary<string, int[]> { ["encoder.layers.0.attn"] = new[] { 4 } }, 4));
    }
}
