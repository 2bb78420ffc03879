using System;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Flash-style attention on the device, for head widths up to <see cref="MaxHeadDim"/> (wider heads use the row kernels).
/// A group is eight warps, a warp one query row of one (batch, head); the group stages 32 keys and values at a time in
/// shared memory and each warp runs the online softmax over them (a lane per key for the scores, a lane per output column
/// for the weighted sum), so the N×N probabilities are never written: the forward keeps only each row's log-sum-exp.
/// Backward recomputes the probabilities from it, in two deterministic kernels (no atomics): one per query row for dq (and
/// the row's D = dO·O), one per key row for dk and dv over the queries of every head that shares the key's head.
/// Causal and key-padding masks, the score bias (added, or masking where nonzero) and grouped-query heads as the row kernels;
/// a row with every key masked outputs zeros. With a bias gradient the query kernel adds each dS_ij into dBias (a warp owns a row).
/// </summary>
public static partial class Attention
{
    public const int MaxHeadDim = 128;
    const int Tile = 32, RowsPerGroup = 8, Stride = MaxHeadDim + 1;

    /// <summary>Whether the flash kernels take heads of these widths.</summary>
    public static bool FlashFits(int headDimK, int headDimV) => headDimK <= MaxHeadDim && headDimV <= MaxHeadDim;

    public static KernelConfig FlashForwardKernelConfig(int batch, int nq, int heads) => QueryConfig(batch, nq, heads);

    public static KernelConfig FlashBackwardQueryKernelConfig(int batch, int nq, int heads) => QueryConfig(batch, nq, heads);

    public static KernelConfig FlashBackwardKeyValueKernelConfig(int batch, int nk, int kvHeads) =>
        new(new Index3D((nk + RowsPerGroup - 1) / RowsPerGroup, kvHeads, batch), new Index3D(32 * RowsPerGroup, 1, 1));

    public static KernelConfig ProbabilitiesKernelConfig(int batch, int nq, int heads) => QueryConfig(batch, nq, heads);

    static KernelConfig QueryConfig(int batch, int nq, int heads) =>
        new(new Index3D((nq + RowsPerGroup - 1) / RowsPerGroup, heads, batch), new Index3D(32 * RowsPerGroup, 1, 1));

    /// <summary>o (B, Nq, H·dv) and lse (B, H, Nq) from q (B, Nq, H·dk), k (B, Nk, KvH·dk), v (B, Nk, KvH·dv).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void FlashForwardKernel(ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> padding, ArrayView<float> bias, int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV,
        int biasBatch, int biasHead, bool causal, bool hasPadding, bool hasBias, bool maskBias, float scale)
    {
        var ks = SharedMemory.Allocate<float>(Tile * Stride);
        var vs = SharedMemory.Allocate<float>(Tile * Stride);
        int lane = Warp.LaneIdx, b = Grid.IdxZ, h = Grid.IdxY, i0 = Grid.IdxX * RowsPerGroup, i = i0 + Warp.WarpIdx;
        int kv = h / (heads / kvHeads);
        bool row = i < nq;
        int limit = causal ? Math.Min(nk, i + 1) : nk, groupLimit = causal ? Math.Min(nk, i0 + RowsPerGroup) : nk;
        long qBase = ((long)b * nq + i) * heads * headDimK + (long)h * headDimK;
        long biasRow = BiasRow(b, h, i, nk, biasBatch, biasHead);
        float m = float.NegativeInfinity, l = 0f;
        var acc = default(LaneColumns);
        for (int j0 = 0; j0 < groupLimit; j0 += Tile)
        {
            Group.Barrier();
            Stage(ks, k, b, j0, nk, kvHeads, kv, headDimK);
            Stage(vs, v, b, j0, nk, kvHeads, kv, headDimV);
            Group.Barrier();
            if (!row) continue;
            int j = j0 + lane;
            bool valid = j < limit && (!hasPadding || padding[(long)b * nk + j] == 0f);
            float s = float.NegativeInfinity;
            if (valid) s = Score(scale * Dot(q, qBase, ks, lane * Stride, headDimK), bias, biasRow + j, hasBias, maskBias);
            float tileMax = WarpReduce.Max(s);
            if (tileMax == float.NegativeInfinity) continue;
            float mNew = MathF.Max(m, tileMax);
            float correction = MathF.Exp(m - mNew);
            float p = valid && s != float.NegativeInfinity ? MathF.Exp(s - mNew) : 0f;
            l = l * correction + WarpReduce.Sum(p);
            acc.Scale(correction);
            int n = Math.Min(Tile, nk - j0);
            for (int jj = 0; jj < n; jj++) acc.Add(Warp.Shuffle(p, jj), vs, jj * Stride + lane);
            m = mNew;
        }
        if (!row) return;
        long oBase = ((long)b * nq + i) * heads * headDimV + (long)h * headDimV;
        acc.Write(o, oBase + lane, lane, headDimV, l > 0f ? 1f / l : 0f, accumulate: false);
        if (lane == 0) lse[((long)b * heads + h) * nq + i] = l > 0f ? m + MathF.Log(l) : float.NegativeInfinity;
    }

    /// <summary>dq += scale·Σ_j dS_ij·k_j with dS = P∘(dO·vᵀ − D), P recomputed from lse; writes D_i = dO_i·o_i (B, H, Nq) for
    /// the key kernel, and accumulates dS into dBias (B, H, Nq, Nk) when the score bias needs a gradient.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void FlashBackwardQueryKernel(ArrayView<float> dq, ArrayView<float> dsum, ArrayView<float> dBias, ArrayView<float> dO, ArrayView<float> q,
        ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> padding, ArrayView<float> bias,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, int biasBatch, int biasHead,
        bool causal, bool hasPadding, bool hasBias, bool maskBias, bool hasBiasGrad, float scale)
    {
        var ks = SharedMemory.Allocate<float>(Tile * Stride);
        var vs = SharedMemory.Allocate<float>(Tile * Stride);
        int lane = Warp.LaneIdx, b = Grid.IdxZ, h = Grid.IdxY, i0 = Grid.IdxX * RowsPerGroup, i = i0 + Warp.WarpIdx;
        int kv = h / (heads / kvHeads);
        bool row = i < nq;
        int limit = causal ? Math.Min(nk, i + 1) : nk, groupLimit = causal ? Math.Min(nk, i0 + RowsPerGroup) : nk;
        long qBase = ((long)b * nq + i) * heads * headDimK + (long)h * headDimK;
        long oBase = ((long)b * nq + i) * heads * headDimV + (long)h * headDimV;
        long rowIndex = ((long)b * heads + h) * nq + i;
        long biasRow = BiasRow(b, h, i, nk, biasBatch, biasHead);
        float d = 0f, rowLse = float.NegativeInfinity;
        if (row)
        {
            for (int c = lane; c < headDimV; c += 32) d += dO[oBase + c] * o[oBase + c];
            d = WarpReduce.Sum(d);
            rowLse = lse[rowIndex];
            if (lane == 0) dsum[rowIndex] = d;
        }
        var g = default(LaneColumns);
        for (int j0 = 0; j0 < groupLimit; j0 += Tile)
        {
            Group.Barrier();
            Stage(ks, k, b, j0, nk, kvHeads, kv, headDimK);
            Stage(vs, v, b, j0, nk, kvHeads, kv, headDimV);
            Group.Barrier();
            if (!row || rowLse == float.NegativeInfinity) continue;
            int j = j0 + lane;
            bool valid = j < limit && (!hasPadding || padding[(long)b * nk + j] == 0f);
            float ds = 0f;
            if (valid)
            {
                float s = Score(scale * Dot(q, qBase, ks, lane * Stride, headDimK), bias, biasRow + j, hasBias, maskBias);
                float p = s == float.NegativeInfinity ? 0f : MathF.Exp(s - rowLse);
                ds = p * (Dot(dO, oBase, vs, lane * Stride, headDimV) - d);
                if (hasBiasGrad) dBias[rowIndex * nk + j] += ds;
            }
            int n = Math.Min(Tile, nk - j0);
            for (int jj = 0; jj < n; jj++) g.Add(Warp.Shuffle(ds, jj), ks, jj * Stride + lane);
        }
        if (row) g.Write(dq, qBase + lane, lane, headDimK, scale, accumulate: true);
    }

    /// <summary>dk_j += scale·Σ dS_ij·q_i and dv_j += Σ P_ij·dO_i over the queries of every head sharing key head kv: a warp per
    /// key, the group staging 32 query rows (q, dO, lse, D) at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void FlashBackwardKeyValueKernel(ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dsum, ArrayView<float> padding, ArrayView<float> bias,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, int biasBatch, int biasHead,
        bool causal, bool hasPadding, bool hasBias, bool maskBias, float scale)
    {
        var qs = SharedMemory.Allocate<float>(Tile * Stride);
        var gs = SharedMemory.Allocate<float>(Tile * Stride);
        var rowStats = SharedMemory.Allocate<float>(2 * Tile);
        int lane = Warp.LaneIdx, b = Grid.IdxZ, kv = Grid.IdxY, j0 = Grid.IdxX * RowsPerGroup, j = j0 + Warp.WarpIdx;
        int group = heads / kvHeads;
        bool key = j < nk && (!hasPadding || padding[(long)b * nk + j] == 0f);
        long kBase = ((long)b * nk + j) * kvHeads * headDimK + (long)kv * headDimK;
        long vBase = ((long)b * nk + j) * kvHeads * headDimV + (long)kv * headDimV;
        int start = causal ? j0 / Tile * Tile : 0;
        var gk = default(LaneColumns);
        var gv = default(LaneColumns);
        for (int h = kv * group; h < (kv + 1) * group; h++)
            for (int i0 = start; i0 < nq; i0 += Tile)
            {
                Group.Barrier();
                Stage(qs, q, b, i0, nq, heads, h, headDimK);
                Stage(gs, dO, b, i0, nq, heads, h, headDimV);
                int t = Group.IdxX;
                if (t < Tile)
                {
                    long r = ((long)b * heads + h) * nq + i0 + t;
                    bool inside = i0 + t < nq;
                    rowStats[t] = inside ? lse[r] : float.NegativeInfinity;
                    rowStats[Tile + t] = inside ? dsum[r] : 0f;
                }
                Group.Barrier();
                if (!key) continue;
                int i = i0 + lane;
                float rowLse = rowStats[lane];
                bool valid = i < nq && (!causal || j <= i) && rowLse != float.NegativeInfinity;
                float p = 0f, ds = 0f;
                if (valid)
                {
                    float s = Score(scale * Dot(k, kBase, qs, lane * Stride, headDimK), bias, BiasRow(b, h, i, nk, biasBatch, biasHead) + j, hasBias, maskBias);
                    p = s == float.NegativeInfinity ? 0f : MathF.Exp(s - rowLse);
                    ds = p * (Dot(v, vBase, gs, lane * Stride, headDimV) - rowStats[Tile + lane]);
                }
                int n = Math.Min(Tile, nq - i0);
                for (int ii = 0; ii < n; ii++)
                {
                    int at = ii * Stride + lane;
                    gv.Add(Warp.Shuffle(p, ii), gs, at);
                    gk.Add(Warp.Shuffle(ds, ii), qs, at);
                }
            }
        if (!key) return;
        gk.Write(dk, kBase + lane, lane, headDimK, scale, accumulate: true);
        gv.Write(dv, vBase + lane, lane, headDimV, 1f, accumulate: true);
    }

    /// <summary>The probabilities (B, H, Nq, Nk) recomputed from the forward's lse, for attention maps and Intermediate
    /// (the flash forward does not write them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ProbabilitiesKernel(ArrayView<float> probs, ArrayView<float> q, ArrayView<float> k, ArrayView<float> lse, ArrayView<float> padding,
        ArrayView<float> bias, int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int biasBatch, int biasHead,
        bool causal, bool hasPadding, bool hasBias, bool maskBias, float scale)
    {
        int lane = Warp.LaneIdx, b = Grid.IdxZ, h = Grid.IdxY, i = Grid.IdxX * RowsPerGroup + Warp.WarpIdx;
        if (i >= nq) return;
        int kv = h / (heads / kvHeads);
        long qBase = ((long)b * nq + i) * heads * headDimK + (long)h * headDimK;
        long rowIndex = ((long)b * heads + h) * nq + i;
        float rowLse = lse[rowIndex];
        long biasRow = BiasRow(b, h, i, nk, biasBatch, biasHead);
        for (int j = lane; j < nk; j += 32)
        {
            bool valid = (!causal || j <= i) && (!hasPadding || padding[(long)b * nk + j] == 0f) && rowLse != float.NegativeInfinity;
            float p = 0f;
            if (valid)
            {
                long kBase = ((long)b * nk + j) * kvHeads * headDimK + (long)kv * headDimK;
                float s = 0f;
                for (int c = 0; c < headDimK; c++) s += q[qBase + c] * k[kBase + c];
                s = Score(scale * s, bias, biasRow + j, hasBias, maskBias);
                p = s == float.NegativeInfinity ? 0f : MathF.Exp(s - rowLse);
            }
            probs[rowIndex * nk + j] = p;
        }
    }

    /// <summary>A scaled score with the score bias applied when there is one (see <see cref="Biased"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Score(float scaled, ArrayView<float> bias, long at, bool hasBias, bool maskBias) =>
        hasBias ? Biased(scaled, bias, at, maskBias) : scaled;

    /// <summary>Rows r0..r0+31 of one head of a (B, rows, heads·width) tensor (queries, keys, values or their gradients) into a
    /// shared tile, zeros past the last row. Columns past width are never read, except by lanes whose results are dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Stage(ArrayView<float> tile, ArrayView<float> src, int b, int r0, int rows, int heads, int head, int width)
    {
        for (int e = Group.IdxX; e < Tile * width; e += 32 * RowsPerGroup)
        {
            int r = e / width, c = e - r * width, row = r0 + r;
            tile[r * Stride + c] = row < rows ? src[((long)b * rows + row) * heads * width + (long)head * width + c] : 0f;
        }
    }

    /// <summary>Σ_c x[xBase + c]·tile[at + c] over c &lt; width (x read in global memory, the same address across the warp).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(ArrayView<float> x, long xBase, ArrayView<float> tile, int at, int width)
    {
        float s = 0f;
        for (int c = 0; c < width; c++) s += x[xBase + c] * tile[at + c];
        return s;
    }

    /// <summary>A lane's four columns of a row up to 128 wide (lane, lane + 32, lane + 64, lane + 96), in registers.</summary>
    struct LaneColumns
    {
        float _c0, _c1, _c2, _c3;

        /// <summary>Adds w times the tile row starting at <paramref name="at"/> (this lane's column in it).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(float w, ArrayView<float> tile, int at)
        {
            _c0 += w * tile[at];
            _c1 += w * tile[at + 32];
            _c2 += w * tile[at + 64];
            _c3 += w * tile[at + 96];
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Scale(float f)
        {
            _c0 *= f;
            _c1 *= f;
            _c2 *= f;
            _c3 *= f;
        }

        /// <summary>Writes (or adds) factor times the columns below width, starting at this lane's address.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Write(ArrayView<float> dst, long at, int lane, int width, float factor, bool accumulate)
        {
            Put(dst, at, lane < width, factor * _c0, accumulate);
            Put(dst, at + 32, lane + 32 < width, factor * _c1, accumulate);
            Put(dst, at + 64, lane + 64 < width, factor * _c2, accumulate);
            Put(dst, at + 96, lane + 96 < width, factor * _c3, accumulate);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Put(ArrayView<float> dst, long at, bool inside, float v, bool accumulate)
        {
            if (inside) dst[at] = accumulate ? dst[at] + v : v;
        }
    }
}
