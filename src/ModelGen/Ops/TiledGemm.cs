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
/// sizes as literals and launch with <see cref="Config"/>; with <c>tensorCores</c> (the device's opt-in TF32) the same tiles
/// run on the tensor cores (TiledGemm.TensorCores.cs).
/// </summary>
public static partial class TiledGemm
{
    public const int TileM = 64, TileN = 64, TileK = 16, Threads = 256;

    /// <summary>A shared tile row of the FP32 block holds 64 values and one pad, so the transposing stores of a warp hit distinct banks.</summary>
    const int Stride = TileM + 1;

    /// <summary>The widest row stride a block uses (the tensor cores'); shared memory is allocated for it.</summary>
    const int MaxStride = MmaStride;

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
        long batchA, long batchB, long batchC, float alpha, bool hasBias, bool accumulate, bool tensorCores)
    {
        long z = Grid.IdxZ;
        // op(A)'s tile is read as (m, k), op(B)'s as its transpose (n, k): one loader for both.
        Multiply(c, new Dense(a, z * batchA, lda, !transA), new Dense(b, z * batchB, ldb, transB), bias,
            m, n, 0, k, ldc, z * batchC, alpha, hasBias, biasPerRow: false, accumulate, tensorCores);
    }

    /// <summary>
    /// The tiled product over any operands: C (m × n at <paramref name="cStart"/>, row stride ldc) = alpha · A·B over k in
    /// [kBegin, kEnd) (+ bias per column, or per row with <paramref name="biasPerRow"/>) (+ C when accumulating). A gives
    /// element (row, k) and B element (column, k), so an operand may be a stored matrix (<see cref="Dense"/>) or computed on
    /// the fly, as a convolution's unfolded image is (implicit GEMM).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Multiply<TA, TB>(ArrayView<float> c, TA a, TB b, ArrayView<float> bias, int m, int n, int kBegin, int kEnd,
        int ldc, long cStart, float alpha, bool hasBias, bool biasPerRow, bool accumulate, bool tensorCores)
        where TA : struct, ITileOperand
        where TB : struct, ITileOperand =>
        Multiply(a, b, m, n, kBegin, kEnd, new Plain(c, bias, cStart, ldc, alpha, hasBias, biasPerRow, accumulate), tensorCores);

    /// <summary>The tiled product A·B over k in [kBegin, kEnd), each (row, column) of the m × n result handed to
    /// <paramref name="epilogue"/> once, in registers (a fused bias, activation or second output costs no extra pass). With
    /// <paramref name="tensorCores"/> the operands are rounded to TF32 and multiplied on the tensor cores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Multiply<TA, TB, TE>(TA a, TB b, int m, int n, int kBegin, int kEnd, TE epilogue, bool tensorCores)
        where TA : struct, ITileOperand
        where TB : struct, ITileOperand
        where TE : struct, ITileEpilogue
    {
        if (tensorCores) Run(a, b, m, n, kBegin, kEnd, epilogue, new WarpBlock(Group.IdxX));
        else Run(a, b, m, n, kBegin, kEnd, epilogue, new Block4x4(Group.IdxX));
    }

    /// <summary>The group's loop over k, the same for both ways of multiplying a tile (<typeparamref name="TK"/>): fetch the first
    /// 16 of k into shared memory; then, while the block multiplies one buffer, each thread holds its part of the next in
    /// registers and stores it into the other buffer afterwards, one barrier a step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Run<TA, TB, TE, TK>(TA a, TB b, int m, int n, int kBegin, int kEnd, TE epilogue, TK block)
        where TA : struct, ITileOperand
        where TB : struct, ITileOperand
        where TE : struct, ITileEpilogue
        where TK : struct, ITileBlock
    {
        var sa = SharedMemory.Allocate<float>(2 * TileK * MaxStride);
        var sb = SharedMemory.Allocate<float>(2 * TileK * MaxStride);
        int t = Group.IdxX;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        // A launch sized for a larger product (the widest of several along Z) has tiles past this one's edge: the whole group
        // leaves before any barrier.
        if (m0 >= m || n0 >= n) return;
        int stride = block.Stride, buffer = TileK * stride;

        var fa = Fetch(a, m0, kBegin, m, kEnd, t);
        var fb = Fetch(b, n0, kBegin, n, kEnd, t);
        Store(sa, 0, block.Prepare(fa), a.InnerContiguous, t, stride);
        Store(sb, 0, block.Prepare(fb), b.InnerContiguous, t, stride);
        Group.Barrier();

        int steps = kEnd > kBegin ? (kEnd - kBegin + TileK - 1) / TileK : 0;
        for (int s = 0; s < steps; s++)
        {
            int cur = (s & 1) * buffer, next = buffer - cur;
            bool more = s + 1 < steps;
            if (more)
            {
                fa = Fetch(a, m0, kBegin + (s + 1) * TileK, m, kEnd, t);
                fb = Fetch(b, n0, kBegin + (s + 1) * TileK, n, kEnd, t);
            }
            block.Step(sa, sb, cur);
            if (more)
            {
                // The other buffer was last read before the previous barrier, so it can be overwritten now.
                Store(sa, next, block.Prepare(fa), a.InnerContiguous, t, stride);
                Store(sb, next, block.Prepare(fb), b.InnerContiguous, t, stride);
            }
            Group.Barrier();
        }

        block.Write(epilogue, m0, n0, m, n);
    }

    /// <summary>How a thread's share of a 64×64 tile is multiplied and held: the FP32 4×4 register block, or a warp's TF32
    /// tensor-core fragments.</summary>
    interface ITileBlock
    {
        /// <summary>The shared tiles' row stride (at most <see cref="MaxStride"/>) that keeps its reads free of bank conflicts.</summary>
        int Stride { get; }

        /// <summary>Fetched values as they go into shared memory (rounded, for TF32).</summary>
        Four Prepare(Four f);

        /// <summary>The 16 k of the buffer at <paramref name="buffer"/>.</summary>
        void Step(ArrayView<float> sa, ArrayView<float> sb, int buffer);

        /// <summary>Hands every value inside the m × n bounds to the epilogue; (m0, n0) is the tile's corner.</summary>
        void Write<TE>(TE e, int m0, int n0, int m, int n) where TE : struct, ITileEpilogue;
    }

    // ---- split-K: a long inner dimension (weight gradients, summed over every row of the batch) is cut into slices that
    // run side by side along the grid's Z, each writing its own partial product; a second kernel adds them in a fixed order.

    /// <summary>Groups a split product aims for (two per SM of a large GPU), slices at most, and the least k a slice gets.</summary>
    public const int SplitGroups = 264, MaxSplits = 16, MinSliceDepth = 256;

    static int WantedSplits(int m, int n)
    {
        int tiles = ((m + TileM - 1) / TileM) * ((n + TileN - 1) / TileN);
        return System.Math.Min(MaxSplits, (SplitGroups + tiles - 1) / tiles);
    }

    /// <summary>How many slices an (m × n) product over <paramref name="k"/> runs in: enough groups to fill the device, each
    /// slice at least <see cref="MinSliceDepth"/> deep.</summary>
    public static int Splits(int m, int n, int k) => System.Math.Max(1, System.Math.Min(WantedSplits(m, n), k / MinSliceDepth));

    /// <summary>Floats of partial products an (m × n) split product may need (0 when it never splits).</summary>
    public static long SplitWorkspace(int m, int n)
    {
        int wanted = WantedSplits(m, n);
        return wanted > 1 ? (long)wanted * m * n : 0;
    }

    /// <summary>The launch of a split (m × n) product over k: one slice per Z.</summary>
    public static KernelConfig SplitConfig(int m, int n, int k) => Config(m, n, Splits(m, n, k));

    /// <summary>
    /// target (m × n, row stride ldc) += A·B over k, in <see cref="Splits"/> slices: with one, straight into target; with more,
    /// slice z writes its partial product into workspace[z·m·n ...] and <see cref="SumSplitsKernel"/> adds them afterwards.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplySplit<TA, TB>(ArrayView<float> target, ArrayView<float> workspace, TA a, TB b, int m, int n, int k, int ldc,
        bool tensorCores)
        where TA : struct, ITileOperand
        where TB : struct, ITileOperand
    {
        int splits = Splits(m, n, k);
        if (splits == 1)
        {
            Multiply(target, a, b, target, m, n, 0, k, ldc, 0, 1f, hasBias: false, biasPerRow: false, accumulate: true, tensorCores);
            return;
        }
        int z = Grid.IdxZ;
        int slice = ((k + splits - 1) / splits + TileK - 1) / TileK * TileK;
        int begin = z * slice, end = System.Math.Min(k, begin + slice);
        Multiply(workspace, a, b, target, m, n, begin, end, n, (long)z * m * n, 1f, hasBias: false, biasPerRow: false, accumulate: false, tensorCores);
    }

    /// <summary>Extent: m · n. target[r, col] += Σ_z workspace[z, r, col] over the slices of <see cref="MultiplySplit"/>, in
    /// order (deterministic); nothing when the product ran in one slice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SumSplitsKernel(Index1D i, ArrayView<float> target, ArrayView<float> workspace, int m, int n, int k, int ldc)
    {
        int splits = Splits(m, n, k);
        if (splits == 1 || i >= m * n) return;
        long count = (long)m * n;
        float s = 0f;
        for (int z = 0; z < splits; z++) s += workspace[z * count + i];
        int r = i / n, col = i - r * n;
        target[(long)r * ldc + col] += s;
    }

    /// <summary>
    /// An operand of the tiled product, read as (outer, inner): A's (row, k) or B's (column, k). <see cref="InnerContiguous"/>
    /// says which index a warp should run along so its loads are consecutive (or nearly, for a gathered operand).
    /// </summary>
    public interface ITileOperand
    {
        bool InnerContiguous { get; }

        /// <summary>The element at (outer, inner); called only inside the product's bounds.</summary>
        float At(int outer, int inner);
    }

    /// <summary>A stored matrix: element (outer, inner) at start + outer·ld + inner, or start + inner·ld + outer when the
    /// matrix is stored the other way round.</summary>
    public readonly struct Dense : ITileOperand
    {
        readonly ArrayView<float> _view;
        readonly long _start;
        readonly int _ld;
        readonly bool _innerContiguous;

        public Dense(ArrayView<float> view, long start, int ld, bool innerContiguous)
        {
            _view = view;
            _start = start;
            _ld = ld;
            _innerContiguous = innerContiguous;
        }

        public bool InnerContiguous => _innerContiguous;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner) =>
            _innerContiguous ? _view[_start + (long)outer * _ld + inner] : _view[_start + (long)inner * _ld + outer];
    }

    /// <summary>What becomes of each element of the product: called once per (row, column) inside the m × n bounds, with the
    /// sum over k.</summary>
    public interface ITileEpilogue
    {
        void Write(int row, int column, float sum);
    }

    /// <summary>The plain product: C[at] = alpha·sum (+ bias per column, or per row) (+ C[at] when accumulating), C at
    /// start + row·ldc + column.</summary>
    public readonly struct Plain : ITileEpilogue
    {
        readonly ArrayView<float> _c, _bias;
        readonly long _start;
        readonly int _ldc;
        readonly float _alpha;
        readonly bool _hasBias, _biasPerRow, _accumulate;

        public Plain(ArrayView<float> c, ArrayView<float> bias, long start, int ldc, float alpha, bool hasBias, bool biasPerRow, bool accumulate)
        {
            _c = c; _bias = bias; _start = start; _ldc = ldc; _alpha = alpha;
            _hasBias = hasBias; _biasPerRow = biasPerRow; _accumulate = accumulate;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(int row, int column, float sum)
        {
            long at = _start + (long)row * _ldc + column;
            float y = _alpha * sum;
            if (_hasBias) y += _bias[_biasPerRow ? row : column];
            _c[at] = _accumulate ? _c[at] + y : y;
        }
    }

    /// <summary>Four values of a 64 × 16 tile a thread fetches: its (outer, inner) positions depend on which way the source is
    /// contiguous, so a warp's loads are consecutive in memory either way.</summary>
    struct Four
    {
        public float V0, V1, V2, V3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Four Fetch<T>(T src, int outer0, int inner0, int outerSize, int innerEnd, int t) where T : struct, ITileOperand
    {
        Four f;
        if (src.InnerContiguous)
        {
            // a thread takes inner = t mod 16 and outer = t / 16 + 16r.
            int i = inner0 + (t & 15), o = outer0 + (t >> 4);
            bool inside = i < innerEnd;
            f.V0 = inside && o < outerSize ? src.At(o, i) : 0f;
            f.V1 = inside && o + 16 < outerSize ? src.At(o + 16, i) : 0f;
            f.V2 = inside && o + 32 < outerSize ? src.At(o + 32, i) : 0f;
            f.V3 = inside && o + 48 < outerSize ? src.At(o + 48, i) : 0f;
        }
        else
        {
            // a thread takes outer = t mod 64 and inner = t / 64 + 4r.
            int o = outer0 + (t & 63), i = inner0 + (t >> 6);
            bool inside = o < outerSize;
            f.V0 = inside && i < innerEnd ? src.At(o, i) : 0f;
            f.V1 = inside && i + 4 < innerEnd ? src.At(o, i + 4) : 0f;
            f.V2 = inside && i + 8 < innerEnd ? src.At(o, i + 8) : 0f;
            f.V3 = inside && i + 12 < innerEnd ? src.At(o, i + 12) : 0f;
        }
        return f;
    }

    /// <summary>Writes a thread's four fetched values into a shared buffer laid out k-major: tile[i·stride + o].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(ArrayView<float> tile, int buffer, Four f, bool innerContiguous, int t, int stride)
    {
        if (innerContiguous)
        {
            int at = buffer + (t & 15) * stride + (t >> 4);
            tile[at] = f.V0;
            tile[at + 16] = f.V1;
            tile[at + 32] = f.V2;
            tile[at + 48] = f.V3;
        }
        else
        {
            int at = buffer + (t >> 6) * stride + (t & 63);
            tile[at] = f.V0;
            tile[at + 4 * stride] = f.V1;
            tile[at + 8 * stride] = f.V2;
            tile[at + 12 * stride] = f.V3;
        }
    }

    /// <summary>A thread's 4×4 block of C in registers: rows ty + 16i, columns tx + 16j of the tile.</summary>
    struct Block4x4 : ITileBlock
    {
        readonly int _tx, _ty;
        float _00, _01, _02, _03, _10, _11, _12, _13, _20, _21, _22, _23, _30, _31, _32, _33;

        public Block4x4(int t)
        {
            this = default;
            _tx = t & 15;
            _ty = t >> 4;
        }

        public readonly int Stride => TiledGemm.Stride;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly Four Prepare(Four f) => f;

        /// <summary>16 rank-1 updates, unrolled by four.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(ArrayView<float> sa, ArrayView<float> sb, int buffer)
        {
            for (int kk = 0; kk < TileK; kk += 4)
            {
                Rank1(sa, sb, buffer + kk * TiledGemm.Stride);
                Rank1(sa, sb, buffer + (kk + 1) * TiledGemm.Stride);
                Rank1(sa, sb, buffer + (kk + 2) * TiledGemm.Stride);
                Rank1(sa, sb, buffer + (kk + 3) * TiledGemm.Stride);
            }
        }

        /// <summary>One k of the rank-1 update: four values of op(A)'s column, four of op(B)'s row, sixteen FMAs.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        void Rank1(ArrayView<float> sa, ArrayView<float> sb, int row)
        {
            int tx = _tx, ty = _ty;
            float a0 = sa[row + ty], a1 = sa[row + ty + 16], a2 = sa[row + ty + 32], a3 = sa[row + ty + 48];
            float b0 = sb[row + tx], b1 = sb[row + tx + 16], b2 = sb[row + tx + 32], b3 = sb[row + tx + 48];
            _00 += a0 * b0; _01 += a0 * b1; _02 += a0 * b2; _03 += a0 * b3;
            _10 += a1 * b0; _11 += a1 * b1; _12 += a1 * b2; _13 += a1 * b3;
            _20 += a2 * b0; _21 += a2 * b1; _22 += a2 * b2; _23 += a2 * b3;
            _30 += a3 * b0; _31 += a3 * b1; _32 += a3 * b2; _33 += a3 * b3;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Write<TE>(TE e, int m0, int n0, int m, int n) where TE : struct, ITileEpilogue
        {
            int r = m0 + _ty, col = n0 + _tx;
            WriteRow(e, r, col, m, n, _00, _01, _02, _03);
            WriteRow(e, r + 16, col, m, n, _10, _11, _12, _13);
            WriteRow(e, r + 32, col, m, n, _20, _21, _22, _23);
            WriteRow(e, r + 48, col, m, n, _30, _31, _32, _33);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void WriteRow<TE>(TE e, int r, int col, int m, int n, float v0, float v1, float v2, float v3) where TE : struct, ITileEpilogue
        {
            if (r >= m) return;
            if (col < n) e.Write(r, col, v0);
            if (col + 16 < n) e.Write(r, col + 16, v1);
            if (col + 32 < n) e.Write(r, col + 32, v2);
            if (col + 48 < n) e.Write(r, col + 48, v3);
        }
    }
}
