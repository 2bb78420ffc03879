using System;
using System.Numerics.Tensors;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Attention for incremental decoding, one query position per sample: the position's keys and values go into caches of
/// constant size (batch, max tokens, kv heads · head width) and the query attends to every cached position so far, which is
/// causal self-attention evaluated one row at a time; the same read over a fixed memory (its projected keys and values,
/// computed once) is cross-attention. Each row is exp(s − max) / Σ over its keys, as the full forward's softmax.
/// </summary>
public static class CachedAttention
{
    [ThreadStatic] static float[]? t_scores;

    /// <summary>Copies k (batch, keyWidth) and v (batch, valueWidth) into row <paramref name="position"/> of the caches.</summary>
    public static void Append(float[] keyCache, float[] valueCache, float[] k, float[] v, int position, int batch, int maxTokens, int keyWidth, int valueWidth)
    {
        if ((uint)position >= (uint)maxTokens)
            throw new ArgumentOutOfRangeException(nameof(position), position, $"Position {position} is past the {maxTokens} tokens the model was declared with.");
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(k, b * keyWidth, keyCache, (b * maxTokens + position) * keyWidth, keyWidth);
            Array.Copy(v, b * valueWidth, valueCache, (b * maxTokens + position) * valueWidth, valueWidth);
        }
    }

    /// <summary>o (batch, heads·headDimV) = softmax(q·kᵀ·scale) v over the first <paramref name="length"/> rows of keys and values
    /// laid out (batch, <paramref name="stride"/>, kvHeads·width); a key whose <paramref name="padding"/> (batch, stride) entry is
    /// nonzero gets weight 0. q is (batch, heads·headDimK); query head h reads key/value head h / (heads / kvHeads). A score bias
    /// (heads, rows, stride) of the full sequence (ALiBi's, a learned relative bias) adds its row <paramref name="row"/>, the query's
    /// position, to the scaled scores.</summary>
    public static void Attend(float[] o, float[] q, float[] keys, float[] values, float[]? padding, float[]? bias, int row, int length, int stride, int batch,
        int heads, int kvHeads, int headDimK, int headDimV, float scale)
    {
        if (length < 1 || length > stride)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Attention over {length} keys of {stride}: there must be 1 to {stride}.");
        int group = heads / kvHeads, keyWidth = kvHeads * headDimK, valueWidth = kvHeads * headDimV;
        int rows = bias is null ? 0 : bias.Length / (heads * stride);
        if (bias is not null && (uint)row >= (uint)rows)
            throw new ArgumentOutOfRangeException(nameof(row), row, $"The score bias holds {rows} query rows; row {row} is past them.");
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads, g = h / group;
            var s = ThreadScratch.AtLeast(ref t_scores, length).AsSpan(0, length);
            var qr = q.AsSpan((b * heads + h) * headDimK, headDimK);
            float max = float.NegativeInfinity;
            for (int j = 0; j < length; j++)
            {
                bool masked = padding is not null && padding[b * stride + j] != 0f;
                s[j] = masked ? float.NegativeInfinity : TensorPrimitives.Dot(qr, keys.AsSpan((b * stride + j) * keyWidth + g * headDimK, headDimK)) * scale
                    + (bias is null ? 0f : bias[((long)h * rows + row) * stride + j]);
                max = MathF.Max(max, s[j]);
            }
            var or = o.AsSpan((b * heads + h) * headDimV, headDimV);
            or.Clear();
            // Every key padded: the row attends to nothing (zeros), as the full forward's fully masked row.
            if (float.IsNegativeInfinity(max)) return;
            TensorPrimitives.Subtract(s, max, s);
            TensorPrimitives.Exp(s, s);
            float sum = TensorPrimitives.Sum(s);
            for (int j = 0; j < length; j++)
                TensorPrimitives.MultiplyAdd(values.AsSpan((b * stride + j) * valueWidth + g * headDimV, headDimV), s[j] / sum, or, or);
        });
    }
}
