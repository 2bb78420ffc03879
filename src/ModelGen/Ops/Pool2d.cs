using System;
using ModelGen.Cpu;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Windowed pooling as PyTorch's AvgPool2d and MaxPool2d with a square kernel K, stride S and no padding (floor mode):
/// avg: y[b, c, oy, ox] = (1/K²)·Σ_{ky, kx} x[b, c, oy·S + ky, ox·S + kx]; max: the largest of those K² values (a NaN wins, as in PyTorch).
/// x (batch, C, H, W) -> y (batch, C, Ho, Wo), Ho = (H − K)/S + 1, Wo = (W − K)/S + 1.
/// Backward accumulates: avg spreads dy/K² over each window; max gives dy to the first maximum of its window in row-major window
/// order (as PyTorch), found again from x, so nothing but x needs keeping.
/// </summary>
public static class Pool2d
{
    public static int OutputSize(int size, int kernel, int stride) => (size - kernel) / stride + 1;

    public static void AvgForward(float[] y, float[] x, int batch, int channels, int height, int width, int kernel, int stride)
    {
        int ho = Out(height, kernel, stride), wo = Out(width, kernel, stride);
        float inv = 1f / (kernel * kernel);
        ForPlanes(batch * channels, height * width, (start, end) =>
        {
            for (int p = start; p < end; p++)
            {
                int xo = p * height * width, yo = p * ho * wo;
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        float s = 0f;
                        for (int ky = 0; ky < kernel; ky++)
                        {
                            int r = xo + (oy * stride + ky) * width + ox * stride;
                            for (int kx = 0; kx < kernel; kx++) s += x[r + kx];
                        }
                        y[yo + oy * wo + ox] = s * inv;
                    }
            }
        });
    }

    public static void AvgBackward(float[] dx, float[] dy, int batch, int channels, int height, int width, int kernel, int stride)
    {
        int ho = Out(height, kernel, stride), wo = Out(width, kernel, stride);
        float inv = 1f / (kernel * kernel);
        // Each plane of dx has one writer, so overlapping windows (S < K) add up without races.
        ForPlanes(batch * channels, height * width, (start, end) =>
        {
            for (int p = start; p < end; p++)
            {
                int xo = p * height * width, yo = p * ho * wo;
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        float g = dy[yo + oy * wo + ox] * inv;
                        for (int ky = 0; ky < kernel; ky++)
                        {
                            int r = xo + (oy * stride + ky) * width + ox * stride;
                            for (int kx = 0; kx < kernel; kx++) dx[r + kx] += g;
                        }
                    }
            }
        });
    }

    public static void MaxForward(float[] y, float[] x, int batch, int channels, int height, int width, int kernel, int stride)
    {
        int ho = Out(height, kernel, stride), wo = Out(width, kernel, stride);
        ForPlanes(batch * channels, height * width, (start, end) =>
        {
            for (int p = start; p < end; p++)
            {
                int xo = p * height * width, yo = p * ho * wo;
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                        y[yo + oy * wo + ox] = x[ArgMax(x, xo + oy * stride * width + ox * stride, width, kernel)];
            }
        });
    }

    public static void MaxBackward(float[] dx, float[] dy, float[] x, int batch, int channels, int height, int width, int kernel, int stride)
    {
        int ho = Out(height, kernel, stride), wo = Out(width, kernel, stride);
        ForPlanes(batch * channels, height * width, (start, end) =>
        {
            for (int p = start; p < end; p++)
            {
                int xo = p * height * width, yo = p * ho * wo;
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                        dx[ArgMax(x, xo + oy * stride * width + ox * stride, width, kernel)] += dy[yo + oy * wo + ox];
            }
        });
    }

    static int Out(int size, int kernel, int stride)
    {
        if (kernel < 1 || stride < 1 || size < kernel)
            throw new ArgumentOutOfRangeException(nameof(kernel), $"Pool2d: kernel {kernel}, stride {stride} does not fit a size of {size}");
        return OutputSize(size, kernel, stride);
    }

    static void ForPlanes(int planes, int planeSize, Action<int, int> body)
    {
        int per = Math.Max(1, Chunks.Size / Math.Max(1, planeSize));
        int chunks = (planes + per - 1) / per;
        if (chunks <= 1) { body(0, planes); return; }
        Workers.For(chunks, ch => body(ch * per, Math.Min(planes, (ch + 1) * per)));
    }

    /// <summary>Index of the first maximum of the K×K window whose top-left element is x[corner], in row-major window order.</summary>
    static int ArgMax(float[] x, int corner, int width, int kernel)
    {
        int best = corner;
        float bv = x[corner];
        for (int ky = 0; ky < kernel; ky++)
        {
            int r = corner + ky * width;
            for (int kx = 0; kx < kernel; kx++)
            {
                float v = x[r + kx];
                if (Replaces(v, bv)) { bv = v; best = r + kx; }
            }
        }
        return best;
    }

    /// <summary>v becomes the running maximum when it is larger, or is the first NaN (NaN propagates, as in PyTorch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Replaces(float v, float best) => v > best || (float.IsNaN(v) && !float.IsNaN(best));

    /// <summary>Extent: batch * C * Ho * Wo (one thread per output element).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AvgForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width, int kernel, int stride)
    {
        int ho = (height - kernel) / stride + 1, wo = (width - kernel) / stride + 1;
        if (i >= batch * channels * ho * wo) return;
        int idx = i;
        int ox = idx % wo, t = idx / wo, oy = t % ho, p = t / ho;
        int corner = (p * height + oy * stride) * width + ox * stride;
        float s = 0f;
        for (int ky = 0; ky < kernel; ky++)
            for (int kx = 0; kx < kernel; kx++) s += x[corner + ky * width + kx];
        y[i] = s / (kernel * kernel);
    }

    /// <summary>Extent: batch * C * H * W (one thread per input element gathers every window that covers it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AvgBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width, int kernel, int stride)
    {
        if (i >= batch * channels * height * width) return;
        int ho = (height - kernel) / stride + 1, wo = (width - kernel) / stride + 1;
        int idx = i;
        int ix = idx % width, t = idx / width, iy = t % height, p = t / height;
        float s = 0f;
        for (int ky = 0; ky < kernel; ky++)
        {
            int ty = iy - ky;
            if (ty < 0 || ty % stride != 0 || ty / stride >= ho) continue;
            for (int kx = 0; kx < kernel; kx++)
            {
                int tx = ix - kx;
                if (tx < 0 || tx % stride != 0 || tx / stride >= wo) continue;
                s += dy[(p * ho + ty / stride) * wo + tx / stride];
            }
        }
        dx[i] += s / (kernel * kernel);
    }

    /// <summary>Extent: batch * C * Ho * Wo (one thread per output element).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MaxForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width, int kernel, int stride)
    {
        int ho = (height - kernel) / stride + 1, wo = (width - kernel) / stride + 1;
        if (i >= batch * channels * ho * wo) return;
        int idx = i;
        int ox = idx % wo, t = idx / wo, oy = t % ho, p = t / ho;
        y[i] = x[WindowArgMax(x, (p * height + oy * stride) * width + ox * stride, width, kernel)];
    }

    /// <summary>
    /// Extent: batch * C * H * W (one thread per input element). Gathers dy from every window covering the element whose first
    /// maximum it is, recomputing each window's maximum from x: no atomics, and the order of the additions is fixed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MaxBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int batch, int channels, int height, int width, int kernel, int stride)
    {
        if (i >= batch * channels * height * width) return;
        int ho = (height - kernel) / stride + 1, wo = (width - kernel) / stride + 1;
        int idx = i;
        int ix = idx % width, t = idx / width, iy = t % height, p = t / height;
        float s = 0f;
        bool hit = false;
        for (int ky = 0; ky < kernel; ky++)
        {
            int ty = iy - ky;
            if (ty < 0 || ty % stride != 0 || ty / stride >= ho) continue;
            for (int kx = 0; kx < kernel; kx++)
            {
                int tx = ix - kx;
                if (tx < 0 || tx % stride != 0 || tx / stride >= wo) continue;
                int oy = ty / stride, ox = tx / stride;
                if (WindowArgMax(x, (p * height + oy * stride) * width + ox * stride, width, kernel) == idx)
                {
                    s += dy[(p * ho + oy) * wo + ox];
                    hit = true;
                }
            }
        }
        if (hit) dx[i] += s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int WindowArgMax(ArrayView<float> x, int corner, int width, int kernel)
    {
        int best = corner;
        float bv = x[corner];
        for (int ky = 0; ky < kernel; ky++)
            for (int kx = 0; kx < kernel; kx++)
            {
                int k = corner + ky * width + kx;
                float v = x[k];
                if (Replaces(v, bv)) { bv = v; best = k; }
            }
        return best;
    }
}
