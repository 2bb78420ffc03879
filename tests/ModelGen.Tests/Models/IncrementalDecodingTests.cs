using System;
using System.Linq;
using ModelGen;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>
/// The generated incremental decoding: one position at a time through key/value caches, equal to the full forward over the
/// same ids at every position (a causal model's position t sees only the ids up to t), for a language model and for a decoder
/// that reads a memory computed once.
/// </summary>
public class IncrementalDecodingTests
{
    static Tensor Column(int[] ids, int batch, int tokens, int t) =>
        Tensor.FromTokens(Enumerable.Range(0, batch).Select(b => ids[b * tokens + t]).ToArray(), batch);

    static void SameAsFullForward(Tensor full, Func<int, Tensor> step, int batch, int tokens, int width)
    {
        for (int t = 0; t < tokens; t++)
        {
            var row = step(t);
            Assert.Equal(new[] { batch, width }, row.Shape);
            var expected = new float[batch * width];
            for (int b = 0; b < batch; b++) Array.Copy(full.Data, (b * tokens + t) * width, expected, b * width, width);
            Approx.Equal(expected, row.Data, 2e-5, 2e-4, $"position {t}");
        }
    }

    /// <summary>A decoder-only model over random ids: its full forward, then a session (made for the batch) step by step.</summary>
    static void DecodesLikeTheFullForward(Func<Tensor, Tensor> forward, Func<int, Func<Tensor, Tensor>> start, int batch, int tokens, int vocab, int seed)
    {
        var ids = RandomIds(batch * tokens, vocab, seed);
        var full = forward(Tensor.FromTokens(ids, batch, tokens));
        var step = start(batch);
        SameAsFullForward(full, t => step(Column(ids, batch, tokens, t)), batch, tokens, vocab);
    }

    static int[] RandomIds(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray();
    }

    [Fact]
    public void LanguageModel_StepByStepEqualsTheFullForward()
    {
        const int batch = 2, tokens = 12, vocab = 23;
        using var m = new TinyLanguageModel(Device.Cpu(), seed: 21);
        var ids = RandomIds(batch * tokens, vocab, 22);
        var full = m.Forward(Tensor.FromTokens(ids, batch, tokens));
        var session = m.StartDecoding(batch);
        Assert.Equal(tokens, session.MaxTokens);
        SameAsFullForward(full, t => session.Step(Column(ids, batch, tokens, t)), batch, tokens, vocab);
        Assert.Equal(tokens, session.Position);
        var e = Assert.Throws<InvalidOperationException>(() => session.Step(Column(ids, batch, tokens, 0)));
        Assert.Contains("All 12 positions are decoded", e.Message);
    }

    [Fact]
    public void RotaryGroupedQueryModel_StepByStepEqualsTheFullForward()
    {
        using var m = new RotaryLanguageModel(Device.Cpu(), seed: 28);
        DecodesLikeTheFullForward(m.Forward, b => m.StartDecoding(b).Step, batch: 2, tokens: 10, vocab: 17, seed: 29);
    }

    [Fact]
    public void RelativeBiasAndAlibi_StepByStepEqualTheFullForward()
    {
        using var m = new BiasedLanguageModel(Device.Cpu(), seed: 30);
        // The learned table starts at N(0, 0.02²): made larger, a wrong row of it would show.
        var table = m.Parameters["block.attn.relative_attention_bias.weight"];
        for (int i = 0; i < table.Value.Length; i++) table.Value[i] *= 50;
        table.MarkChanged();
        DecodesLikeTheFullForward(m.Forward, b => m.StartDecoding(b).Step, batch: 2, tokens: 11, vocab: 15, seed: 31);
    }

    [Fact]
    public void DecoderWithAMemory_StepByStepEqualsTheFullForward()
    {
        const int batch = 3, tokens = 9, vocab = 19;
        using var m = new TinyCaptioner(Device.Cpu(), seed: 23);
        var features = ModelData.Random(24, 1f, batch, 6, 12);
        var padding = ModelData.Padding(6, 0, 2, 5);
        var ids = RandomIds(batch * tokens, vocab, 25);
        var full = m.Forward(features, Tensor.FromTokens(ids, batch, tokens), padding);
        var session = m.StartDecoding(features, padding);
        Assert.Equal(batch, session.Batch);
        SameAsFullForward(full, t => session.Step(Column(ids, batch, tokens, t)), batch, tokens, vocab);
    }

    /// <summary>Fuzz seed 50306: a causal cross-attention's step read every key of the memory.</summary>
    [Fact]
    public void CausalCrossAttention_StepByStepEqualsTheFullForward()
    {
        const int batch = 2, tokens = 6, vocab = 11;
        using var m = new CausalCrossAttender(Device.Cpu(), seed: 32);
        var enc = ModelData.Random(33, 1f, batch, 9, 12);
        var ids = RandomIds(batch * tokens, vocab, 34);
        var full = m.Forward(Tensor.FromTokens(ids, batch, tokens), enc);
        var session = m.StartDecoding(enc);
        SameAsFullForward(full, t => session.Step(Column(ids, batch, tokens, t)), batch, tokens, 16);
    }

    [Fact]
    public void TwoSessions_AreIndependent_AndBadIdsAreRefused()
    {
        const int tokens = 12, vocab = 23;
        using var m = new TinyLanguageModel(Device.Cpu(), seed: 26);
        var a = m.StartDecoding(1);
        var b = m.StartDecoding(1);
        var first = a.Step(Tensor.FromTokens(new[] { 5 }, 1));
        b.Step(Tensor.FromTokens(new[] { 9 }, 1));
        var again = m.StartDecoding(1).Step(Tensor.FromTokens(new[] { 5 }, 1));
        Assert.Equal(first.Data, again.Data);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Step(Tensor.FromTokens(new[] { vocab }, 1)));
        Assert.Equal(1, a.Position);
        Assert.Throws<ArgumentException>(() => a.Step(Tensor.FromTokens(new[] { 1, 2 }, 2)));
        Assert.True(tokens > a.Position);
    }

    [Fact]
    public void OnADevice_SaysDecodingRunsOnTheCpu()
    {
        using var sim = Device.CpuSimulator();
        using var m = new TinyLanguageModel(sim, seed: 27);
        var e = Assert.Throws<NotSupportedException>(() => m.StartDecoding(1));
        Assert.Contains("CPU backend", e.Message);
    }
}
