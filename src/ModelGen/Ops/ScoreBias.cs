using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// One score bias from a position bias and an attention mask input, for attention that has both: y (B, H, Nq, Nk) is the
/// position bias a (read at b·aBatch + h·Nq·Nk + p: aBatch 0 for a constant such as ALiBi's) plus the mask m (B, mHeads, Nq, Nk),
/// mHeads 1 (shared by the heads) or H; a boolean mask instead sets −∞ where it is nonzero. Backward accumulates da += dy when
/// the position bias is learned (per sample, so a has y's layout); the mask gets no gradient.
/// </summary>
public static class ScoreBias
{
    public static void Forward(float[] y, float[] a, float[] m, int batch, int heads, int nq, int nk, int aBatch, int maskHeads, bool boolean)
    {
        int scores = nq * nk;
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads;
            var dst = y.AsSpan(bh * scores, scores);
            var pos = a.AsSpan(b * aBatch + h * scores, scores);
            var mask = m.AsSpan((b * maskHeads + (maskHeads == 1 ? 0 : h)) * scores, scores);
            for (int p = 0; p < scores; p++) dst[p] = Combine(pos[p], mask[p], boolean);
        });
    }

    public static void Backward(float[]? da, float[] dy, int batch, int heads, int nq, int nk)
    {
        if (da is null) return;
        int n = batch * heads * nq * nk;
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            var x = da.AsSpan(start, end - start);
            TensorPrimitives.Add(x, dy.AsSpan(start, end - start), x);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Combine(float position, float mask, bool boolean) =>
        boolean ? (mask != 0f ? float.NegativeInfinity : position) : position + mask;

    /// <summary>Extent: batch·heads·nq·nk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> a, ArrayView<float> m, int batch, int heads, int nq, int nk,
        int aBatch, int maskHeads, bool boolean)
    {
        long scores = (long)nq * nk;
        if (i >= batch * heads * scores) return;
        long p = i % scores, bh = i / scores;
        long b = bh / heads, h = bh % heads;
        y[i] = Combine(a[b * aBatch + h * scores + p], m[(b * maskHeads + (maskHeads == 1 ? 0 : h)) * scores + p], boolean);
    }

    /// <summary>Extent: batch·heads·nq·nk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> da, ArrayView<float> dy, int batch, int heads, int nq, int nk)
    {
        if (i >= (long)batch * heads * nq * nk) return;
        da[i] += dy[i];
    }
}
