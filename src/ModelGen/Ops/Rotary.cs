using System;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Rotary position embeddings (RoPE; Su et al., RoFormer): each head's features, in pairs (2i, 2i+1), are rotated by the angle
/// p·θ_i with p the token's position and θ_i = base^(−2i/d) (d the head width), so the dot product of a query at p and a key
/// at p′ depends on p − p′ alone. y[2i] = x[2i]·cos − x[2i+1]·sin, y[2i+1] = x[2i]·sin + x[2i+1]·cos: the interleaved layout
/// of RoFormer and torchtune's <c>RotaryPositionalEmbeddings</c>. x (B, tokens, heads·d) -> y. Backward applies the inverse
/// rotation and accumulates: dx[2i] += dy[2i]·cos + dy[2i+1]·sin, dx[2i+1] += dy[2i+1]·cos − dy[2i]·sin.
/// </summary>
public static class Rotary
{
    /// <summary>cos and sin of p·θ_i for every position and pair: table[2·(p·d/2 + i)] = cos, the next = sin (computed in double).</summary>
    public static float[] Table(int tokens, int headDim, double theta)
    {
        if (headDim % 2 != 0) throw new ArgumentException($"Rotary positions rotate feature pairs: the head width must be even, not {headDim}.", nameof(headDim));
        if (!(theta > 1)) throw new ArgumentOutOfRangeException(nameof(theta), theta, "The rotary base must be greater than 1.");
        int pairs = headDim / 2;
        var table = new float[2 * tokens * pairs];
        for (int p = 0; p < tokens; p++)
            for (int i = 0; i < pairs; i++)
            {
                double angle = p * Math.Pow(theta, -2.0 * i / headDim);
                table[2 * (p * pairs + i)] = (float)Math.Cos(angle);
                table[2 * (p * pairs + i) + 1] = (float)Math.Sin(angle);
            }
        return table;
    }

    public static void Forward(float[] y, float[] x, float[] table, int batch, int tokens, int heads, int headDim) =>
        Rows(batch * tokens, tokens, heads, headDim, (row, p) => Rotate(y, x, table, row, p, heads, headDim, inverse: false));

    public static void Backward(float[] dx, float[] dy, float[] table, int batch, int tokens, int heads, int headDim) =>
        Rows(batch * tokens, tokens, heads, headDim, (row, p) => Rotate(dx, dy, table, row, p, heads, headDim, inverse: true));

    /// <summary>One position of each sample (a decoding step): y (batch, heads·headDim) = R(position)·x.</summary>
    public static void ForwardAt(float[] y, float[] x, float[] table, int position, int batch, int heads, int headDim)
    {
        for (int b = 0; b < batch; b++) Rotate(y, x, table, b, position, heads, headDim, inverse: false);
    }

    /// <summary>Every (sample, token) row, on all cores when there are many.</summary>
    static void Rows(int rows, int tokens, int heads, int headDim, Action<int, int> body)
    {
        long work = (long)rows * heads * headDim;
        if (work <= Chunks.Size)
        {
            for (int r = 0; r < rows; r++) body(r, r % tokens);
            return;
        }
        int perChunk = Math.Max(1, (int)(Chunks.Size / Math.Max(1, heads * headDim)));
        Workers.For((rows + perChunk - 1) / perChunk, c =>
        {
            int end = Math.Min(rows, (c + 1) * perChunk);
            for (int r = c * perChunk; r < end; r++) body(r, r % tokens);
        });
    }

    /// <summary>One row: forward writes y = R·x; inverse accumulates dx += Rᵀ·dy.</summary>
    static void Rotate(float[] dst, float[] src, float[] table, int row, int position, int heads, int headDim, bool inverse)
    {
        int pairs = headDim / 2, width = heads * headDim;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < pairs; i++)
            {
                int e = row * width + h * headDim + 2 * i, angle = 2 * (position * pairs + i);
                Pair(src[e], src[e + 1], table[angle], table[angle + 1], inverse, out float u, out float v);
                if (inverse)
                {
                    dst[e] += u;
                    dst[e + 1] += v;
                }
                else
                {
                    dst[e] = u;
                    dst[e + 1] = v;
                }
            }
    }

    /// <summary>(a, b) rotated by the angle whose cosine and sine are (c, s), or by its negative for the backward.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Pair(float a, float b, float c, float s, bool inverse, out float u, out float v)
    {
        if (inverse) s = -s;
        u = a * c - b * s;
        v = a * s + b * c;
    }

    /// <summary>Extent: batch · tokens · heads · headDim / 2, a thread per feature pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> table, int batch, int tokens, int heads, int headDim) =>
        PairKernel(i, y, x, table, batch, tokens, heads, headDim, inverse: false);

    /// <summary>Extent: batch · tokens · heads · headDim / 2, a thread per feature pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> table, int batch, int tokens, int heads, int headDim) =>
        PairKernel(i, dx, dy, table, batch, tokens, heads, headDim, inverse: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PairKernel(Index1D i, ArrayView<float> dst, ArrayView<float> src, ArrayView<float> table, int batch, int tokens, int heads, int headDim,
        bool inverse)
    {
        int pairs = headDim / 2;
        if (i >= (long)batch * tokens * heads * pairs) return;
        int p = i / (heads * pairs) % tokens, angle = 2 * (p * pairs + i % pairs);
        long e = 2L * i;
        Pair(src[e], src[e + 1], table[angle], table[angle + 1], inverse, out float u, out float v);
        if (inverse)
        {
            dst[e] += u;
            dst[e + 1] += v;
        }
        else
        {
            dst[e] = u;
            dst[e + 1] = v;
        }
    }
}
