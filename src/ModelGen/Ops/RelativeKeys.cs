using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Relative position representations of keys (Shaw et al.): a learned table (T, d) of one vector a_t per clipped distance
/// t = clip(j − i, −k, k) + k (T = 2k + 1, <see cref="RelativeBias.ClippedIndex"/>), shared by the heads, so that a score becomes
/// q_i·(k_j + a_ij)/√d: the score bias y[b, h, i, j] = scale·q[b, i, h]·table[index[i·N + j]]. Forward computes the N×T products
/// q·tableᵀ of a (sample, head) as one block product and gathers them; backward scatters dy into those products' gradient dE
/// (B, H, N, T), then dq += scale·dE·table and dtable += scale·Σ dEᵀ·q.
/// </summary>
public static class RelativeKeys
{
    [ThreadStatic] static float[]? t_products;

    /// <summary>y (B, H, N, N) from q (B, N, H·d), a task per (sample, head).</summary>
    public static void Forward(float[] y, float[] q, float[] table, float[] index, int batch, int tokens, int heads, int headDim, int buckets, float scale)
    {
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads;
            var e = ThreadScratch.AtLeast(ref t_products, tokens * buckets);
            Gemm.MultiplySerial(false, true, tokens, buckets, headDim, q, b * tokens * heads * headDim + h * headDim, heads * headDim, table, 0, headDim,
                e, 0, buckets, accumulate: false);
            for (int i = 0; i < tokens; i++)
            {
                var row = y.AsSpan((bh * tokens + i) * tokens, tokens);
                for (int j = 0; j < tokens; j++) row[j] = scale * e[i * buckets + BitConverter.SingleToInt32Bits(index[i * tokens + j])];
            }
        });
    }

    /// <summary>dq and dtable accumulate (+=): dE a task per (sample, head) with dq beside it, then dtable one product per
    /// (sample, head) in order (no atomics).</summary>
    public static void Backward(float[] dq, float[] dTable, float[] dy, float[] q, float[] table, float[] index, int batch, int tokens, int heads, int headDim,
        int buckets, float scale)
    {
        var dE = new float[batch * heads * tokens * buckets];
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads;
            var d = dE.AsSpan(bh * tokens * buckets, tokens * buckets);
            for (int i = 0; i < tokens; i++)
            {
                var row = dy.AsSpan((bh * tokens + i) * tokens, tokens);
                for (int j = 0; j < tokens; j++) d[i * buckets + BitConverter.SingleToInt32Bits(index[i * tokens + j])] += scale * row[j];
            }
            Gemm.MultiplySerial(false, false, tokens, headDim, buckets, dE, bh * tokens * buckets, buckets, table, 0, headDim,
                dq, b * tokens * heads * headDim + h * headDim, heads * headDim, accumulate: true);
        });
        for (int bh = 0; bh < batch * heads; bh++)
        {
            int b = bh / heads, h = bh % heads;
            Gemm.Multiply(true, false, buckets, headDim, tokens, dE, bh * tokens * buckets, buckets, q, b * tokens * heads * headDim + h * headDim, heads * headDim,
                dTable, 0, headDim, accumulate: true);
        }
    }

    /// <summary>Extent: batch·heads·tokens·tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> q, ArrayView<float> table, ArrayView<float> index, int batch, int tokens,
        int heads, int headDim, int buckets, float scale)
    {
        long scores = (long)tokens * tokens;
        if (i >= batch * heads * scores) return;
        long p = i % scores;
        int h = (int)(i / scores % heads), b = (int)(i / (scores * heads)), row = (int)(p / tokens);
        long qo = ((long)b * tokens + row) * heads * headDim + (long)h * headDim, to = (long)(int)Interop.FloatAsInt(index[p]) * headDim;
        float sum = 0f;
        for (int e = 0; e < headDim; e++) sum += q[qo + e] * table[to + e];
        y[i] = scale * sum;
    }

    /// <summary>Extent: batch·tokens·heads·headDim. dq[b, i, h, e] += scale·Σ_j dy[b, h, i, j]·table[index[i, j], e].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardQueryKernel(Index1D i, ArrayView<float> dq, ArrayView<float> dy, ArrayView<float> table, ArrayView<float> index, int batch,
        int tokens, int heads, int headDim, int buckets, float scale)
    {
        if (i >= (long)batch * tokens * heads * headDim) return;
        int e = (int)(i % headDim), h = (int)(i / headDim % heads);
        long bn = i / ((long)headDim * heads);
        int row = (int)(bn % tokens), b = (int)(bn / tokens);
        long d = (((long)b * heads + h) * tokens + row) * tokens, x = (long)row * tokens;
        float sum = 0f;
        for (int j = 0; j < tokens; j++) sum += dy[d + j] * table[(long)(int)Interop.FloatAsInt(index[x + j]) * headDim + e];
        dq[i] += scale * sum;
    }

    /// <summary>Extent: buckets·headDim, a thread per table entry summing, in order, over the samples, heads and the positions of
    /// its bucket (<see cref="RelativeBias.Positions"/>): dtable[t, e] += scale·Σ dy[b, h, i, j]·q[b, i, h, e].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardTableKernel(Index1D i, ArrayView<float> dTable, ArrayView<float> dy, ArrayView<float> q, ArrayView<float> positions, int batch,
        int tokens, int heads, int headDim, int buckets, float scale)
    {
        if (i >= buckets * headDim) return;
        int t = i / headDim, e = i % headDim;
        int start = (int)Interop.FloatAsInt(positions[t]), end = (int)Interop.FloatAsInt(positions[t + 1]);
        long scores = (long)tokens * tokens;
        float sum = 0f;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int p = start; p < end; p++)
                {
                    int position = (int)Interop.FloatAsInt(positions[buckets + 1 + p]), row = position / tokens;
                    sum += dy[((long)b * heads + h) * scores + position] * q[((long)b * tokens + row) * heads * headDim + (long)h * headDim + e];
                }
        dTable[i] += scale * sum;
    }
}
