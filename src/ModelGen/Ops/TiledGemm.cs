using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// The device's one SGEMM: C = alpha·op(A)·op(B) (+ bias per column) (+ C), for a batch of matrices along the grid's Z.
/// A group of 256 threads computes a 64×64 tile of C; each thread holds a 4×4 block of it in registers (rows ty + 16i,
/// columns tx + 16j, so the warp's stores are coalesced and its shared reads conflict-free). K advances 16 at a time through
/// two shared-memory buffers: while the group multiplies one, each thread has already fetched its part of the next into
/// registers, so one barrier per step suffices and global loads overlap the arithmetic. Shapes need not divide the tiles.
/// The inner loop is unrolled by hand (ILGPU does not unroll). Kernels of the ops call <see cref="Multiply"/> with their
/// sizes as literals and launch with <see cref="Config"/>.
/// </summary>
public static class TiledGemm
{
    public const int TileM = 64, TileN = 64, TileK = 16, Threads = 256;

    /// <summary>A shared tile row holds 64 values and one pad, so the transposing stores of a warp hit distinct banks.</summary>
    const int Stride = TileM + 1;

    const int Buffer = TileK * Stride;

    /// <summary>The launch of an (m × n) product, <paramref name="batches"/> of them.</summary>
    public static KernelConfig Config(int m, int n, int batches = 1) =>
        new(new Index3D((n + TileN - 1) / TileN, (m + TileM - 1) / TileM, batches), new Index3D(Threads, 1, 1));

    /// <summary>
    /// C[z] (m × n, row stride ldc) = alpha · op(A[z]) · op(B[z]) (+ bias[col]) (+ C[z] when accumulating). op(A) is m × k:
    /// A is stored m × k (row stride lda) or, transposed, k × m. op(B) is k × n: B is stored k × n (row stride ldb) or,
    /// transposed, n × k. Matrix z starts at z times its batch stride.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Multiply(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias,
        int m, int n, int k, bool transA, bool transB, int lda, int ldb, int ldc,
        long batchA, long batchB, long batchC, float alpha, bool hasBias, bool accumulate)
    {
        var sa = SharedMemory.Allocate<float>(2 * Buffer);
        var sb = SharedMemory.Allocate<float>(2 * Buffer);
        int t = Group.IdxX, tx = t & 15, ty = t >> 4;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        long z = Grid.IdxZ;
        long aBase = z * batchA, bBase = z * batchB, cBase = z * batchC;

        // op(A)'s tile is 64 rows (m) by 16 (k); op(B)'s, read as its transpose, 64 columns (n) by 16 (k): one loader for both.
        var fa = Fetch(a, aBase, lda, m0, 0, m, k, !transA, t);
        var fb = Fetch(b, bBase, ldb, n0, 0, n, k, transB, t);
        Store(sa, 0, fa, !transA, t);
        Store(sb, 0, fb, transB, t);
        Group.Barrier();

        var acc = default(Block4x4);
        int steps = (k + TileK - 1) / TileK;
        for (int s = 0; s < steps; s++)
        {
            int cur = (s & 1) * Buffer, next = Buffer - cur;
            bool more = s + 1 < steps;
            if (more)
            {
                fa = Fetch(a, aBase, lda, m0, (s + 1) * TileK, m, k, !transA, t);
                fb = Fetch(b, bBase, ldb, n0, (s + 1) * TileK, n, k, transB, t);
            }
            for (int kk = 0; kk < TileK; kk += 4)
            {
                acc.Step(sa, sb, cur + kk * Stride, tx, ty);
                acc.Step(sa, sb, cur + (kk + 1) * Stride, tx, ty);
                acc.Step(sa, sb, cur + (kk + 2) * Stride, tx, ty);
                acc.Step(sa, sb, cur + (kk + 3) * Stride, tx, ty);
            }
            if (more)
            {
                // The other buffer was last read before the previous barrier, so it can be overwritten now.
                Store(sa, next, fa, !transA, t);
                Store(sb, next, fb, transB, t);
            }
            Group.Barrier();
        }

        int r = m0 + ty, col = n0 + tx;
        acc.Write(c, bias, cBase, r, col, m, n, ldc, alpha, hasBias, accumulate);
    }

    /// <summary>Four values of a 64 × 16 tile a thread fetches: its (outer, inner) positions depend on which way the source is
    /// contiguous, so a warp's loads are consecutive in memory either way.</summary>
    struct Four
    {
        public float V0, V1, V2, V3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Four Fetch(ArrayView<float> src, long start, int ld, int outer0, int inner0, int outerSize, int innerSize, bool innerContiguous, int t)
    {
        Four f;
        if (innerContiguous)
        {
            // element (o, i) at (outer0 + o)·ld + inner0 + i; a thread takes i = t mod 16 and o = t / 16 + 16r.
            int i = inner0 + (t & 15), o = outer0 + (t >> 4);
            bool inside = i < innerSize;
            f.V0 = inside && o < outerSize ? src[start + (long)o * ld + i] : 0f;
            f.V1 = inside && o + 16 < outerSize ? src[start + (long)(o + 16) * ld + i] : 0f;
            f.V2 = inside && o + 32 < outerSize ? src[start + (long)(o + 32) * ld + i] : 0f;
            f.V3 = inside && o + 48 < outerSize ? src[start + (long)(o + 48) * ld + i] : 0f;
        }
        else
        {
            // element (o, i) at (inner0 + i)·ld + outer0 + o; a thread takes o = t mod 64 and i = t / 64 + 4r.
            int o = outer0 + (t & 63), i = inner0 + (t >> 6);
            bool inside = o < outerSize;
            f.V0 = inside && i < innerSize ? src[start + (long)i * ld + o] : 0f;
            f.V1 = inside && i + 4 < innerSize ? src[start + (long)(i + 4) * ld + o] : 0f;
            f.V2 = inside && i + 8 < innerSize ? src[start + (long)(i + 8) * ld + o] : 0f;
            f.V3 = inside && i + 12 < innerSize ? src[start + (long)(i + 12) * ld + o] : 0f;
        }
        return f;
    }

    /// <summary>Writes a thread's four fetched values into a shared buffer laid out k-major: tile[i·Stride + o].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(ArrayView<float> tile, int buffer, Four f, bool innerContiguous, int t)
    {
        if (innerContiguous)
        {
            int at = buffer + (t & 15) * Stride + (t >> 4);
            tile[at] = f.V0;
            tile[at + 16] = f.V1;
            tile[at + 32] = f.V2;
            tile[at + 48] = f.V3;
        }
        else
        {
            int at = buffer + (t >> 6) * Stride + (t & 63);
            tile[at] = f.V0;
            tile[at + 4 * Stride] = f.V1;
            tile[at + 8 * Stride] = f.V2;
            tile[at + 12 * Stride] = f.V3;
        }
    }

    /// <summary>A thread's 4×4 block of C in registers: rows ty + 16i, columns tx + 16j of the tile.</summary>
    struct Block4x4
    {
        float _00, _01, _02, _03, _10, _11, _12, _13, _20, _21, _22, _23, _30, _31, _32, _33;

        /// <summary>One k of the rank-1 update: four values of op(A)'s column, four of op(B)'s row, sixteen FMAs.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(ArrayView<float> sa, ArrayView<float> sb, int row, int tx, int ty)
        {
            float a0 = sa[row + ty], a1 = sa[row + ty + 16], a2 = sa[row + ty + 32], a3 = sa[row + ty + 48];
            float b0 = sb[row + tx], b1 = sb[row + tx + 16], b2 = sb[row + tx + 32], b3 = sb[row + tx + 48];
            _00 += a0 * b0; _01 += a0 * b1; _02 += a0 * b2; _03 += a0 * b3;
            _10 += a1 * b0; _11 += a1 * b1; _12 += a1 * b2; _13 += a1 * b3;
            _20 += a2 * b0; _21 += a2 * b1; _22 += a2 * b2; _23 += a2 * b3;
            _30 += a3 * b0; _31 += a3 * b1; _32 += a3 * b2; _33 += a3 * b3;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Write(ArrayView<float> c, ArrayView<float> bias, long start, int r, int col, int m, int n, int ldc,
            float alpha, bool hasBias, bool accumulate)
        {
            WriteRow(c, bias, start, r, col, m, n, ldc, alpha, hasBias, accumulate, _00, _01, _02, _03);
            WriteRow(c, bias, start, r + 16, col, m, n, ldc, alpha, hasBias, accumulate, _10, _11, _12, _13);
            WriteRow(c, bias, start, r + 32, col, m, n, ldc, alpha, hasBias, accumulate, _20, _21, _22, _23);
            WriteRow(c, bias, start, r + 48, col, m, n, ldc, alpha, hasBias, accumulate, _30, _31, _32, _33);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void WriteRow(ArrayView<float> c, ArrayView<float> bias, long start, int r, int col, int m, int n, int ldc,
            float alpha, bool hasBias, bool accumulate, float v0, float v1, float v2, float v3)
        {
            if (r >= m) return;
            long at = start + (long)r * ldc + col;
            WriteOne(c, bias, at, col, n, alpha, hasBias, accumulate, v0);
            WriteOne(c, bias, at + 16, col + 16, n, alpha, hasBias, accumulate, v1);
            WriteOne(c, bias, at + 32, col + 32, n, alpha, hasBias, accumulate, v2);
            WriteOne(c, bias, at + 48, col + 48, n, alpha, hasBias, accumulate, v3);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void WriteOne(ArrayView<float> c, ArrayView<float> bias, long at, int col, int n, float alpha, bool hasBias, bool accumulate, float v)
        {
            if (col >= n) return;
            float y = alpha * v;
            if (hasBias) y += bias[col];
            c[at] = accumulate ? c[at] + y : y;
        }
    }
}
