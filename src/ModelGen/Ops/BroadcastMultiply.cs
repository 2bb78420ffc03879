using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Gating by a broadcast multiplier, y = x ⊙ g. x (batch, channels, height, width), g (gateBatch, gateChannels, gateHeight, gateWidth)
/// where each gate dim equals x's or is 1 (PyTorch broadcasting) -> y (batch, channels, height, width).
/// Covers squeeze-and-excitation (B, C, 1, 1), CBAM's spatial gate (B, 1, H, W), coordinate attention (B, C, H, 1) and (B, C, 1, W),
/// per-channel scales (1, C, 1, 1), and the plain element-wise product of equal shapes (any layout, e.g. (1, 1, 1, n)).
/// Backward accumulates dx += dy ⊙ g and dg += Σ over the broadcast axes of dy ⊙ x.
/// </summary>
public static class BroadcastMultiply
{
    public static void Forward(float[] y, float[] x, float[] g, int batch, int channels, int height, int width,
        int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        CheckGate(batch, channels, height, width, gateBatch, gateChannels, gateHeight, gateWidth);
        int n = batch * channels * height * width;
        if (gateBatch == batch && gateChannels == channels && gateHeight == height && gateWidth == width)
        {
            ForChunks(n, (start, end) => TensorPrimitives.Multiply(new ReadOnlySpan<float>(x, start, end - start),
                new ReadOnlySpan<float>(g, start, end - start), new Span<float>(y, start, end - start)));
            return;
        }
        ForRows(batch * channels * height, width, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                int gi = GateRow(r, channels, height, gateBatch, gateChannels, gateHeight) * gateWidth;
                var xr = new ReadOnlySpan<float>(x, r * width, width);
                var yr = new Span<float>(y, r * width, width);
                if (gateWidth == width) TensorPrimitives.Multiply(xr, new ReadOnlySpan<float>(g, gi, width), yr);
                else TensorPrimitives.Multiply(xr, g[gi], yr);
            }
        });
    }

    public static void Backward(float[] dx, float[] dg, float[] dy, float[] x, float[] g, int batch, int channels, int height, int width,
        int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        CheckGate(batch, channels, height, width, gateBatch, gateChannels, gateHeight, gateWidth);
        int n = batch * channels * height * width;
        if (gateBatch == batch && gateChannels == channels && gateHeight == height && gateWidth == width)
        {
            ForChunks(n, (start, end) =>
            {
                int len = end - start;
                var d = new ReadOnlySpan<float>(dy, start, len);
                var a = new Span<float>(dx, start, len);
                TensorPrimitives.FusedMultiplyAdd(d, new ReadOnlySpan<float>(g, start, len), a, a);
                var b = new Span<float>(dg, start, len);
                TensorPrimitives.FusedMultiplyAdd(d, new ReadOnlySpan<float>(x, start, len), b, b);
            });
            return;
        }
        ForRows(batch * channels * height, width, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                int gi = GateRow(r, channels, height, gateBatch, gateChannels, gateHeight) * gateWidth;
                var dyr = new ReadOnlySpan<float>(dy, r * width, width);
                var dxr = new Span<float>(dx, r * width, width);
                if (gateWidth == width) TensorPrimitives.FusedMultiplyAdd(dyr, new ReadOnlySpan<float>(g, gi, width), dxr, dxr);
                else TensorPrimitives.FusedMultiplyAdd(dyr, g[gi], dxr, dxr);
            }
        });
        GateGradient(dg, dy, x, batch, channels, height, width, gateBatch, gateChannels, gateHeight, gateWidth);
    }

    /// <summary>
    /// Each task owns a block of gate rows (one (gate batch, gate channel) pair and a range of gate rows), sums its
    /// contributions privately in a fixed order and adds them once: no races, same result on every run.
    /// </summary>
    static void GateGradient(float[] dg, float[] dy, float[] x, int batch, int channels, int height, int width,
        int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        int pairs = gateBatch * gateChannels;
        int blocks = gateHeight == 1 ? 1 : Math.Clamp(4 * Environment.ProcessorCount / pairs, 1, gateHeight);
        int rowsPer = (gateHeight + blocks - 1) / blocks;
        blocks = (gateHeight + rowsPer - 1) / rowsPer;
        int bCount = gateBatch == 1 ? batch : 1, cCount = gateChannels == 1 ? channels : 1;
        void Run(int t)
        {
            int pair = t / blocks, gh0 = t % blocks * rowsPer, gh1 = Math.Min(gateHeight, gh0 + rowsPer);
            int gb = pair / gateChannels, gc = pair % gateChannels;
            var acc = new float[(gh1 - gh0) * gateWidth];
            for (int bi = 0; bi < bCount; bi++)
            {
                int b = gateBatch == 1 ? bi : gb;
                for (int ci = 0; ci < cCount; ci++)
                {
                    int c = gateChannels == 1 ? ci : gc;
                    int plane = (b * channels + c) * height;
                    for (int gh = gh0; gh < gh1; gh++)
                    {
                        // A gate row of height 1 collects every row of the plane.
                        int h0 = gateHeight == 1 ? 0 : gh, h1 = gateHeight == 1 ? height : gh + 1;
                        var accRow = acc.AsSpan((gh - gh0) * gateWidth, gateWidth);
                        for (int h = h0; h < h1; h++)
                        {
                            var dyr = new ReadOnlySpan<float>(dy, (plane + h) * width, width);
                            var xr = new ReadOnlySpan<float>(x, (plane + h) * width, width);
                            if (gateWidth == width) TensorPrimitives.FusedMultiplyAdd(dyr, xr, accRow, accRow);
                            else accRow[0] += TensorPrimitives.Dot(dyr, xr);
                        }
                    }
                }
            }
            var dst = dg.AsSpan(((gb * gateChannels + gc) * gateHeight + gh0) * gateWidth, acc.Length);
            TensorPrimitives.Add(dst, acc, dst);
        }
        int tasks = pairs * blocks;
        if (tasks == 1 || (long)batch * channels * height * width < Chunks.Size) { for (int t = 0; t < tasks; t++) Run(t); return; }
        Workers.For(tasks, Run);
    }

    /// <summary>The gate row (index into g in units of gateWidth) that x's row r = (b·channels + c)·height + h reads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int GateRow(int r, int channels, int height, int gateBatch, int gateChannels, int gateHeight)
    {
        int h = r % height, bc = r / height;
        int c = bc % channels, b = bc / channels;
        return ((gateBatch == 1 ? 0 : b) * gateChannels + (gateChannels == 1 ? 0 : c)) * gateHeight + (gateHeight == 1 ? 0 : h);
    }

    static void CheckGate(int batch, int channels, int height, int width, int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        if ((gateBatch != batch && gateBatch != 1) || (gateChannels != channels && gateChannels != 1)
            || (gateHeight != height && gateHeight != 1) || (gateWidth != width && gateWidth != 1))
            throw new ArgumentException(
                $"gate ({gateBatch}, {gateChannels}, {gateHeight}, {gateWidth}) does not broadcast to ({batch}, {channels}, {height}, {width}): each gate dim must equal x's or be 1");
    }

    static void ForChunks(int n, Action<int, int> body)
    {
        if (n <= Chunks.Size) { body(0, n); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            body(start, end);
        });
    }

    static void ForRows(int rows, int width, Action<int, int> body)
    {
        int per = Math.Max(1, Chunks.Size / Math.Max(1, width));
        int chunks = (rows + per - 1) / per;
        if (chunks <= 1) { body(0, rows); return; }
        Workers.For(chunks, c => body(c * per, Math.Min(rows, (c + 1) * per)));
    }

    /// <summary>Flat index into g of x's element (b, c, h, w).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GateIndex(int b, int c, int h, int w, int gateBatch, int gateChannels, int gateHeight, int gateWidth) =>
        (((gateBatch == 1 ? 0 : b) * gateChannels + (gateChannels == 1 ? 0 : c)) * gateHeight + (gateHeight == 1 ? 0 : h)) * gateWidth
        + (gateWidth == 1 ? 0 : w);

    /// <summary>Extent: batch·channels·height·width (one output element each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> g, int batch, int channels, int height, int width,
        int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        if (i >= batch * channels * height * width) return;
        int idx = i;
        int w = idx % width;
        int rest = idx / width;
        int h = rest % height;
        rest /= height;
        int c = rest % channels;
        int b = rest / channels;
        y[i] = x[i] * g[GateIndex(b, c, h, w, gateBatch, gateChannels, gateHeight, gateWidth)];
    }

    /// <summary>Extent: batch·channels·height·width (one dx element each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> g, int batch, int channels, int height, int width,
        int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        if (i >= batch * channels * height * width) return;
        int idx = i;
        int w = idx % width;
        int rest = idx / width;
        int h = rest % height;
        rest /= height;
        int c = rest % channels;
        int b = rest / channels;
        dx[i] += dy[i] * g[GateIndex(b, c, h, w, gateBatch, gateChannels, gateHeight, gateWidth)];
    }

    /// <summary>Extent: gateBatch·gateChannels·gateHeight·gateWidth (one dg element each, summing over the broadcast axes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardGateKernel(Index1D i, ArrayView<float> dg, ArrayView<float> dy, ArrayView<float> x, int batch, int channels, int height, int width,
        int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        if (i >= gateBatch * gateChannels * gateHeight * gateWidth) return;
        int idx = i;
        int gw = idx % gateWidth;
        int rest = idx / gateWidth;
        int gh = rest % gateHeight;
        rest /= gateHeight;
        int gc = rest % gateChannels;
        int gb = rest / gateChannels;
        int b0 = gateBatch == 1 ? 0 : gb, b1 = gateBatch == 1 ? batch : gb + 1;
        int c0 = gateChannels == 1 ? 0 : gc, c1 = gateChannels == 1 ? channels : gc + 1;
        int h0 = gateHeight == 1 ? 0 : gh, h1 = gateHeight == 1 ? height : gh + 1;
        int w0 = gateWidth == 1 ? 0 : gw, w1 = gateWidth == 1 ? width : gw + 1;
        float sum = 0f;
        for (int b = b0; b < b1; b++)
            for (int c = c0; c < c1; c++)
                for (int h = h0; h < h1; h++)
                {
                    int row = ((b * channels + c) * height + h) * width;
                    for (int w = w0; w < w1; w++) sum += dy[row + w] * x[row + w];
                }
        dg[i] += sum;
    }

    public static KernelConfig BackwardGateReduceKernelConfig(int gateBatch, int gateChannels, int gateHeight, int gateWidth) =>
        new(new Index3D((gateBatch * gateChannels * gateHeight * gateWidth + LayerNorm.RowsPerGroup - 1) / LayerNorm.RowsPerGroup, 1, 1),
            new Index3D(32 * LayerNorm.RowsPerGroup, 1, 1));

    /// <summary>
    /// The gate gradient where each gate value gathers many products (a per-channel gate sums a plane, a per-position one the
    /// channels): a warp per gate element, its lanes striding over the broadcast axes and meeting in a fixed butterfly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardGateReduceKernel(ArrayView<float> dg, ArrayView<float> dy, ArrayView<float> x, int batch, int channels, int height,
        int width, int gateBatch, int gateChannels, int gateHeight, int gateWidth)
    {
        int i = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx;
        if (i >= gateBatch * gateChannels * gateHeight * gateWidth) return;
        int gw = i % gateWidth, rest = i / gateWidth;
        int gh = rest % gateHeight;
        rest /= gateHeight;
        int gc = rest % gateChannels, gb = rest / gateChannels;
        // The broadcast axes' extents (the others are fixed at the gate element's index).
        int nb = gateBatch == 1 ? batch : 1, nc = gateChannels == 1 ? channels : 1, nh = gateHeight == 1 ? height : 1, nw = gateWidth == 1 ? width : 1;
        int count = nb * nc * nh * nw;
        float sum = 0f;
        for (int e = Warp.LaneIdx; e < count; e += 32)
        {
            int w = e % nw, r = e / nw;
            int h = r % nh;
            r /= nh;
            int c = r % nc, b = r / nc;
            if (nw == 1) w = gw;
            if (nh == 1) h = gh;
            if (nc == 1) c = gc;
            if (nb == 1) b = gb;
            long at = ((long)(b * channels + c) * height + h) * width + w;
            sum += dy[at] * x[at];
        }
        sum = WarpReduce.Sum(sum);
        if (Warp.LaneIdx == 0) dg[i] += sum;
    }
}
