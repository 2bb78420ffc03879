using System;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using BiasKind = ModelGen.Tests.Ops.AttentionFlashTests.BiasKind;

namespace ModelGen.Tests.Ops;

/// <summary>Memory-efficient attention on the CPU (the log-sum-exp kept instead of the probabilities, recomputed in blocks of
/// rows in backward) against the attention that keeps them, which the double-precision references and finite differences
/// check: outputs, every gradient, the probabilities recomputed on request; masks, score biases and grouped-query heads; and
/// a long sequence whose N² probabilities are never allocated.</summary>
[Collection(Serial.Name)]
public class AttentionStreamingTests
{
    [Theory]
    [InlineData(2, 5, 5, 4, 2, 3, 2, false, false, BiasKind.None)]
    [InlineData(2, 37, 45, 2, 2, 8, 8, false, true, BiasKind.None)]
    [InlineData(2, 70, 70, 4, 2, 16, 32, true, true, BiasKind.None)]   // in place, several row blocks
    [InlineData(1, 130, 129, 2, 1, 17, 5, true, false, BiasKind.Learned)]
    [InlineData(3, 35, 35, 3, 1, 8, 8, true, false, BiasKind.Constant)]
    [InlineData(2, 30, 47, 2, 2, 8, 8, false, true, BiasKind.Mask)]
    public void MatchesTheAttentionThatKeepsItsProbabilities(int batch, int nq, int nk, int heads, int kvHeads, int dk, int dv, bool causal, bool padded, BiasKind biasKind)
    {
        float scale = 1f / MathF.Sqrt(dk);
        var q = Rng.Floats(batch * nq * heads * dk, 1);
        var k = Rng.Floats(batch * nk * kvHeads * dk, 2);
        var v = Rng.Floats(batch * nk * kvHeads * dv, 3);
        var dO = Rng.Floats(batch * nq * heads * dv, 4);
        var pad = padded ? AttentionFlashTests.Padding(batch, nk) : null;
        var (bias, bb, bh) = AttentionFlashTests.MakeBias(biasKind, batch, heads, nq, nk);
        bool mask = biasKind == BiasKind.Mask, learned = biasKind == BiasKind.Learned;
        int scores = batch * heads * nq * nk;

        var o = new float[batch * nq * heads * dv];
        var probs = new float[scores];
        Attention.Forward(o, probs, q, k, v, pad, bias, batch, nq, nk, heads, kvHeads, dk, dv, bb, bh, causal, mask, scale);
        var so = Arrays.Filled(o.Length, 99f);
        var lse = new float[batch * heads * nq];
        Attention.StreamingForward(so, lse, q, k, v, pad, bias, batch, nq, nk, heads, kvHeads, dk, dv, bb, bh, causal, mask, scale);
        Approx.Equal(o, so, 1e-6, 1e-5, "o");

        var sp = Arrays.Filled(scores, 99f);
        Attention.Probabilities(sp, q, k, lse, pad, bias, batch, nq, nk, heads, kvHeads, dk, bb, bh, causal, mask, scale);
        Approx.Equal(probs, sp, 1e-6, 1e-5, "probs");

        (float[] Dq, float[] Dk, float[] Dv, float[]? DBias) Grads() =>
            (Rng.Floats(q.Length, 5, 0.1f), Rng.Floats(k.Length, 6, 0.1f), Rng.Floats(v.Length, 7, 0.1f), learned ? Rng.Floats(scores, 8, 0.1f) : null);
        var a = Grads();
        Attention.Backward(a.Dq, a.Dk, a.Dv, a.DBias, dO, q, k, v, o, probs, batch, nq, nk, heads, kvHeads, dk, dv, scale);
        var s = Grads();
        Attention.StreamingBackward(s.Dq, s.Dk, s.Dv, s.DBias, dO, q, k, v, so, lse, pad, bias, batch, nq, nk, heads, kvHeads, dk, dv, bb, bh, causal, mask, scale);
        Approx.Equal(a.Dq, s.Dq, 1e-5, 1e-4, "dq");
        Approx.Equal(a.Dk, s.Dk, 1e-5, 1e-4, "dk");
        Approx.Equal(a.Dv, s.Dv, 1e-5, 1e-4, "dv");
        if (learned) Approx.Equal(a.DBias!, s.DBias!, 1e-5, 1e-4, "dBias");
        foreach (var x in s.Dq) Assert.False(float.IsNaN(x));
    }

    [Fact]
    public void ALongSequence_NeverHoldsItsProbabilities()
    {
        // 4 heads of 3000 tokens: the probabilities would be 144 MB per sample; the scratch of a task is a few rows of scores.
        const int nq = 3000, heads = 4, d = 16;
        float scale = 0.25f;
        var q = Rng.Floats(nq * heads * d, 1);
        var k = Rng.Floats(nq * heads * d, 2);
        var v = Rng.Floats(nq * heads * d, 3);
        var dO = Rng.Floats(q.Length, 4);
        var o = new float[q.Length];
        var lse = new float[heads * nq];
        var dq = new float[q.Length];
        var dk = new float[k.Length];
        var dv = new float[v.Length];
        long before = GC.GetTotalAllocatedBytes(precise: true);
        Attention.StreamingForward(o, lse, q, k, v, null, null, 1, nq, nq, heads, heads, d, d, 0, 0, true, false, scale);
        Attention.StreamingBackward(dq, dk, dv, null, dO, q, k, v, o, lse, null, null, 1, nq, nq, heads, heads, d, d, 0, 0, true, false, scale);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        long probabilities = 4L * heads * nq * nq;
        Assert.True(allocated < probabilities / 10, $"allocated {allocated} bytes; the probabilities would take {probabilities}");

        // Spot-check rows against a direct double-precision computation.
        foreach (int i in new[] { 0, 1, 1499, 2999 })
            for (int h = 0; h < heads; h += 3)
            {
                var p = new double[i + 1];
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j <= i; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += (double)q[(i * heads + h) * d + c] * k[(j * heads + h) * d + c];
                    p[j] = dot * scale;
                    max = Math.Max(max, p[j]);
                }
                for (int j = 0; j <= i; j++) sum += p[j] = Math.Exp(p[j] - max);
                for (int c = 0; c < d; c++)
                {
                    double acc = 0;
                    for (int j = 0; j <= i; j++) acc += p[j] / sum * v[(j * heads + h) * d + c];
                    Assert.Equal(acc, o[(i * heads + h) * d + c], 4);
                }
                Assert.Equal(max + Math.Log(sum), lse[h * nq + i], 3);
            }
    }
}
