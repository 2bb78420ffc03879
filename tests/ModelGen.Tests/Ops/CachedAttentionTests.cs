using System;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

public class CachedAttentionTests
{
    /// <summary>softmax(q·kᵀ·scale) v in double over the first <paramref name="length"/> keys, padded keys left out.</summary>
    static double[] Reference(double[] q, double[] k, double[] v, float[]? padding, float[]? bias, int row, int length, int stride, int batch, int heads, int kvHeads,
        int dk, int dv, double scale)
    {
        var o = new double[batch * heads * dv];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                var s = new double[length];
                double max = double.NegativeInfinity;
                for (int j = 0; j < length; j++)
                {
                    if (padding is not null && padding[b * stride + j] != 0) { s[j] = double.NegativeInfinity; continue; }
                    double dot = 0;
                    for (int e = 0; e < dk; e++) dot += q[(b * heads + h) * dk + e] * k[(b * stride + j) * kvHeads * dk + g * dk + e];
                    s[j] = dot * scale + (bias is null ? 0 : bias[(h * (bias.Length / (heads * stride)) + row) * stride + j]);
                    max = Math.Max(max, s[j]);
                }
                if (double.IsNegativeInfinity(max)) continue;
                double sum = 0;
                for (int j = 0; j < length; j++) sum += s[j] = Math.Exp(s[j] - max);
                for (int j = 0; j < length; j++)
                    for (int e = 0; e < dv; e++) o[(b * heads + h) * dv + e] += s[j] / sum * v[(b * stride + j) * kvHeads * dv + g * dv + e];
            }
        return o;
    }

    [Theory]
    [InlineData(2, 4, 2, 8, 6, 5, 7, false, false)]
    [InlineData(1, 2, 2, 4, 4, 1, 3, false, true)]
    [InlineData(3, 4, 1, 6, 5, 9, 9, true, false)]
    [InlineData(2, 2, 1, 4, 3, 6, 8, false, true)]
    public void Attend_MatchesTheDoubleReference(int batch, int heads, int kvHeads, int dk, int dv, int length, int stride, bool padded, bool biased)
    {
        var q = Rng.Floats(batch * heads * dk, 1);
        var k = Rng.Floats(batch * stride * kvHeads * dk, 2);
        var v = Rng.Floats(batch * stride * kvHeads * dv, 3);
        float[]? padding = null;
        if (padded)
        {
            padding = new float[batch * stride];
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < stride; j++) padding[b * stride + j] = j >= stride - b * 3 || (b == 2) ? 1f : 0f;
        }
        // A score bias of the whole sequence (heads, stride, stride), read at the query's row (the last position attended).
        float[]? bias = biased ? Rng.Floats(heads * stride * stride, 4) : null;
        int row = length - 1;
        var o = new float[batch * heads * dv];
        Array.Fill(o, 7f);
        CachedAttention.Attend(o, q, k, v, padding, bias, row, length, stride, batch, heads, kvHeads, dk, dv, 0.37f);
        Approx.Equal(Reference(Rng.ToDouble(q), Rng.ToDouble(k), Rng.ToDouble(v), padding, bias, row, length, stride, batch, heads, kvHeads, dk, dv, 0.37f), o, 1e-6, 1e-5, "o");
        if (bias is not null)
            Assert.Throws<ArgumentOutOfRangeException>(() => CachedAttention.Attend(o, q, k, v, padding, bias, stride, length, stride, batch, heads, kvHeads, dk, dv, 0.37f));
    }

    [Fact]
    public void Append_WritesTheRowOfThePosition_AndRefusesOnePastTheEnd()
    {
        int batch = 2, max = 4, kw = 3, vw = 2;
        var kc = new float[batch * max * kw];
        var vc = new float[batch * max * vw];
        CachedAttention.Append(kc, vc, new float[] { 1, 2, 3, 4, 5, 6 }, new float[] { 7, 8, 9, 10 }, 2, batch, max, kw, vw);
        Assert.Equal(new float[] { 1, 2, 3 }, kc[6..9]);
        Assert.Equal(new float[] { 4, 5, 6 }, kc[18..21]);
        Assert.Equal(new float[] { 9, 10 }, vc[12..14]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CachedAttention.Append(kc, vc, new float[6], new float[4], 4, batch, max, kw, vw));
        Assert.Contains("past the 4 tokens", e.Message);
    }
}
