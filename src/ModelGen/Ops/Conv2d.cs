using System;
using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// 2-D convolution as PyTorch's Conv2d (a cross-correlation) with a square kernel K, stride S and zero padding P:
/// y[b, o, oy, ox] = bias[o] + Σ_{c, ky, kx} weight[o, c, ky, kx]·x[b, c, oy·S − P + ky, ox·S − P + kx], x outside the image = 0.
/// x (batch, Cin, H, W), weight (Cout, Cin, K, K), bias (Cout) or none -> y (batch, Cout, Ho, Wo),
/// Ho = (H + 2P − K)/S + 1, Wo = (W + 2P − K)/S + 1.
/// CPU: a block of output rows is unfolded (im2col) into pooled scratch cols (Cin·K·K, rows·Wo) and multiplied by one GEMM,
/// y_b = weight (Cout, Cin·K·K) · cols; a 1×1 kernel with stride 1 and no padding multiplies x itself. Images are spread over
/// threads when there are at least as many as cores, otherwise each GEMM is.
/// Backward accumulates: dx += col2im(weightᵀ·dy) (skipped when dx is null, as for a network's input), dweight += dy·colsᵀ,
/// dbias += Σ_{b, oy, ox} dy.
/// </summary>
public static class Conv2d
{
    // Floats of unfolded input per block (8 MB): bounds scratch for big images while keeping each GEMM wide.
    const int ColumnBudget = 1 << 21;
    // Below this many multiply-adds a thread hand-off costs more than it saves.
    const long ParallelThreshold = 1L << 21;

    public static int OutputSize(int size, int kernel, int stride, int padding) => (size + 2 * padding - kernel) / stride + 1;

    public static void Forward(float[] y, float[] x, float[] weight, float[]? bias, int batch, int inChannels, int height, int width,
        int outChannels, int kernel, int stride, int padding)
    {
        var g = new Geometry(batch, inChannels, height, width, outChannels, kernel, stride, padding);
        g.Check(x, nameof(x), g.InputSize);
        g.Check(y, nameof(y), g.OutputSizeTotal);
        g.Check(weight, nameof(weight), g.WeightSize);
        if (bias != null) g.Check(bias, nameof(bias), outChannels);
        int parts = g.Parts();
        if (parts == 1)
        {
            for (int b = 0; b < batch; b++) ForwardImage(g, y, x, weight, bias, b, parallel: true);
            return;
        }
        Workers.For(parts, p =>
        {
            var (start, end) = g.Images(p, parts);
            for (int b = start; b < end; b++) ForwardImage(g, y, x, weight, bias, b, parallel: false);
        });
    }

    public static void Backward(float[]? dx, float[] dweight, float[]? dbias, float[] dy, float[] x, float[] weight, int batch, int inChannels,
        int height, int width, int outChannels, int kernel, int stride, int padding)
    {
        var g = new Geometry(batch, inChannels, height, width, outChannels, kernel, stride, padding);
        g.Check(x, nameof(x), g.InputSize);
        g.Check(dy, nameof(dy), g.OutputSizeTotal);
        g.Check(weight, nameof(weight), g.WeightSize);
        g.Check(dweight, nameof(dweight), g.WeightSize);
        if (dx != null) g.Check(dx, nameof(dx), g.InputSize);
        if (dbias != null) g.Check(dbias, nameof(dbias), outChannels);
        int parts = g.Parts();
        if (parts == 1)
        {
            for (int b = 0; b < batch; b++) BackwardImage(g, dx, dweight, 0, dbias, 0, dy, x, weight, b, parallel: true);
            return;
        }
        // Part 0 accumulates straight into dweight/dbias, the others into private partial sums that are then added in
        // a fixed order: no races, and the result does not depend on scheduling.
        int partial = g.WeightSize + outChannels;
        float[] scratch = ArrayPool<float>.Shared.Rent(partial * (parts - 1));
        try
        {
            Array.Clear(scratch, 0, partial * (parts - 1));
            Workers.For(parts, p =>
            {
                var (start, end) = g.Images(p, parts);
                float[] dw = p == 0 ? dweight : scratch;
                float[]? db = dbias == null ? null : p == 0 ? dbias : scratch;
                int dwOffset = p == 0 ? 0 : partial * (p - 1), dbOffset = p == 0 ? 0 : partial * (p - 1) + g.WeightSize;
                for (int b = start; b < end; b++) BackwardImage(g, dx, dw, dwOffset, db, dbOffset, dy, x, weight, b, parallel: false);
            });
            var dwAll = dweight.AsSpan(0, g.WeightSize);
            for (int p = 1; p < parts; p++)
            {
                TensorPrimitives.Add(dwAll, scratch.AsSpan(partial * (p - 1), g.WeightSize), dwAll);
                if (dbias != null)
                {
                    var dbAll = dbias.AsSpan(0, outChannels);
                    TensorPrimitives.Add(dbAll, scratch.AsSpan(partial * (p - 1) + g.WeightSize, outChannels), dbAll);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    static void ForwardImage(in Geometry g, float[] y, float[] x, float[] weight, float[]? bias, int b, bool parallel)
    {
        int pixels = g.Pixels;
        int xOffset = b * g.InChannels * g.Height * g.Width, yOffset = b * g.OutChannels * pixels;
        if (bias != null)
            for (int o = 0; o < g.OutChannels; o++) y.AsSpan(yOffset + o * pixels, pixels).Fill(bias[o]);
        bool accumulate = bias != null;
        if (g.Direct)
        {
            Multiply(parallel, false, false, g.OutChannels, pixels, g.InChannels, weight, 0, g.InChannels, x, xOffset, pixels, y, yOffset, pixels, accumulate);
            return;
        }
        float[] cols = ArrayPool<float>.Shared.Rent(g.Rows * g.BlockRows * g.OutWidth);
        try
        {
            for (int oy0 = 0; oy0 < g.OutHeight; oy0 += g.BlockRows)
            {
                int oy1 = Math.Min(g.OutHeight, oy0 + g.BlockRows), n = (oy1 - oy0) * g.OutWidth;
                Im2col(g, cols, x, xOffset, oy0, oy1, parallel);
                Multiply(parallel, false, false, g.OutChannels, n, g.Rows, weight, 0, g.Rows, cols, 0, n, y, yOffset + oy0 * g.OutWidth, pixels, accumulate);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(cols);
        }
    }

    static void BackwardImage(in Geometry g, float[]? dx, float[] dweight, int dwOffset, float[]? dbias, int dbOffset, float[] dy, float[] x,
        float[] weight, int b, bool parallel)
    {
        int pixels = g.Pixels;
        int xOffset = b * g.InChannels * g.Height * g.Width, yOffset = b * g.OutChannels * pixels;
        if (dbias != null)
            for (int o = 0; o < g.OutChannels; o++) dbias[dbOffset + o] += TensorPrimitives.Sum(dy.AsSpan(yOffset + o * pixels, pixels));
        if (g.Direct)
        {
            Multiply(parallel, false, true, g.OutChannels, g.InChannels, pixels, dy, yOffset, pixels, x, xOffset, pixels, dweight, dwOffset, g.InChannels, true);
            if (dx != null)
                Multiply(parallel, true, false, g.InChannels, pixels, g.OutChannels, weight, 0, g.InChannels, dy, yOffset, pixels, dx, xOffset, pixels, true);
            return;
        }
        int blockSize = g.Rows * g.BlockRows * g.OutWidth;
        float[] cols = ArrayPool<float>.Shared.Rent(blockSize);
        float[]? dcols = dx == null ? null : ArrayPool<float>.Shared.Rent(blockSize);
        try
        {
            for (int oy0 = 0; oy0 < g.OutHeight; oy0 += g.BlockRows)
            {
                int oy1 = Math.Min(g.OutHeight, oy0 + g.BlockRows), n = (oy1 - oy0) * g.OutWidth;
                int dyOffset = yOffset + oy0 * g.OutWidth;
                Im2col(g, cols, x, xOffset, oy0, oy1, parallel);
                Multiply(parallel, false, true, g.OutChannels, g.Rows, n, dy, dyOffset, pixels, cols, 0, n, dweight, dwOffset, g.Rows, true);
                if (dx == null) continue;
                Multiply(parallel, true, false, g.Rows, n, g.OutChannels, weight, 0, g.Rows, dy, dyOffset, pixels, dcols!, 0, n, false);
                Col2im(g, dx, xOffset, dcols!, oy0, oy1, parallel);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(cols);
            if (dcols != null) ArrayPool<float>.Shared.Return(dcols);
        }
    }

    static void Multiply(bool parallel, bool transA, bool transB, int m, int n, int k, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc, bool accumulate)
    {
        if (parallel) Gemm.Multiply(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate);
        else Gemm.MultiplySerial(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate);
    }

    /// <summary>cols[(c·K + ky)·K + kx, (oy − oy0)·Wo + ox] = x[b, c, oy·S − P + ky, ox·S − P + kx] (0 outside), oy in [oy0, oy1).</summary>
    static void Im2col(Geometry g, float[] cols, float[] x, int xOffset, int oy0, int oy1, bool parallel)
    {
        int n = (oy1 - oy0) * g.OutWidth;
        if (parallel && g.InChannels > 1 && (long)g.Rows * n >= 2L * Chunks.Size)
            Workers.For(g.InChannels, c => Im2colChannel(g, cols, x, xOffset, oy0, oy1, n, c));
        else
            for (int c = 0; c < g.InChannels; c++) Im2colChannel(g, cols, x, xOffset, oy0, oy1, n, c);
    }

    static void Im2colChannel(in Geometry g, float[] cols, float[] x, int xOffset, int oy0, int oy1, int n, int c)
    {
        int k = g.Kernel, s = g.Stride, p = g.Padding, wo = g.OutWidth;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                var (lo, hi) = g.ValidColumns(kx);
                int row = (c * k + ky) * k + kx;
                for (int oy = oy0; oy < oy1; oy++)
                {
                    var dst = cols.AsSpan(row * n + (oy - oy0) * wo, wo);
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= g.Height || hi <= lo) { dst.Clear(); continue; }
                    int src = xOffset + (c * g.Height + iy) * g.Width - p + kx;
                    dst.Slice(0, lo).Clear();
                    dst.Slice(hi).Clear();
                    if (s == 1) x.AsSpan(src + lo, hi - lo).CopyTo(dst.Slice(lo));
                    else for (int ox = lo; ox < hi; ox++) dst[ox] = x[src + ox * s];
                }
            }
    }

    /// <summary>The adjoint of <see cref="Im2col"/>: dx[b, c, iy, ix] += every column entry that was read from it.</summary>
    static void Col2im(Geometry g, float[] dx, int xOffset, float[] dcols, int oy0, int oy1, bool parallel)
    {
        int n = (oy1 - oy0) * g.OutWidth;
        // Each channel owns its own plane of dx, so channels can run side by side.
        if (parallel && g.InChannels > 1 && (long)g.Rows * n >= 2L * Chunks.Size)
            Workers.For(g.InChannels, c => Col2imChannel(g, dx, xOffset, dcols, oy0, oy1, n, c));
        else
            for (int c = 0; c < g.InChannels; c++) Col2imChannel(g, dx, xOffset, dcols, oy0, oy1, n, c);
    }

    static void Col2imChannel(in Geometry g, float[] dx, int xOffset, float[] dcols, int oy0, int oy1, int n, int c)
    {
        int k = g.Kernel, s = g.Stride, p = g.Padding, wo = g.OutWidth;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                var (lo, hi) = g.ValidColumns(kx);
                if (hi <= lo) continue;
                int row = (c * k + ky) * k + kx;
                for (int oy = oy0; oy < oy1; oy++)
                {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= g.Height) continue;
                    int src = row * n + (oy - oy0) * wo;
                    int dst = xOffset + (c * g.Height + iy) * g.Width - p + kx;
                    if (s == 1)
                    {
                        var d = dx.AsSpan(dst + lo, hi - lo);
                        TensorPrimitives.Add(d, dcols.AsSpan(src + lo, hi - lo), d);
                    }
                    else for (int ox = lo; ox < hi; ox++) dx[dst + ox * s] += dcols[src + ox];
                }
            }
    }

    readonly struct Geometry
    {
        public readonly int Batch, InChannels, Height, Width, OutChannels, Kernel, Stride, Padding, OutHeight, OutWidth;

        public Geometry(int batch, int inChannels, int height, int width, int outChannels, int kernel, int stride, int padding)
        {
            if (batch < 1 || inChannels < 1 || height < 1 || width < 1 || outChannels < 1 || kernel < 1 || stride < 1 || padding < 0)
                throw new ArgumentOutOfRangeException(nameof(batch),
                    $"Conv2d sizes must be positive (padding non-negative): batch {batch}, in {inChannels}, {height}x{width}, out {outChannels}, kernel {kernel}, stride {stride}, padding {padding}");
            Batch = batch; InChannels = inChannels; Height = height; Width = width; OutChannels = outChannels;
            Kernel = kernel; Stride = stride; Padding = padding;
            OutHeight = OutputSize(height, kernel, stride, padding);
            OutWidth = OutputSize(width, kernel, stride, padding);
            if (height + 2 * padding < kernel || width + 2 * padding < kernel)
                throw new ArgumentOutOfRangeException(nameof(kernel), $"Conv2d kernel {kernel} is larger than the padded {height}x{width} image (padding {padding})");
        }

        public int Rows => InChannels * Kernel * Kernel;
        public int Pixels => OutHeight * OutWidth;
        public int InputSize => Batch * InChannels * Height * Width;
        public int OutputSizeTotal => Batch * OutChannels * Pixels;
        public int WeightSize => OutChannels * Rows;
        public bool Direct => Kernel == 1 && Stride == 1 && Padding == 0;
        public int BlockRows => Math.Clamp(ColumnBudget / Math.Max(1, Rows * OutWidth), 1, OutHeight);

        /// <summary>Threads over images when there are enough images and enough work, else 1 (the GEMMs go parallel instead).</summary>
        public int Parts()
        {
            int threads = Environment.ProcessorCount;
            long work = (long)Batch * OutChannels * Rows * Pixels;
            return threads > 1 && Batch >= threads && work >= ParallelThreshold ? threads : 1;
        }

        public (int Start, int End) Images(int part, int parts)
        {
            int per = Batch / parts, extra = Batch % parts;
            int start = part * per + Math.Min(part, extra);
            return (start, start + per + (part < extra ? 1 : 0));
        }

        /// <summary>The output columns ox whose input column ox·S − P + kx lies inside the image: [lo, hi).</summary>
        public (int Lo, int Hi) ValidColumns(int kx)
        {
            int first = Padding - kx, last = Width - 1 + Padding - kx;
            int lo = first <= 0 ? 0 : (first + Stride - 1) / Stride;
            int hi = last < 0 ? 0 : Math.Min(OutWidth, last / Stride + 1);
            return (lo, Math.Max(lo, hi));
        }

        public void Check(float[] array, string name, int length)
        {
            ArgumentNullException.ThrowIfNull(array, name);
            if (array.Length < length)
                throw new ArgumentException($"Conv2d: {name} has {array.Length} elements, needs {length}", name);
        }
    }

    // Device kernels: implicit GEMM on the tiled SGEMM. The unfolded image (im2col) is never stored: the product's operands
    // read it on the fly (Shape.Pixel), so the forward is weight (Cout × Cin·K·K) · cols_b per image, the input gradient
    // weightᵀ-by-kernel-offset · dy gathered per input pixel (no col2im scatter, no atomics), and the weight gradient
    // dy · colsᵀ with the inner dimension batch·Ho·Wo, cut into split-K slices.

    /// <summary>A convolution's sizes inside a kernel (the literals of the generated call), and the unfolded image's element.</summary>
    readonly struct Shape
    {
        public readonly int InChannels, Height, Width, OutChannels, Kernel, Stride, Padding, OutHeight, OutWidth;

        public Shape(int inChannels, int height, int width, int outChannels, int kernel, int stride, int padding)
        {
            InChannels = inChannels; Height = height; Width = width; OutChannels = outChannels;
            Kernel = kernel; Stride = stride; Padding = padding;
            OutHeight = (height + 2 * padding - kernel) / stride + 1;
            OutWidth = (width + 2 * padding - kernel) / stride + 1;
        }

        public int Rows => InChannels * Kernel * Kernel;
        public int Pixels => OutHeight * OutWidth;
        public int InputPixels => Height * Width;

        /// <summary>cols_b[r, p] = x[b, c, oy·S − P + ky, ox·S − P + kx] with r = (c·K + ky)·K + kx and p = oy·Wo + ox; 0 in the padding.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Pixel(ArrayView<float> x, int b, int r, int p)
        {
            int kk = Kernel * Kernel, c = r / kk, rem = r - c * kk, ky = rem / Kernel, kx = rem - ky * Kernel;
            int oy = p / OutWidth, ox = p - oy * OutWidth;
            int iy = oy * Stride - Padding + ky, ix = ox * Stride - Padding + kx;
            if (iy < 0 || iy >= Height || ix < 0 || ix >= Width) return 0f;
            return x[((long)(b * InChannels + c) * Height + iy) * Width + ix];
        }

        /// <summary>The gradient reaching input pixel q = iy·W + ix through kernel offset j = (o·K + ky)·K + kx:
        /// dy[b, o, oy, ox] where oy·S − P + ky = iy and ox·S − P + kx = ix, or 0 where no output pixel took it.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float OutputGrad(ArrayView<float> dy, int b, int j, int q)
        {
            int kk = Kernel * Kernel, o = j / kk, rem = j - o * kk, ky = rem / Kernel, kx = rem - ky * Kernel;
            int iy = q / Width, ix = q - iy * Width;
            int ty = iy + Padding - ky, tx = ix + Padding - kx;
            if (ty < 0 || tx < 0) return 0f;
            int oy = ty / Stride, ox = tx / Stride;
            if (oy * Stride != ty || ox * Stride != tx || oy >= OutHeight || ox >= OutWidth) return 0f;
            return dy[((long)(b * OutChannels + o) * OutHeight + oy) * OutWidth + ox];
        }
    }

    /// <summary>The forward's B: image b unfolded, read as (output pixel, row); a warp runs along the pixels.</summary>
    readonly struct ImageColumns : TiledGemm.ITileOperand
    {
        readonly ArrayView<float> _x;
        readonly Shape _shape;
        readonly int _b;

        public ImageColumns(ArrayView<float> x, Shape shape, int b) { _x = x; _shape = shape; _b = b; }

        public bool InnerContiguous => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner) => _shape.Pixel(_x, _b, inner, outer);
    }

    /// <summary>The weight gradient's B: every image unfolded, read as (row, b·Ho·Wo + pixel); a warp runs along the pixels.</summary>
    readonly struct BatchColumns : TiledGemm.ITileOperand
    {
        readonly ArrayView<float> _x;
        readonly Shape _shape;

        public BatchColumns(ArrayView<float> x, Shape shape) { _x = x; _shape = shape; }

        public bool InnerContiguous => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner)
        {
            int b = inner / _shape.Pixels;
            return _shape.Pixel(_x, b, outer, inner - b * _shape.Pixels);
        }
    }

    /// <summary>The weight gradient's A: dy read as (output channel, b·Ho·Wo + pixel), contiguous along the pixels.</summary>
    readonly struct BatchOutputGrads : TiledGemm.ITileOperand
    {
        readonly ArrayView<float> _dy;
        readonly Shape _shape;

        public BatchOutputGrads(ArrayView<float> dy, Shape shape) { _dy = dy; _shape = shape; }

        public bool InnerContiguous => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner)
        {
            int b = inner / _shape.Pixels;
            return _dy[(long)(b * _shape.OutChannels + outer) * _shape.Pixels + inner - b * _shape.Pixels];
        }
    }

    /// <summary>The input gradient's A: weight read as (input channel, (o·K + ky)·K + kx), nearly contiguous along the offsets.</summary>
    readonly struct WeightByOffset : TiledGemm.ITileOperand
    {
        readonly ArrayView<float> _weight;
        readonly Shape _shape;

        public WeightByOffset(ArrayView<float> weight, Shape shape) { _weight = weight; _shape = shape; }

        public bool InnerContiguous => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner)
        {
            int kk = _shape.Kernel * _shape.Kernel, o = inner / kk;
            return _weight[(long)(o * _shape.InChannels + outer) * kk + inner - o * kk];
        }
    }

    /// <summary>The input gradient's B: dy of image b gathered per input pixel, read as (input pixel, kernel offset).</summary>
    readonly struct GatheredOutputGrads : TiledGemm.ITileOperand
    {
        readonly ArrayView<float> _dy;
        readonly Shape _shape;
        readonly int _b;

        public GatheredOutputGrads(ArrayView<float> dy, Shape shape, int b) { _dy = dy; _shape = shape; _b = b; }

        public bool InnerContiguous => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner) => _shape.OutputGrad(_dy, _b, inner, outer);
    }

    public static KernelConfig ForwardKernelConfig(int batch, int height, int width, int outChannels, int kernel, int stride, int padding) =>
        TiledGemm.Config(outChannels, OutputSize(height, kernel, stride, padding) * OutputSize(width, kernel, stride, padding), batch);

    /// <summary>y_b (Cout × Ho·Wo) = weight (Cout × Cin·K·K) · cols_b (+ bias per channel), image b along the grid's Z. When
    /// <paramref name="hasBias"/> is false, bias is an unused dummy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> y, ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias,
        int batch, int inChannels, int height, int width, int outChannels, int kernel, int stride, int padding, bool hasBias, bool tensorCores)
    {
        var shape = new Shape(inChannels, height, width, outChannels, kernel, stride, padding);
        int b = Grid.IdxZ;
        TiledGemm.Multiply(y, new TiledGemm.Dense(weight, 0, shape.Rows, innerContiguous: true), new ImageColumns(x, shape, b), bias,
            outChannels, shape.Pixels, 0, shape.Rows, shape.Pixels, (long)b * outChannels * shape.Pixels, 1f, hasBias, biasPerRow: true,
            accumulate: false, tensorCores);
    }

    public static KernelConfig BackwardInputKernelConfig(int batch, int inChannels, int height, int width) =>
        TiledGemm.Config(inChannels, height * width, batch);

    /// <summary>dx_b (Cin × H·W) += Σ over (o, ky, kx) of weight[o, c, ky, kx] · dy_b at the output pixel that read (iy, ix) through
    /// that offset. With stride S only one offset in S² reaches a given pixel; the others read as zeros.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> weight,
        int batch, int inChannels, int height, int width, int outChannels, int kernel, int stride, int padding, bool tensorCores)
    {
        var shape = new Shape(inChannels, height, width, outChannels, kernel, stride, padding);
        int b = Grid.IdxZ;
        TiledGemm.Multiply(dx, new WeightByOffset(weight, shape), new GatheredOutputGrads(dy, shape, b), dx,
            inChannels, shape.InputPixels, 0, outChannels * kernel * kernel, shape.InputPixels, (long)b * inChannels * shape.InputPixels, 1f,
            hasBias: false, biasPerRow: false, accumulate: true, tensorCores);
    }

    public static KernelConfig BackwardWeightKernelConfig(int batch, int inChannels, int height, int width, int outChannels, int kernel,
        int stride, int padding) =>
        TiledGemm.SplitConfig(outChannels, inChannels * kernel * kernel,
            batch * OutputSize(height, kernel, stride, padding) * OutputSize(width, kernel, stride, padding));

    /// <summary>Floats of split-K workspace the weight gradient may use.</summary>
    public static long BackwardWeightWorkspace(int inChannels, int outChannels, int kernel) =>
        TiledGemm.SplitWorkspace(outChannels, inChannels * kernel * kernel);

    /// <summary>dweight (Cout × Cin·K·K) += dy · colsᵀ over every image and pixel (k = batch·Ho·Wo), in split-K slices that
    /// <see cref="TiledGemm.SumSplitsKernel"/> adds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardWeightKernel(ArrayView<float> dweight, ArrayView<float> workspace, ArrayView<float> dy, ArrayView<float> x,
        int batch, int inChannels, int height, int width, int outChannels, int kernel, int stride, int padding, bool tensorCores)
    {
        var shape = new Shape(inChannels, height, width, outChannels, kernel, stride, padding);
        TiledGemm.MultiplySplit(dweight, workspace, new BatchOutputGrads(dy, shape), new BatchColumns(x, shape),
            outChannels, shape.Rows, batch * shape.Pixels, shape.Rows, tensorCores);
    }

    public static KernelConfig BackwardBiasKernelConfig(int outChannels) => ColumnSums.GroupPer(outChannels);

    /// <summary>A group per channel: dbias[o] += Σ_{b, oy, ox} dy[b, o, oy, ox], the group's threads striding over batch and plane,
    /// summed in a fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardBiasKernel(ArrayView<float> dbias, ArrayView<float> dy, int batch, int outChannels, int outHeight, int outWidth)
    {
        var shared = SharedMemory.Allocate<float>(ColumnSums.GroupThreads);
        int o = Grid.IdxX, pixels = outHeight * outWidth, count = batch * pixels;
        float s = 0f;
        for (int e = Group.IdxX; e < count; e += ColumnSums.GroupThreads)
        {
            int b = e / pixels;
            s += dy[(long)(b * outChannels + o) * pixels + e - b * pixels];
        }
        float total = ColumnSums.GroupSum(shared, s);
        if (Group.IdxX == 0) dbias[o] += total;
    }
}
