using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace ModelGen.Cpu;

/// <summary>
/// Single-precision GEMM on row-major <c>float[]</c>: C(m×n) (+)= op(A)(m×k) · op(B)(k×n), op = transpose when the flag is set.
/// lda/ldb/ldc are the row strides of A, B, C as stored. Panels of A and B are packed into per-thread pinned scratch and fed
/// to a register-blocked FMA micro-kernel (8×32 with Vector512, 6×16 with Vector256, 4×4 scalar otherwise).
/// </summary>
public static unsafe class Gemm
{
    enum Isa { Scalar, V256, V512 }

    static readonly Isa Kind =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Isa.V512 :
        Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported ? Isa.V256 : Isa.Scalar;

    static readonly int Mr = Kind == Isa.V512 ? 8 : Kind == Isa.V256 ? 6 : 4;
    static readonly int Nr = Kind == Isa.V512 ? 32 : Kind == Isa.V256 ? 16 : 4;

    // Kc·Nr floats of B stay in L1 while a Mc×Kc block of A sits in L2; the Kc×Nc block of B lives in L3.
    const int KcMax = 256;
    static readonly int McMax = 192 / Mr * Mr;
    const int NcMax = 2048;

    // Below this many multiply-adds a thread hand-off costs more than it saves.
    const long ParallelThreshold = 1L << 21;
    // Smallest share of multiply-adds worth giving one parallel task.
    const long MinTaskWork = 1L << 20;

    [ThreadStatic] static float[]? t_scratch;

    /// <summary>C (+)= op(A)·op(B) (+ <paramref name="bias"/>, one value per column of C, added as the first products are
    /// stored, so a layer's bias costs no pass of its own); splits big products over threads, small ones run on the calling thread.</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc, bool accumulate, float[]? bias = null)
    {
        Validate(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        CheckBias(bias, n);
        long work = (long)m * n * k;
        int threads = Environment.ProcessorCount;
        if (threads == 1 || work < ParallelThreshold)
        {
            MultiplySerial(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate, bias);
            return;
        }

        if (k >= SplitInnerRatio * ((long)m + n) && (long)m * n <= SplitInnerMaxOutput)
        {
            MultiplySplitInner(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate, bias, threads);
            return;
        }

        int mr = Mr, nr = Nr;
        int mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr;
        int most = (int)Math.Min(threads * 4L, Math.Max(threads, work / MinTaskWork));
        // Each row slab repacks all of B and each column slab all of A, so the extra packing per multiply-add is
        // tm/m + tn/n. Take the most tasks (for balance) whose repacking stays negligible, else the least repacking.
        // Task counts are whole multiples of the thread count: 3 equal tasks on 2 threads take as long as 4.
        int tm = 1, tn = 1, bestTasks = 0;
        double bestCost = double.MaxValue;
        for (int i = 1; i <= Math.Min(mPanels, most); i++)
        {
            for (int j = 1; j <= Math.Min(nPanels, most / i); j++)
            {
                int tasks = i * j;
                if (tasks < Math.Min(threads, mPanels * nPanels) || (tasks > threads && tasks % threads != 0)) continue;
                double cost = (double)i / m + (double)j / n;
                bool cheap = cost <= 0.01, bestCheap = bestCost <= 0.01;
                bool better = cheap
                    ? !bestCheap || tasks > bestTasks || (tasks == bestTasks && cost < bestCost)
                    : !bestCheap && (cost < bestCost || (cost == bestCost && tasks > bestTasks));
                if (better) { tm = i; tn = j; bestTasks = tasks; bestCost = cost; }
            }
        }
        int rowsPer = (mPanels + tm - 1) / tm * mr;
        int colsPer = (nPanels + tn - 1) / tn * nr;
        tm = (m + rowsPer - 1) / rowsPer;
        tn = (n + colsPer - 1) / colsPer;
        if (tm * tn == 1)
        {
            MultiplySerial(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate, bias);
            return;
        }

        Workers.For(tm * tn, t =>
        {
            int i0 = t / tn * rowsPer, j0 = t % tn * colsPer;
            int mm = Math.Min(rowsPer, m - i0), nn = Math.Min(colsPer, n - j0);
            int ao = aOffset + (transA ? i0 : i0 * lda);
            int bo = bOffset + (transB ? j0 * ldb : j0);
            MultiplySerial(transA, transB, mm, nn, k, a, ao, lda, b, bo, ldb, c, cOffset + i0 * ldc + j0, ldc, accumulate, bias, j0);
        });
    }

    // A product whose inner dimension is this many times m + n or more (a weight gradient: 64×64 summed over 6 400 tokens)
    // is split along k rather than over C's rows and columns.
    const int SplitInnerRatio = 8;
    // ... and whose C is at most this many floats (each thread keeps a block of C's size).
    const int SplitInnerMaxOutput = 1 << 16;

    [ThreadStatic] static float[]? t_partials;

    /// <summary>
    /// C (+)= op(A)·op(B) with k cut into one slice per thread: each slice's product goes to its own m×n block of scratch
    /// (C is small here), then the blocks are added into C in slice order. Splitting C instead would make every task pack
    /// the whole of the other (k-long) operand again: for a 64×64 weight gradient over 6 400 rows that doubled its time.
    /// </summary>
    static void MultiplySplitInner(bool transA, bool transB, int m, int n, int k, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc, bool accumulate, float[]? bias, int parts)
    {
        int block = m * n;
        var partials = ThreadScratch.AtLeast(ref t_partials, (long)parts * block);
        int per = (k + parts - 1) / parts;
        Workers.For(parts, p =>
        {
            int k0 = p * per, kk = Math.Min(per, k - k0);
            if (kk <= 0) { partials.AsSpan(p * block, block).Clear(); return; }
            MultiplySerial(transA, transB, m, n, kk, a, aOffset + (transA ? k0 * lda : k0), lda,
                b, bOffset + (transB ? k0 : k0 * ldb), ldb, partials, p * block, n, accumulate: false);
        });
        for (int i = 0; i < m; i++)
        {
            var row = c.AsSpan(cOffset + i * ldc, n);
            var sum = partials.AsSpan(i * n, n);
            if (!accumulate) sum.CopyTo(row);
            else System.Numerics.Tensors.TensorPrimitives.Add(row, sum, row);
            for (int p = 1; p < parts; p++)
                System.Numerics.Tensors.TensorPrimitives.Add(row, partials.AsSpan(p * block + i * n, n), row);
            if (bias != null) System.Numerics.Tensors.TensorPrimitives.Add(row, bias.AsSpan(0, n), row);
        }
    }

    /// <summary>Same as <see cref="Multiply"/> but always on the calling thread (for use inside an outer parallel loop);
    /// C's first column takes column <c>biasOffset</c> of the bias.</summary>
    public static void MultiplySerial(bool transA, bool transB, int m, int n, int k, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc, bool accumulate, float[]? bias = null, int biasOffset = 0)
    {
        Validate(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        CheckBias(bias, biasOffset + n);
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int i = 0; i < m; i++)
            {
                var row = c.AsSpan(cOffset + i * ldc, n);
                if (bias == null) { if (!accumulate) row.Clear(); }
                else if (accumulate) System.Numerics.Tensors.TensorPrimitives.Add(row, bias.AsSpan(biasOffset, n), row);
                else bias.AsSpan(biasOffset, n).CopyTo(row);
            }
            return;
        }
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
            Run(transA, transB, m, n, k, pa + aOffset, lda, pb + bOffset, ldb, pc + cOffset, ldc, accumulate, bias == null ? null : pbias + biasOffset);
    }

    static void CheckBias(float[]? bias, int columns)
    {
        if (bias != null && bias.Length < columns)
            throw new ArgumentException($"bias has {bias.Length} elements but C has {columns} columns", nameof(bias));
    }

    static void Validate(bool transA, bool transB, int m, int n, int k, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), "sizes must be non-negative");
        if (m == 0 || n == 0) return;
        CheckMatrix(c, cOffset, ldc, m, n, nameof(c));
        if (k == 0) return;
        if (transA) CheckMatrix(a, aOffset, lda, k, m, nameof(a)); else CheckMatrix(a, aOffset, lda, m, k, nameof(a));
        if (transB) CheckMatrix(b, bOffset, ldb, n, k, nameof(b)); else CheckMatrix(b, bOffset, ldb, k, n, nameof(b));
    }

    static void CheckMatrix(float[] x, int offset, int ld, int rows, int cols, string name)
    {
        if (offset < 0 || ld < cols || (long)offset + (long)(rows - 1) * ld + cols > x.Length)
            throw new ArgumentException($"{name}: {rows}×{cols} with offset {offset} and row stride {ld} does not fit in {x.Length} elements", name);
    }

    static float* Scratch(int floats)
    {
        var s = t_scratch;
        if (s == null || s.Length < floats + 16)
        {
            // Pinned-heap arrays never move, so the aligned pointer stays valid.
            s = GC.AllocateUninitializedArray<float>(floats + 16, pinned: true);
            t_scratch = s;
        }
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s));
        return (float*)((p + 63) & ~(nint)63);
    }

    static int RoundUp(int x, int r) => (x + r - 1) / r * r;

    static void Run(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate, float* bias)
    {
        int mr = Mr, nr = Nr;
        // Even block sizes avoid a sliver of a last block (k = 257 would otherwise do a whole pass for one step).
        int kBlocks = (k + KcMax - 1) / KcMax;
        int kcBlock = (k + kBlocks - 1) / kBlocks;
        int mBlocks = (m + McMax - 1) / McMax;
        int mcBlock = RoundUp((m + mBlocks - 1) / mBlocks, mr);
        int nBlocks = (n + NcMax - 1) / NcMax;
        int ncBlock = RoundUp((n + nBlocks - 1) / nBlocks, nr);

        int aFloats = mcBlock * kcBlock;
        int bFloats = ncBlock * kcBlock;
        float* ap = Scratch(aFloats + bFloats + mr * nr + nr + 64);
        float* bp = ap + RoundUp(aFloats, 16);
        float* tmp = bp + RoundUp(bFloats, 16);

        for (int jc = 0; jc < n; jc += ncBlock)
        {
            int nc = Math.Min(ncBlock, n - jc);
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                bool add = accumulate || pc > 0;
                // op(B)[p, j]: not transposed -> B[p*ldb + j]; transposed -> B[j*ldb + p].
                if (transB) PackTransposed(b + (long)jc * ldb + pc, ldb, kc, nc, nr, bp);
                else PackRows(b + (long)pc * ldb + jc, ldb, kc, nc, nr, bp);
                for (int ic = 0; ic < m; ic += mcBlock)
                {
                    int mc = Math.Min(mcBlock, m - ic);
                    // op(A)[i, p]: not transposed -> A[i*lda + p]; transposed -> A[p*lda + i].
                    if (transA) PackRows(a + (long)pc * lda + ic, lda, kc, mc, mr, ap);
                    else PackTransposed(a + (long)ic * lda + pc, lda, kc, mc, mr, ap);
                    Macro(mc, nc, kc, ap, bp, c + (long)ic * ldc + jc, ldc, add, pc == 0 && bias != null ? bias + jc : null, tmp);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Macro(int mc, int nc, int kc, float* ap, float* bp, float* c, int ldc, bool add, float* bias, float* tmp)
    {
        int mr = Mr, nr = Nr;
        for (int j = 0; j < nc; j += nr)
        {
            int nw = Math.Min(nr, nc - j);
            float* bPanel = bp + (long)j * kc;
            for (int i = 0; i < mc; i += mr)
            {
                int mw = Math.Min(mr, mc - i);
                float* aPanel = ap + (long)i * kc;
                float* cTile = c + (long)i * ldc + j;
                if (mw == mr && nw == nr)
                {
                    Kernel(kc, aPanel, bPanel, cTile, ldc, add, bias == null ? null : bias + j);
                }
                else
                {
                    // Edge tiles start from the bias too (zero-padded past the last column), so every element sums in
                    // the same order wherever its tile falls and a row's result does not depend on the batch size.
                    float* tileBias = null;
                    if (bias != null)
                    {
                        tileBias = tmp + RoundUp(mr * nr, 16);
                        for (int q = 0; q < nr; q++) tileBias[q] = q < nw ? bias[j + q] : 0f;
                    }
                    Kernel(kc, aPanel, bPanel, tmp, nr, false, tileBias);
                    for (int r = 0; r < mw; r++)
                    {
                        float* src = tmp + r * nr;
                        float* dst = cTile + (long)r * ldc;
                        if (add) for (int q = 0; q < nw; q++) dst[q] += src[q];
                        else for (int q = 0; q < nw; q++) dst[q] = src[q];
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Kernel(int kc, float* a, float* b, float* c, int ldc, bool add, float* bias)
    {
        if (Kind == Isa.V512) Kernel8x32(kc, a, b, c, ldc, add, bias);
        else if (Kind == Isa.V256) Kernel6x16(kc, a, b, c, ldc, add, bias);
        else Kernel4x4(kc, a, b, c, ldc, add, bias);
    }

    /// <summary>
    /// Packs <paramref name="width"/> contiguous floats from each of <paramref name="kc"/> rows into panels of
    /// <paramref name="w"/>: panel q holds dst[q·w·kc + p·w + r] = src[p·ld + q·w + r], zero-padded past width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackRows(float* src, int ld, int kc, int width, int w, float* dst)
    {
        for (int q0 = 0; q0 < width; q0 += w)
        {
            int cols = Math.Min(w, width - q0);
            float* s = src + q0;
            float* d = dst + (long)q0 * kc;
            if (cols == w && w == 32 && Vector512.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++, s += ld, d += 32)
                {
                    Vector512.Store(Vector512.Load(s), d);
                    Vector512.Store(Vector512.Load(s + 16), d + 16);
                }
            }
            else if (cols == w && w == 8 && Vector256.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++, s += ld, d += 8) Vector256.Store(Vector256.Load(s), d);
            }
            else if (cols == w && w == 16 && Vector256.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++, s += ld, d += 16)
                {
                    Vector256.Store(Vector256.Load(s), d);
                    Vector256.Store(Vector256.Load(s + 8), d + 8);
                }
            }
            else
            {
                for (int p = 0; p < kc; p++, s += ld, d += w)
                {
                    int r = 0;
                    for (; r < cols; r++) d[r] = s[r];
                    for (; r < w; r++) d[r] = 0f;
                }
            }
        }
    }

    /// <summary>
    /// Packs the transpose: panel q holds dst[q·w·kc + p·w + r] = src[(q·w + r)·ld + p] for r &lt; width, zero past it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackTransposed(float* src, int ld, int kc, int width, int w, float* dst)
    {
        for (int q0 = 0; q0 < width; q0 += w)
        {
            int rows = Math.Min(w, width - q0);
            float* s = src + (long)q0 * ld;
            float* d = dst + (long)q0 * kc;
            int r0 = 0;
            int p8 = 0;
            if (Avx.IsSupported)
            {
                p8 = kc & ~7;
                for (; r0 + 8 <= rows; r0 += 8)
                {
                    float* sr = s + (long)r0 * ld;
                    for (int p = 0; p < p8; p += 8) Transpose8x8(sr + p, ld, d + (long)p * w + r0, w);
                    for (int p = p8; p < kc; p++)
                        for (int r = r0; r < r0 + 8; r++) d[(long)p * w + r] = s[(long)r * ld + p];
                }
            }
            for (int r = r0; r < rows; r++)
            {
                float* sr = s + (long)r * ld;
                for (int p = 0; p < kc; p++) d[(long)p * w + r] = sr[p];
            }
            if (rows < w)
                for (int p = 0; p < kc; p++)
                    for (int r = rows; r < w; r++) d[(long)p * w + r] = 0f;
        }
    }

    /// <summary>dst[q·ldd + r] = src[r·lds + q] for an 8×8 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(float* src, int lds, float* dst, int ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(src);
        Vector256<float> r1 = Avx.LoadVector256(src + lds);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * lds);
        Vector256<float> r3 = Avx.LoadVector256(src + 3 * lds);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * lds);
        Vector256<float> r5 = Avx.LoadVector256(src + 5 * lds);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * lds);
        Vector256<float> r7 = Avx.LoadVector256(src + 7 * lds);

        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);

        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);

        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, bool add, float* bias)
    {
        // The accumulators start at the bias (the tile's 32 columns of it) or at zero.
        Vector512<float> c00 = bias == null ? default : Vector512.Load(bias), c01 = bias == null ? default : Vector512.Load(bias + 16);
        Vector512<float> c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
        Vector512<float> c40 = c00, c41 = c01, c50 = c00, c51 = c01, c60 = c00, c61 = c01, c70 = c00, c71 = c01;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            a += 8;
            b += 32;
        }
        Store512(c, c00, c01, add); c += ldc;
        Store512(c, c10, c11, add); c += ldc;
        Store512(c, c20, c21, add); c += ldc;
        Store512(c, c30, c31, add); c += ldc;
        Store512(c, c40, c41, add); c += ldc;
        Store512(c, c50, c51, add); c += ldc;
        Store512(c, c60, c61, add); c += ldc;
        Store512(c, c70, c71, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, bool add)
    {
        if (add)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
        }
        Vector512.Store(v0, c);
        Vector512.Store(v1, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, bool add, float* bias)
    {
        Vector256<float> c00 = bias == null ? default : Vector256.Load(bias), c01 = bias == null ? default : Vector256.Load(bias + 8);
        Vector256<float> c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01, c40 = c00, c41 = c01, c50 = c00, c51 = c01;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Avx.LoadVector256(b), b1 = Avx.LoadVector256(b + 8);
            Vector256<float> x;
            x = Vector256.Create(a[0]); c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a += 6;
            b += 16;
        }
        Store256(c, c00, c01, add); c += ldc;
        Store256(c, c10, c11, add); c += ldc;
        Store256(c, c20, c21, add); c += ldc;
        Store256(c, c30, c31, add); c += ldc;
        Store256(c, c40, c41, add); c += ldc;
        Store256(c, c50, c51, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store256(float* c, Vector256<float> v0, Vector256<float> v1, bool add)
    {
        if (add)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + 8);
        }
        Vector256.Store(v0, c);
        Vector256.Store(v1, c + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel4x4(int kc, float* a, float* b, float* c, int ldc, bool add, float* bias)
    {
        float c00 = bias == null ? 0 : bias[0], c01 = bias == null ? 0 : bias[1], c02 = bias == null ? 0 : bias[2], c03 = bias == null ? 0 : bias[3];
        float c10 = c00, c11 = c01, c12 = c02, c13 = c03, c20 = c00, c21 = c01, c22 = c02, c23 = c03, c30 = c00, c31 = c01, c32 = c02, c33 = c03;
        for (int p = 0; p < kc; p++)
        {
            float b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            float x = a[0]; c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
            x = a[1]; c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
            x = a[2]; c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
            x = a[3]; c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
            a += 4;
            b += 4;
        }
        Store4(c, c00, c01, c02, c03, add); c += ldc;
        Store4(c, c10, c11, c12, c13, add); c += ldc;
        Store4(c, c20, c21, c22, c23, add); c += ldc;
        Store4(c, c30, c31, c32, c33, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(float* c, float v0, float v1, float v2, float v3, bool add)
    {
        if (add) { c[0] += v0; c[1] += v1; c[2] += v2; c[3] += v3; }
        else { c[0] = v0; c[1] = v1; c[2] = v2; c[3] = v3; }
    }
}
