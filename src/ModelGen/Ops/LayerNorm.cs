using System;
using ModelGen.Cpu;
using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Layer normalization over the last dimension with PyTorch semantics (biased variance, eps inside the square root):
/// y = (x - mean)·rstd·gamma + beta, rstd = 1/sqrt(var + eps). x (rows, dim), gamma (dim), beta (dim) -> y (rows, dim);
/// mean (rows) and rstd (rows) are saved for backward.
/// Backward accumulates into dx, dgamma and dbeta.
/// </summary>
public static class LayerNorm
{
    public static void Forward(float[] y, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta, int rows, int dim, float eps)
    {
        int per = RowsPerChunk(dim);
        int chunks = (rows + per - 1) / per;
        if (chunks <= 1) { ForwardRows(y, mean, rstd, x, gamma, beta, 0, rows, dim, eps); return; }
        Workers.For(chunks, c =>
        {
            int start = c * per;
            ForwardRows(y, mean, rstd, x, gamma, beta, start, Math.Min(rows, start + per), dim, eps);
        });
    }

    public static void Backward(float[] dx, float[] dgamma, float[] dbeta, float[] dy, float[] x, float[] mean, float[] rstd, float[] gamma, int rows, int dim)
    {
        // Each part sums its rows' parameter gradients privately (part 0 straight into dgamma/dbeta), then the parts
        // are added in a fixed order: no races, and the result does not depend on scheduling.
        int parts = (int)Math.Min(Math.Min((long)Environment.ProcessorCount, rows), Math.Max(1L, (long)rows * dim / Chunks.Size));
        parts = Math.Max(parts, 1);
        if (parts == 1)
        {
            BackwardRows(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, 0, rows, dim);
            return;
        }
        int per = (rows + parts - 1) / parts;
        parts = (rows + per - 1) / per;
        float[] scratch = ArrayPool<float>.Shared.Rent(2 * dim * (parts - 1));
        try
        {
            Array.Clear(scratch, 0, 2 * dim * (parts - 1));
            Workers.For(parts, part =>
            {
                int start = part * per, end = Math.Min(rows, start + per);
                if (part == 0) BackwardRows(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, start, end, dim);
                else BackwardRows(dx, scratch.AsSpan(2 * dim * (part - 1), dim), scratch.AsSpan(2 * dim * (part - 1) + dim, dim), dy, x, mean, rstd, gamma, start, end, dim);
            });
            var dg = dgamma.AsSpan(0, dim);
            var db = dbeta.AsSpan(0, dim);
            for (int part = 1; part < parts; part++)
            {
                TensorPrimitives.Add(dg, scratch.AsSpan(2 * dim * (part - 1), dim), dg);
                TensorPrimitives.Add(db, scratch.AsSpan(2 * dim * (part - 1) + dim, dim), db);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    static int RowsPerChunk(int dim) => Math.Max(1, Chunks.Size / Math.Max(dim, 1));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void ForwardRows(float[] y, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta, int start, int end, int dim, float eps)
    {
        var g = gamma.AsSpan(0, dim);
        var b = beta.AsSpan(0, dim);
        for (int r = start; r < end; r++)
        {
            var xr = x.AsSpan(r * dim, dim);
            float m = Sum(xr) / dim;
            float v = SumSquaredDeviation(xr, m) / dim;
            float s = 1f / MathF.Sqrt(v + eps);
            mean[r] = m;
            rstd[r] = s;
            Normalize(y.AsSpan(r * dim, dim), xr, g, b, m, s);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BackwardRows(float[] dx, Span<float> dgamma, Span<float> dbeta, float[] dy, float[] x, float[] mean, float[] rstd, float[] gamma, int start, int end, int dim)
    {
        var g = gamma.AsSpan(0, dim);
        dgamma = dgamma.Slice(0, dim);
        dbeta = dbeta.Slice(0, dim);
        if (Vector512.IsHardwareAccelerated && dim % Vector512<float>.Count == 0)
        {
            unsafe
            {
                fixed (float* dxp = dx, dgp = dgamma, dbp = dbeta, dyp = dy, xp = x, gp = g)
                    BackwardRows512(dxp, dgp, dbp, dyp, xp, mean, rstd, gp, start, end, dim);
            }
            return;
        }
        for (int r = start; r < end; r++)
        {
            var xr = x.AsSpan(r * dim, dim);
            var dyr = dy.AsSpan(r * dim, dim);
            float m = mean[r], s = rstd[r];
            var (sumD, sumDN) = Projections(dyr, xr, g, m, s);
            InputAndParams(dx.AsSpan(r * dim, dim), dgamma, dbeta, dyr, xr, g, m, s, sumD / dim, sumDN / dim);
        }
    }

    /// <summary>
    /// <see cref="BackwardRows"/> for dim a multiple of 16, on raw rows with 512-bit vectors: the same two passes per row
    /// (Σ dy·gamma and Σ dy·gamma·norm, then dx, dgamma, dbeta), without the per-row span set-up that dominated short rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void BackwardRows512(float* dx, float* dgamma, float* dbeta, float* dy, float* x, float[] mean, float[] rstd, float* g,
        int start, int end, int dim)
    {
        const int w = 16;
        float invDim = 1f / dim;
        for (int r = start; r < end; r++)
        {
            long o = (long)r * dim;
            float* xr = x + o, dyr = dy + o, dxr = dx + o;
            var mv = Vector512.Create(mean[r]);
            var sv = Vector512.Create(rstd[r]);
            Vector512<float> ad = default, adn = default;
            for (int k = 0; k < dim; k += w)
            {
                var d = Vector512.Load(dyr + k) * Vector512.Load(g + k);
                ad += d;
                adn += d * ((Vector512.Load(xr + k) - mv) * sv);
            }
            var md = Vector512.Create(Vector512.Sum(ad) * invDim);
            var mdn = Vector512.Create(Vector512.Sum(adn) * invDim);
            for (int k = 0; k < dim; k += w)
            {
                var n = (Vector512.Load(xr + k) - mv) * sv;
                var d = Vector512.Load(dyr + k);
                Vector512.Store(Vector512.Load(dxr + k) + (d * Vector512.Load(g + k) - md - n * mdn) * sv, dxr + k);
                Vector512.Store(Vector512.Load(dgamma + k) + d * n, dgamma + k);
                Vector512.Store(Vector512.Load(dbeta + k) + d, dbeta + k);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Sum(ReadOnlySpan<float> x)
    {
        int i = 0;
        float s = 0f;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var acc = Vector<float>.Zero;
            for (int k = 0; k < xs.Length; k++) acc += xs[k];
            s = Vector.Sum(acc);
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) s += x[i];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float SumSquaredDeviation(ReadOnlySpan<float> x, float m)
    {
        int i = 0;
        float s = 0f;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var mv = new Vector<float>(m);
            var acc = Vector<float>.Zero;
            for (int k = 0; k < xs.Length; k++)
            {
                var d = xs[k] - mv;
                acc += d * d;
            }
            s = Vector.Sum(acc);
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++)
        {
            float d = x[i] - m;
            s += d * d;
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Normalize(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> g, ReadOnlySpan<float> b, float m, float s)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var gs = MemoryMarshal.Cast<float, Vector<float>>(g);
            var bs = MemoryMarshal.Cast<float, Vector<float>>(b);
            var ys = MemoryMarshal.Cast<float, Vector<float>>(y);
            var mv = new Vector<float>(m);
            var sv = new Vector<float>(s);
            for (int k = 0; k < xs.Length; k++) ys[k] = (xs[k] - mv) * sv * gs[k] + bs[k];
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) y[i] = (x[i] - m) * s * g[i] + b[i];
    }

    /// <summary>Σ dy·gamma and Σ dy·gamma·norm over one row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static (float SumD, float SumDN) Projections(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> g, float m, float s)
    {
        int i = 0;
        float sd = 0f, sdn = 0f;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var gs = MemoryMarshal.Cast<float, Vector<float>>(g);
            var dys = MemoryMarshal.Cast<float, Vector<float>>(dy);
            var mv = new Vector<float>(m);
            var sv = new Vector<float>(s);
            var ad = Vector<float>.Zero;
            var adn = Vector<float>.Zero;
            for (int k = 0; k < xs.Length; k++)
            {
                var d = dys[k] * gs[k];
                ad += d;
                adn += d * ((xs[k] - mv) * sv);
            }
            sd = Vector.Sum(ad);
            sdn = Vector.Sum(adn);
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++)
        {
            float d = dy[i] * g[i];
            sd += d;
            sdn += d * ((x[i] - m) * s);
        }
        return (sd, sdn);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void InputAndParams(Span<float> dx, Span<float> dgamma, Span<float> dbeta, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> g, float m, float s, float meanD, float meanDN)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var gs = MemoryMarshal.Cast<float, Vector<float>>(g);
            var dys = MemoryMarshal.Cast<float, Vector<float>>(dy);
            var dxs = MemoryMarshal.Cast<float, Vector<float>>(dx);
            var dgs = MemoryMarshal.Cast<float, Vector<float>>(dgamma);
            var dbs = MemoryMarshal.Cast<float, Vector<float>>(dbeta);
            var mv = new Vector<float>(m);
            var sv = new Vector<float>(s);
            var md = new Vector<float>(meanD);
            var mdn = new Vector<float>(meanDN);
            for (int k = 0; k < xs.Length; k++)
            {
                var n = (xs[k] - mv) * sv;
                var d = dys[k];
                dxs[k] += (d * gs[k] - md - n * mdn) * sv;
                dgs[k] += d * n;
                dbs[k] += d;
            }
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++)
        {
            float n = (x[i] - m) * s;
            float d = dy[i];
            dx[i] += (d * g[i] - meanD - n * meanDN) * s;
            dgamma[i] += d * n;
            dbeta[i] += d;
        }
    }

    // Device kernels: a warp per row for the forward and the input gradient (lanes stride the row, sums meet by shuffles in a
    // fixed butterfly, so results are deterministic); the parameter gradients are a block-parallel column reduction.

    public const int RowsPerGroup = 8;

    public static KernelConfig ForwardKernelConfig(int rows) => RowConfig(rows);

    public static KernelConfig BackwardInputKernelConfig(int rows) => RowConfig(rows);

    static KernelConfig RowConfig(int rows) => new(new Index3D((rows + RowsPerGroup - 1) / RowsPerGroup, 1, 1), new Index3D(32 * RowsPerGroup, 1, 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> x,
        ArrayView<float> gamma, ArrayView<float> beta, int rows, int dim, float eps)
    {
        int row = Grid.IdxX * RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * dim;
        float sum = 0f;
        for (int j = lane; j < dim; j += 32) sum += x[o + j];
        float m = WarpReduce.Sum(sum) / dim;
        float sq = 0f;
        for (int j = lane; j < dim; j += 32)
        {
            float d = x[o + j] - m;
            sq += d * d;
        }
        float s = 1f / MathF.Sqrt(WarpReduce.Sum(sq) / dim + eps);
        if (lane == 0)
        {
            mean[row] = m;
            rstd[row] = s;
        }
        for (int j = lane; j < dim; j += 32) y[o + j] = (x[o + j] - m) * s * gamma[j] + beta[j];
    }

    /// <summary>dx += (dy·γ − mean(dy·γ) − x̂·mean(dy·γ·x̂))·rstd, a warp per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, int rows, int dim)
    {
        int row = Grid.IdxX * RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * dim;
        float m = mean[row], s = rstd[row];
        float sd = 0f, sdn = 0f;
        for (int j = lane; j < dim; j += 32)
        {
            float d = dy[o + j] * gamma[j];
            sd += d;
            sdn += d * ((x[o + j] - m) * s);
        }
        float meanD = WarpReduce.Sum(sd) / dim, meanDN = WarpReduce.Sum(sdn) / dim;
        for (int j = lane; j < dim; j += 32)
        {
            float n = (x[o + j] - m) * s;
            dx[o + j] += (dy[o + j] * gamma[j] - meanD - n * meanDN) * s;
        }
    }

    public static KernelConfig BackwardParamsKernelConfig(int dim) => ColumnSums.Config(dim);

    /// <summary>dγ += Σ_rows dy·x̂ and dβ += Σ_rows dy: eight warps per 32 columns, partials met in a fixed order (as <see cref="ColumnSums"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardParamsKernel(ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> rstd, int rows, int dim)
    {
        var partial = SharedMemory.Allocate<float>(2 * ColumnSums.Columns * ColumnSums.Warps);
        int lane = Group.IdxX & (ColumnSums.Columns - 1), warp = Group.IdxX / ColumnSums.Columns;
        int col = Grid.IdxX * ColumnSums.Columns + lane;
        float g = 0f, b = 0f;
        if (col < dim)
            for (int r = warp; r < rows; r += ColumnSums.Warps)
            {
                long o = (long)r * dim + col;
                float d = dy[o];
                g += d * ((x[o] - mean[r]) * rstd[r]);
                b += d;
            }
        partial[Group.IdxX] = g;
        partial[ColumnSums.Columns * ColumnSums.Warps + Group.IdxX] = b;
        Group.Barrier();
        if (warp != 0 || col >= dim) return;
        for (int w = 1; w < ColumnSums.Warps; w++)
        {
            g += partial[w * ColumnSums.Columns + lane];
            b += partial[ColumnSums.Columns * ColumnSums.Warps + w * ColumnSums.Columns + lane];
        }
        dgamma[col] += g;
        dbeta[col] += b;
    }
}
