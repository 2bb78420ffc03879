using System;
using ModelGen.Cpu;
using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Whole-axis reductions of x (batch, C, H, W), as the attention blocks use them:
/// global average / max over (H, W) -> (batch, C, 1, 1) (SE, CBAM's channel attention; PyTorch's adaptive pools to 1×1);
/// channel mean / max over C -> (batch, 1, H, W) (CBAM's spatial maps, x.mean(1) and x.max(1));
/// mean over W -> (batch, C, H, 1) and mean over H -> (batch, C, 1, W) (coordinate attention's pools).
/// A max takes the first maximum in index order and propagates NaN, as PyTorch.
/// Backward accumulates: a mean spreads dy/n over the n values it averaged; a max gives dy to the element it took, found
/// again from x.
/// </summary>
public static class SpatialPool
{
    public static void GlobalAvgForward(float[] y, float[] x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        ForRows(batch * channels, plane, p => y[p] = TensorPrimitives.Sum(x.AsSpan(p * plane, plane)) / plane);
    }

    public static void GlobalAvgBackward(float[] dx, float[] dy, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        ForRows(batch * channels, plane, p =>
        {
            var d = dx.AsSpan(p * plane, plane);
            TensorPrimitives.Add(d, dy[p] / plane, d);
        });
    }

    public static void GlobalMaxForward(float[] y, float[] x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        ForRows(batch * channels, plane, p => y[p] = x[p * plane + FirstMax(x.AsSpan(p * plane, plane))]);
    }

    public static void GlobalMaxBackward(float[] dx, float[] dy, float[] x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        ForRows(batch * channels, plane, p => dx[p * plane + FirstMax(x.AsSpan(p * plane, plane))] += dy[p]);
    }

    public static void ChannelMeanForward(float[] y, float[] x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        float inv = 1f / channels;
        ForRows(batch, channels * plane, b =>
        {
            var row = y.AsSpan(b * plane, plane);
            x.AsSpan(b * channels * plane, plane).CopyTo(row);
            for (int c = 1; c < channels; c++) TensorPrimitives.Add(row, x.AsSpan((b * channels + c) * plane, plane), row);
            TensorPrimitives.Multiply(row, inv, row);
        });
    }

    public static void ChannelMeanBackward(float[] dx, float[] dy, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        float inv = 1f / channels;
        ForRows(batch * channels, plane, bc =>
        {
            var d = dx.AsSpan(bc * plane, plane);
            TensorPrimitives.MultiplyAdd(dy.AsSpan(bc / channels * plane, plane), inv, d, d);
        });
    }

    public static void ChannelMaxForward(float[] y, float[] x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        ForRows(batch, channels * plane, b =>
        {
            var best = y.AsSpan(b * plane, plane);
            x.AsSpan(b * channels * plane, plane).CopyTo(best);
            for (int c = 1; c < channels; c++)
            {
                var xc = x.AsSpan((b * channels + c) * plane, plane);
                for (int p = 0; p < plane; p++) if (Pool2d.Replaces(xc[p], best[p])) best[p] = xc[p];
            }
        });
    }

    public static void ChannelMaxBackward(float[] dx, float[] dy, float[] x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        ForRows(batch, channels * plane, b =>
        {
            // The running maximum and the channel holding it, channel by channel, so x streams in plane order.
            float[] best = ArrayPool<float>.Shared.Rent(plane);
            int[] which = ArrayPool<int>.Shared.Rent(plane);
            try
            {
                x.AsSpan(b * channels * plane, plane).CopyTo(best);
                Array.Clear(which, 0, plane);
                for (int c = 1; c < channels; c++)
                {
                    int o = (b * channels + c) * plane;
                    for (int p = 0; p < plane; p++)
                        if (Pool2d.Replaces(x[o + p], best[p])) { best[p] = x[o + p]; which[p] = c; }
                }
                for (int p = 0; p < plane; p++) dx[(b * channels + which[p]) * plane + p] += dy[b * plane + p];
            }
            finally
            {
                ArrayPool<float>.Shared.Return(best);
                ArrayPool<int>.Shared.Return(which);
            }
        });
    }

    /// <summary>y (batch, C, H, 1): the mean of each row.</summary>
    public static void MeanOverWidthForward(float[] y, float[] x, int batch, int channels, int height, int width)
    {
        ForRows(batch * channels * height, width, r => y[r] = TensorPrimitives.Sum(x.AsSpan(r * width, width)) / width);
    }

    public static void MeanOverWidthBackward(float[] dx, float[] dy, int batch, int channels, int height, int width)
    {
        ForRows(batch * channels * height, width, r =>
        {
            var d = dx.AsSpan(r * width, width);
            TensorPrimitives.Add(d, dy[r] / width, d);
        });
    }

    /// <summary>y (batch, C, 1, W): the mean of each column.</summary>
    public static void MeanOverHeightForward(float[] y, float[] x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        float inv = 1f / height;
        ForRows(batch * channels, plane, p =>
        {
            var row = y.AsSpan(p * width, width);
            x.AsSpan(p * plane, width).CopyTo(row);
            for (int h = 1; h < height; h++) TensorPrimitives.Add(row, x.AsSpan(p * plane + h * width, width), row);
            TensorPrimitives.Multiply(row, inv, row);
        });
    }

    public static void MeanOverHeightBackward(float[] dx, float[] dy, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        float inv = 1f / height;
        ForRows(batch * channels, plane, p =>
        {
            var g = dy.AsSpan(p * width, width);
            for (int h = 0; h < height; h++)
            {
                var d = dx.AsSpan(p * plane + h * width, width);
                TensorPrimitives.MultiplyAdd(g, inv, d, d);
            }
        });
    }

    /// <summary>Runs body(row) for every row, in chunks of rows big enough to be worth a thread.</summary>
    static void ForRows(int rows, int rowSize, Action<int> body)
    {
        int per = Math.Max(1, Chunks.Size / Math.Max(1, rowSize));
        int chunks = (rows + per - 1) / per;
        if (chunks <= 1)
        {
            for (int r = 0; r < rows; r++) body(r);
            return;
        }
        Workers.For(chunks, ch =>
        {
            int end = Math.Min(rows, (ch + 1) * per);
            for (int r = ch * per; r < end; r++) body(r);
        });
    }

    static int FirstMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (Pool2d.Replaces(x[i], x[best])) best = i;
        return best;
    }

    // The global reductions run a warp per plane (lanes stride the plane, meeting in a fixed butterfly); the other kernels
    // reduce short runs (channels, one row or column) and keep a thread per output.

    public static KernelConfig GlobalAvgForwardKernelConfig(int batch, int channels) => PlaneConfig(batch * channels);

    public static KernelConfig GlobalMaxForwardKernelConfig(int batch, int channels) => PlaneConfig(batch * channels);

    public static KernelConfig GlobalMaxBackwardKernelConfig(int batch, int channels) => PlaneConfig(batch * channels);

    static KernelConfig PlaneConfig(int planes) =>
        new(new Index3D((planes + LayerNorm.RowsPerGroup - 1) / LayerNorm.RowsPerGroup, 1, 1), new Index3D(32 * LayerNorm.RowsPerGroup, 1, 1));

    /// <summary>A warp per plane: y[b, c] = the mean of x[b, c].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GlobalAvgForwardKernel(ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        int bc = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx, plane = height * width;
        if (bc >= batch * channels) return;
        long o = (long)bc * plane;
        float s = 0f;
        for (int p = Warp.LaneIdx; p < plane; p += 32) s += x[o + p];
        s = WarpReduce.Sum(s);
        if (Warp.LaneIdx == 0) y[bc] = s / plane;
    }

    /// <summary>Extent: batch * C * H * W.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GlobalAvgBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        if (i >= batch * channels * plane) return;
        dx[i] += dy[i / plane] / plane;
    }

    /// <summary>A warp per plane: y[b, c] = the maximum of x[b, c] (NaN propagates).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GlobalMaxForwardKernel(ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        int bc = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx;
        if (bc >= batch * channels) return;
        int best = PlaneArgMax(x, bc, height * width);
        if (Warp.LaneIdx == 0) y[bc] = x[best];
    }

    /// <summary>A warp per plane finds its first maximum and adds dy there: one writer per plane, no atomics.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GlobalMaxBackwardKernel(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        int bc = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx;
        if (bc >= batch * channels) return;
        int best = PlaneArgMax(x, bc, height * width);
        if (Warp.LaneIdx == 0) dx[best] += dy[bc];
    }

    /// <summary>The index of plane bc's first maximum (the first NaN if any), as the CPU's <see cref="FirstMax"/> picks it: each
    /// lane scans every 32nd value, then the lanes agree by a butterfly that keeps the larger value, or on a tie the lower index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int PlaneArgMax(ArrayView<float> x, int bc, int plane)
    {
        int start = bc * plane, lane = Warp.LaneIdx;
        float bv = float.NegativeInfinity;
        int bi = int.MaxValue;
        for (int p = lane; p < plane; p += 32)
        {
            float v = x[start + p];
            if (bi == int.MaxValue || Pool2d.Replaces(v, bv)) { bv = v; bi = start + p; }
        }
        for (int mask = 16; mask > 0; mask /= 2)
        {
            float ov = Warp.ShuffleXor(bv, mask);
            int oi = Warp.ShuffleXor(bi, mask);
            bool other = oi != int.MaxValue && (bi == int.MaxValue || Pool2d.Replaces(ov, bv) || (!Pool2d.Replaces(bv, ov) && oi < bi));
            if (other) { bv = ov; bi = oi; }
        }
        return bi;
    }

    /// <summary>Extent: batch * H * W (one thread per output pixel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ChannelMeanForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        if (i >= batch * plane) return;
        int b = i / plane, p = i - b * plane;
        float s = 0f;
        for (int c = 0; c < channels; c++) s += x[(b * channels + c) * plane + p];
        y[i] = s / channels;
    }

    /// <summary>Extent: batch * C * H * W.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ChannelMeanBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        if (i >= batch * channels * plane) return;
        int p = i % plane, b = i / (channels * plane);
        dx[i] += dy[b * plane + p] / channels;
    }

    /// <summary>Extent: batch * H * W (one thread per output pixel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ChannelMaxForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        if (i >= batch * plane) return;
        int b = i / plane, p = i - b * plane;
        y[i] = x[StridedArgMax(x, b * channels * plane + p, plane, channels)];
    }

    /// <summary>Extent: batch * H * W (one thread per pixel adds dy to the channel holding its first maximum: one writer each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ChannelMaxBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        if (i >= batch * plane) return;
        int b = i / plane, p = i - b * plane;
        dx[StridedArgMax(x, b * channels * plane + p, plane, channels)] += dy[i];
    }

    /// <summary>Extent: batch * C * H (one thread per row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MeanOverWidthForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        if (i >= batch * channels * height) return;
        long o = (long)(int)i * width;
        float s = 0f;
        for (int k = 0; k < width; k++) s += x[o + k];
        y[i] = s / width;
    }

    /// <summary>Extent: batch * C * H * W.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MeanOverWidthBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width)
    {
        if (i >= batch * channels * height * width) return;
        dx[i] += dy[i / width] / width;
    }

    /// <summary>Extent: batch * C * W (one thread per column).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MeanOverHeightForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width)
    {
        if (i >= batch * channels * width) return;
        int p = i / width, col = i - p * width;
        float s = 0f;
        for (int h = 0; h < height; h++) s += x[(p * height + h) * width + col];
        y[i] = s / height;
    }

    /// <summary>Extent: batch * C * H * W.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MeanOverHeightBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width)
    {
        if (i >= batch * channels * height * width) return;
        int col = i % width, p = i / (height * width);
        dx[i] += dy[p * width + col] / height;
    }

    /// <summary>Index of the first maximum of x[start + k·step], k = 0 … count − 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int StridedArgMax(ArrayView<float> x, int start, int step, int count)
    {
        int best = start;
        float bv = x[start];
        for (int k = 1; k < count; k++)
        {
            int j = start + k * step;
            float v = x[j];
            if (Pool2d.Replaces(v, bv)) { bv = v; best = j; }
        }
        return best;
    }
}
