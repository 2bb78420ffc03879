using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Spatial resizing of NCHW maps, as torch.nn.functional.interpolate. x (batch, channels, height, width) -> y (batch, channels, outHeight, outWidth).
/// Nearest with an integer scale s (outHeight = s·height, outWidth = s·width): y[h, w] = x[h / s, w / s].
/// Bilinear with align_corners=False and any output size: per axis, with scale = in / out (float, as PyTorch computes it),
/// src = max((dst + 0.5)·scale − 0.5, 0), i0 = ⌊src⌋, i1 = min(i0 + 1, in − 1), λ = src − i0;
/// y[oh, ow] = (1 − λh)·((1 − λw)·x[h0, w0] + λw·x[h0, w1]) + λh·((1 − λw)·x[h1, w0] + λw·x[h1, w1]).
/// Backward accumulates dx += (the transpose of the forward) dy; every input pixel gathers the output pixels it fed,
/// so the kernels need no atomics.
/// </summary>
public static class Upsample
{
    // ---------------- nearest ----------------

    public static void NearestForward(float[] y, float[] x, int batch, int channels, int height, int width, int scale)
    {
        int outWidth = width * scale, inPlane = height * width, outPlane = inPlane * scale * scale;
        ForPlanes(batch * channels, outPlane, (start, end) =>
        {
            for (int p = start; p < end; p++)
            {
                int xBase = p * inPlane, yBase = p * outPlane;
                for (int h = 0; h < height; h++)
                {
                    var row = y.AsSpan(yBase + h * scale * outWidth, outWidth);
                    int xRow = xBase + h * width;
                    for (int w = 0; w < width; w++) row.Slice(w * scale, scale).Fill(x[xRow + w]);
                    for (int r = 1; r < scale; r++) row.CopyTo(y.AsSpan(yBase + (h * scale + r) * outWidth, outWidth));
                }
            }
        });
    }

    public static void NearestBackward(float[] dx, float[] dy, int batch, int channels, int height, int width, int scale)
    {
        int outWidth = width * scale, inPlane = height * width, outPlane = inPlane * scale * scale;
        ForPlanes(batch * channels, outPlane, (start, end) =>
        {
            var rowSum = new float[outWidth];
            for (int p = start; p < end; p++)
            {
                int xBase = p * inPlane, yBase = p * outPlane;
                for (int h = 0; h < height; h++)
                {
                    // Sum the s output rows first (vectorised), then each run of s columns.
                    var sum = rowSum.AsSpan();
                    dy.AsSpan(yBase + h * scale * outWidth, outWidth).CopyTo(sum);
                    for (int r = 1; r < scale; r++) TensorPrimitives.Add(sum, dy.AsSpan(yBase + (h * scale + r) * outWidth, outWidth), sum);
                    int xRow = xBase + h * width;
                    for (int w = 0; w < width; w++) dx[xRow + w] += TensorPrimitives.Sum(sum.Slice(w * scale, scale));
                }
            }
        });
    }

    /// <summary>Extent: batch·channels·(height·scale)·(width·scale) (one output pixel each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NearestForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width, int scale)
    {
        int outHeight = height * scale, outWidth = width * scale;
        if (i >= batch * channels * outHeight * outWidth) return;
        int idx = i;
        int ow = idx % outWidth;
        int rest = idx / outWidth;
        int oh = rest % outHeight;
        int p = rest / outHeight;
        y[i] = x[(p * height + oh / scale) * width + ow / scale];
    }

    /// <summary>Extent: batch·channels·height·width (one input pixel each, summing its scale×scale block of dy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NearestBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width, int scale)
    {
        if (i >= batch * channels * height * width) return;
        int idx = i;
        int w = idx % width;
        int rest = idx / width;
        int h = rest % height;
        int p = rest / height;
        int outWidth = width * scale;
        int yBase = (p * height * scale + h * scale) * outWidth + w * scale;
        float sum = 0f;
        for (int r = 0; r < scale; r++)
            for (int c = 0; c < scale; c++) sum += dy[yBase + r * outWidth + c];
        dx[i] += sum;
    }

    // ---------------- bilinear (align_corners=False) ----------------

    /// <summary>PyTorch's source coordinate of output index <paramref name="dst"/> on an axis resized from inSize to outSize.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SourceIndex(int dst, int inSize, int outSize, out int i0, out int i1, out float lambda1)
    {
        float scale = (float)inSize / outSize;
        float src = scale * (dst + 0.5f) - 0.5f;
        if (src < 0f) src = 0f;
        i0 = (int)src;
        if (i0 > inSize - 1) i0 = inSize - 1;
        i1 = i0 < inSize - 1 ? i0 + 1 : i0;
        lambda1 = src - i0;
        if (lambda1 > 1f) lambda1 = 1f;
    }

    /// <summary>Per output index along one axis: the two source indices and their weights.</summary>
    readonly struct Axis
    {
        public readonly int[] I0, I1;
        public readonly float[] L0, L1;

        public Axis(int inSize, int outSize)
        {
            I0 = new int[outSize];
            I1 = new int[outSize];
            L0 = new float[outSize];
            L1 = new float[outSize];
            for (int d = 0; d < outSize; d++)
            {
                SourceIndex(d, inSize, outSize, out I0[d], out I1[d], out float l1);
                L1[d] = l1;
                L0[d] = 1f - l1;
            }
        }
    }

    public static void BilinearForward(float[] y, float[] x, int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        var ah = new Axis(height, outHeight);
        var aw = new Axis(width, outWidth);
        int inPlane = height * width, outPlane = outHeight * outWidth;
        ForPlanes(batch * channels, outPlane, (start, end) =>
        {
            for (int p = start; p < end; p++)
            {
                int xBase = p * inPlane, yBase = p * outPlane;
                for (int oh = 0; oh < outHeight; oh++)
                {
                    int r0 = xBase + ah.I0[oh] * width, r1 = xBase + ah.I1[oh] * width;
                    float h0 = ah.L0[oh], h1 = ah.L1[oh];
                    int yRow = yBase + oh * outWidth;
                    for (int ow = 0; ow < outWidth; ow++)
                    {
                        int w0 = aw.I0[ow], w1 = aw.I1[ow];
                        float l0 = aw.L0[ow], l1 = aw.L1[ow];
                        y[yRow + ow] = h0 * (l0 * x[r0 + w0] + l1 * x[r0 + w1]) + h1 * (l0 * x[r1 + w0] + l1 * x[r1 + w1]);
                    }
                }
            }
        });
    }

    public static void BilinearBackward(float[] dx, float[] dy, int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        var ah = new Axis(height, outHeight);
        var aw = new Axis(width, outWidth);
        int inPlane = height * width, outPlane = outHeight * outWidth;
        ForPlanes(batch * channels, Math.Max(outPlane, inPlane), (start, end) =>
        {
            // Separable: first resize each dy row back to width (tmp, outHeight × width), then the rows into dx.
            // Planes are private to a task, so scattering within a plane is race-free and deterministic.
            var tmp = new float[outHeight * width];
            for (int p = start; p < end; p++)
            {
                int xBase = p * inPlane, yBase = p * outPlane;
                Array.Clear(tmp);
                for (int oh = 0; oh < outHeight; oh++)
                {
                    int yRow = yBase + oh * outWidth, tRow = oh * width;
                    for (int ow = 0; ow < outWidth; ow++)
                    {
                        float g = dy[yRow + ow];
                        tmp[tRow + aw.I0[ow]] += aw.L0[ow] * g;
                        tmp[tRow + aw.I1[ow]] += aw.L1[ow] * g;
                    }
                }
                for (int oh = 0; oh < outHeight; oh++)
                {
                    var src = new ReadOnlySpan<float>(tmp, oh * width, width);
                    var d0 = dx.AsSpan(xBase + ah.I0[oh] * width, width);
                    TensorPrimitives.FusedMultiplyAdd(src, ah.L0[oh], d0, d0);
                    var d1 = dx.AsSpan(xBase + ah.I1[oh] * width, width);
                    TensorPrimitives.FusedMultiplyAdd(src, ah.L1[oh], d1, d1);
                }
            }
        });
    }

    /// <summary>Extent: batch·channels·outHeight·outWidth (one output pixel each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BilinearForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width,
        int outHeight, int outWidth)
    {
        if (i >= batch * channels * outHeight * outWidth) return;
        int idx = i;
        int ow = idx % outWidth;
        int rest = idx / outWidth;
        int oh = rest % outHeight;
        int p = rest / outHeight;
        SourceIndex(oh, height, outHeight, out int h0, out int h1, out float lh);
        SourceIndex(ow, width, outWidth, out int w0, out int w1, out float lw);
        float l0 = 1f - lw;
        int r0 = (p * height + h0) * width, r1 = (p * height + h1) * width;
        y[i] = (1f - lh) * (l0 * x[r0 + w0] + lw * x[r0 + w1]) + lh * (l0 * x[r1 + w0] + lw * x[r1 + w1]);
    }

    /// <summary>
    /// Extent: batch·channels·height·width (one input pixel each). The output rows (columns) that read input row h
    /// (column w) form one contiguous run, found from the inverse of the source-index map and walked until past it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BilinearBackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width,
        int outHeight, int outWidth)
    {
        if (i >= batch * channels * height * width) return;
        int idx = i;
        int w = idx % width;
        int rest = idx / width;
        int h = rest % height;
        int p = rest / height;
        int ohStart = FirstReader(h, height, outHeight), owStart = FirstReader(w, width, outWidth);
        int yPlane = p * outHeight * outWidth;
        float sum = 0f;
        for (int oh = ohStart; oh < outHeight; oh++)
        {
            SourceIndex(oh, height, outHeight, out int h0, out int h1, out float lh);
            if (h0 > h) break;
            float wh = (h0 == h ? 1f - lh : 0f) + (h1 == h ? lh : 0f);
            if (wh == 0f) continue;
            float row = 0f;
            for (int ow = owStart; ow < outWidth; ow++)
            {
                SourceIndex(ow, width, outWidth, out int w0, out int w1, out float lw);
                if (w0 > w) break;
                float ww = (w0 == w ? 1f - lw : 0f) + (w1 == w ? lw : 0f);
                row += ww * dy[yPlane + oh * outWidth + ow];
            }
            sum += wh * row;
        }
        dx[i] += sum;
    }

    /// <summary>
    /// An output index at or before the first one whose source pair reaches input index <paramref name="index"/>:
    /// that needs i0 ≥ index − 1, i.e. (dst + 0.5)·in/out − 0.5 ≥ index − 1; one step earlier covers float rounding.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int FirstReader(int index, int inSize, int outSize)
    {
        int d = (int)((index - 0.5f) * outSize / inSize - 0.5f) - 1;
        return d < 0 ? 0 : d;
    }

    /// <summary>Runs body over [start, end) ranges of planes, each range about <see cref="Chunks.Size"/> elements of work.</summary>
    static void ForPlanes(int planes, int perPlane, Action<int, int> body)
    {
        int per = Math.Max(1, Chunks.Size / Math.Max(1, perPlane));
        int chunks = (planes + per - 1) / per;
        if (chunks <= 1) { body(0, planes); return; }
        Workers.For(chunks, c => body(c * per, Math.Min(planes, (c + 1) * per)));
    }
}
