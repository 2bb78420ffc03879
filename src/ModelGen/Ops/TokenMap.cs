using System;
using ModelGen.Cpu;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Reshapes between token sequences and NCHW feature maps (SETR's decoder input, and back).
/// ToMap: tokens (batch, skip + height·width, channels) -> map (batch, channels, height, width),
/// map[b, c, h, w] = tokens[b, skip + h·width + w, c]; the first <c>skip</c> tokens (a class token, registers) are dropped.
/// ToTokens: map (batch, channels, height, width) -> tokens (batch, height·width, channels), the inverse with skip = 0.
/// Both are a transpose of each batch item's (height·width × channels) matrix. Backward accumulates; the skipped tokens
/// get no gradient from this op (their dtokens rows are left as they were).
/// </summary>
public static class TokenMap
{
    const int Tile = 32;

    public static void ToMapForward(float[] map, float[] tokens, int batch, int skip, int channels, int height, int width)
    {
        int pixels = height * width;
        // Source per item: (pixels × channels) rows starting after the skipped tokens; destination (channels × pixels).
        Transpose(map, tokens, batch, pixels, channels, (skip + pixels) * channels, skip * channels, channels * pixels, accumulate: false);
    }

    public static void ToMapBackward(float[] dtokens, float[] dmap, int batch, int skip, int channels, int height, int width)
    {
        int pixels = height * width;
        TransposeInto(dtokens, dmap, batch, channels, pixels, channels * pixels, (skip + pixels) * channels, skip * channels);
    }

    public static void ToTokensForward(float[] tokens, float[] map, int batch, int channels, int height, int width)
    {
        int pixels = height * width;
        Transpose(tokens, map, batch, channels, pixels, channels * pixels, 0, pixels * channels, accumulate: false);
    }

    public static void ToTokensBackward(float[] dmap, float[] dtokens, int batch, int channels, int height, int width)
    {
        int pixels = height * width;
        Transpose(dmap, dtokens, batch, pixels, channels, pixels * channels, 0, channels * pixels, accumulate: true);
    }

    /// <summary>dst[b] (cols × rows, packed) (+)= src[b]ᵀ, src[b] being (rows × cols) at srcOffset + b·srcBatch.</summary>
    static void Transpose(float[] dst, float[] src, int batch, int rows, int cols, int srcBatch, int srcOffset, int dstBatch, bool accumulate)
    {
        int rowTiles = (rows + Tile - 1) / Tile;
        int tasks = batch * rowTiles;
        long work = (long)batch * rows * cols;
        void Run(int t)
        {
            int b = t / rowTiles, r0 = t % rowTiles * Tile, r1 = Math.Min(rows, r0 + Tile);
            int s = srcOffset + b * srcBatch, d = b * dstBatch;
            for (int c0 = 0; c0 < cols; c0 += Tile)
            {
                int c1 = Math.Min(cols, c0 + Tile);
                for (int c = c0; c < c1; c++)
                {
                    int dr = d + c * rows;
                    if (accumulate) for (int r = r0; r < r1; r++) dst[dr + r] += src[s + r * cols + c];
                    else for (int r = r0; r < r1; r++) dst[dr + r] = src[s + r * cols + c];
                }
            }
        }
        if (work < Chunks.Size || tasks == 1) { for (int t = 0; t < tasks; t++) Run(t); return; }
        Workers.For(tasks, Run);
    }

    /// <summary>dst[b] (rows × cols at dstOffset + b·dstBatch) += src[b]ᵀ, src[b] being (cols × rows, packed).</summary>
    static void TransposeInto(float[] dst, float[] src, int batch, int cols, int rows, int srcBatch, int dstBatch, int dstOffset)
    {
        // Tiles over destination rows so each task owns its slice of dst.
        int rowTiles = (rows + Tile - 1) / Tile;
        int tasks = batch * rowTiles;
        long work = (long)batch * rows * cols;
        void Run(int t)
        {
            int b = t / rowTiles, r0 = t % rowTiles * Tile, r1 = Math.Min(rows, r0 + Tile);
            int s = b * srcBatch, d = dstOffset + b * dstBatch;
            for (int c0 = 0; c0 < cols; c0 += Tile)
            {
                int c1 = Math.Min(cols, c0 + Tile);
                for (int r = r0; r < r1; r++)
                {
                    int dr = d + r * cols;
                    for (int c = c0; c < c1; c++) dst[dr + c] += src[s + c * rows + r];
                }
            }
        }
        if (work < Chunks.Size || tasks == 1) { for (int t = 0; t < tasks; t++) Run(t); return; }
        Workers.For(tasks, Run);
    }

    /// <summary>Extent: batch·channels·height·width (one map element each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToMapForwardKernel(Index1D i, ArrayView<float> map, ArrayView<float> tokens, int batch, int skip, int channels, int height, int width)
    {
        int pixels = height * width;
        if (i >= batch * channels * pixels) return;
        int idx = i;
        int p = idx % pixels;
        int rest = idx / pixels;
        int c = rest % channels;
        int b = rest / channels;
        map[i] = tokens[(b * (skip + pixels) + skip + p) * channels + c];
    }

    /// <summary>Extent: batch·height·width·channels (one gradient element of a non-skipped token each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToMapBackwardKernel(Index1D i, ArrayView<float> dtokens, ArrayView<float> dmap, int batch, int skip, int channels, int height, int width)
    {
        int pixels = height * width;
        if (i >= batch * pixels * channels) return;
        int idx = i;
        int c = idx % channels;
        int rest = idx / channels;
        int p = rest % pixels;
        int b = rest / pixels;
        dtokens[(b * (skip + pixels) + skip + p) * channels + c] += dmap[(b * channels + c) * pixels + p];
    }

    /// <summary>Extent: batch·height·width·channels (one token element each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToTokensForwardKernel(Index1D i, ArrayView<float> tokens, ArrayView<float> map, int batch, int channels, int height, int width)
    {
        int pixels = height * width;
        if (i >= batch * pixels * channels) return;
        int idx = i;
        int c = idx % channels;
        int rest = idx / channels;
        int p = rest % pixels;
        int b = rest / pixels;
        tokens[i] = map[(b * channels + c) * pixels + p];
    }

    /// <summary>Extent: batch·channels·height·width (one map gradient element each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToTokensBackwardKernel(Index1D i, ArrayView<float> dmap, ArrayView<float> dtokens, int batch, int channels, int height, int width)
    {
        int pixels = height * width;
        if (i >= batch * channels * pixels) return;
        int idx = i;
        int p = idx % pixels;
        int rest = idx / pixels;
        int c = rest % channels;
        int b = rest / channels;
        dmap[i] += dtokens[(b * pixels + p) * channels + c];
    }
}
