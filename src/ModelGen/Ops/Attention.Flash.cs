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
/// Causal and key-padding masks and grouped-query heads as the row kernels; a row with every key masked outputs zeros.
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
        ArrayView<float> padding, int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, bool causal, bool hasPadding, float scale)
    {
        var ks = SharedMemory.Allocate<float>(Tile * Stride);
        var vs = SharedMemory.Allocate<float>(Tile * Stride);
        int lane = Warp.LaneIdx, b = Grid.IdxZ, h = Grid.IdxY, i0 = Grid.IdxX * RowsPerGroup, i = i0 + Warp.WarpIdx;
        int kv = h / (heads / kvHeads);
        bool row = i < nq;
        int limit = causal ? Math.Min(nk, i + 1) : nk, groupLimit = causal ? Math.Min(nk, i0 + RowsPerGroup) : nk;
        long qBase = ((long)b * nq + i) * heads * headDimK + (long)h * headDimK;
        float m = float.NegativeInfinity, l = 0f, a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
        for (int j0 = 0; j0 < groupLimit; j0 += Tile)
        {
            Group.Barrier();
            StageRows(ks, k, b, j0, nk, kvHeads, kv, headDimK);
            StageRows(vs, v, b, j0, nk, kvHeads, kv, headDimV);
            Group.Barrier();
            if (!row) continue;
            int j = j0 + lane;
            bool valid = j < limit && (!hasPadding || padding[(long)b * nk + j] == 0f);
            float s = float.NegativeInfinity;
            if (valid) s = scale * Dot(q, qBase, ks, lane * Stride, headDimK);
            float tileMax = WarpMax(s);
            if (tileMax == float.NegativeInfinity) continue;
            float mNew = MathF.Max(m, tileMax);
            float correction = MathF.Exp(m - mNew);
            float p = valid ? MathF.Exp(s - mNew) : 0f;
            l = l * correction + LayerNorm.WarpSum(p);
            a0 *= correction;
            a1 *= correction;
            a2 *= correction;
            a3 *= correction;
            int n = Math.Min(Tile, nk - j0);
            for (int jj = 0; jj < n; jj++)
            {
                float pj = Warp.Shuffle(p, jj);
                int at = jj * Stride + lane;
                a0 += pj * vs[at];
                a1 += pj * vs[at + 32];
                a2 += pj * vs[at + 64];
                a3 += pj * vs[at + 96];
            }
            m = mNew;
        }
        if (!row) return;
        float inv = l > 0f ? 1f / l : 0f;
        long oBase = ((long)b * nq + i) * heads * headDimV + (long)h * headDimV;
        if (lane < headDimV) o[oBase + lane] = a0 * inv;
        if (lane + 32 < headDimV) o[oBase + lane + 32] = a1 * inv;
        if (lane + 64 < headDimV) o[oBase + lane + 64] = a2 * inv;
        if (lane + 96 < headDimV) o[oBase + lane + 96] = a3 * inv;
        if (lane == 0) lse[((long)b * heads + h) * nq + i] = l > 0f ? m + MathF.Log(l) : float.NegativeInfinity;
    }

    /// <summary>dq += scale·Σ_j dS_ij·k_j with dS = P∘(dO·vᵀ − D), P recomputed from lse; writes D_i = dO_i·o_i (B, H, Nq) for
    /// the key kernel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void FlashBackwardQueryKernel(ArrayView<float> dq, ArrayView<float> dsum, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> padding,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, bool causal, bool hasPadding, float scale)
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
        float d = 0f, rowLse = float.NegativeInfinity;
        if (row)
        {
            for (int c = lane; c < headDimV; c += 32) d += dO[oBase + c] * o[oBase + c];
            d = LayerNorm.WarpSum(d);
            rowLse = lse[rowIndex];
            if (lane == 0) dsum[rowIndex] = d;
        }
        float g0 = 0f, g1 = 0f, g2 = 0f, g3 = 0f;
        for (int j0 = 0; j0 < groupLimit; j0 += Tile)
        {
            Group.Barrier();
            StageRows(ks, k, b, j0, nk, kvHeads, kv, headDimK);
            StageRows(vs, v, b, j0, nk, kvHeads, kv, headDimV);
            Group.Barrier();
            if (!row || rowLse == float.NegativeInfinity) continue;
            int j = j0 + lane;
            bool valid = j < limit && (!hasPadding || padding[(long)b * nk + j] == 0f);
            float ds = 0f;
            if (valid)
            {
                float p = MathF.Exp(scale * Dot(q, qBase, ks, lane * Stride, headDimK) - rowLse);
                ds = p * (Dot(dO, oBase, vs, lane * Stride, headDimV) - d);
            }
            int n = Math.Min(Tile, nk - j0);
            for (int jj = 0; jj < n; jj++)
            {
                float dj = Warp.Shuffle(ds, jj);
                int at = jj * Stride + lane;
                g0 += dj * ks[at];
                g1 += dj * ks[at + 32];
                g2 += dj * ks[at + 64];
                g3 += dj * ks[at + 96];
            }
        }
        if (!row) return;
        if (lane < headDimK) dq[qBase + lane] += scale * g0;
        if (lane + 32 < headDimK) dq[qBase + lane + 32] += scale * g1;
        if (lane + 64 < headDimK) dq[qBase + lane + 64] += scale * g2;
        if (lane + 96 < headDimK) dq[qBase + lane + 96] += scale * g3;
    }

    /// <summary>dk_j += scale·Σ dS_ij·q_i and dv_j += Σ P_ij·dO_i over the queries of every head sharing key head kv: a warp per
    /// key, the group staging 32 query rows (q, dO, lse, D) at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void FlashBackwardKeyValueKernel(ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dsum, ArrayView<float> padding,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, bool causal, bool hasPadding, float scale)
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
        float k0 = 0f, k1 = 0f, k2 = 0f, k3 = 0f, v0 = 0f, v1 = 0f, v2 = 0f, v3 = 0f;
        for (int h = kv * group; h < (kv + 1) * group; h++)
            for (int i0 = start; i0 < nq; i0 += Tile)
            {
                Group.Barrier();
                StageQueries(qs, q, b, i0, nq, heads, h, headDimK);
                StageQueries(gs, dO, b, i0, nq, heads, h, headDimV);
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
                    p = MathF.Exp(scale * Dot(k, kBase, qs, lane * Stride, headDimK) - rowLse);
                    ds = p * (Dot(v, vBase, gs, lane * Stride, headDimV) - rowStats[Tile + lane]);
                }
                int n = Math.Min(Tile, nq - i0);
                for (int ii = 0; ii < n; ii++)
                {
                    float pi = Warp.Shuffle(p, ii), di = Warp.Shuffle(ds, ii);
                    int at = ii * Stride + lane;
                    v0 += pi * gs[at];
                    v1 += pi * gs[at + 32];
                    v2 += pi * gs[at + 64];
                    v3 += pi * gs[at + 96];
                    k0 += di * qs[at];
                    k1 += di * qs[at + 32];
                    k2 += di * qs[at + 64];
                    k3 += di * qs[at + 96];
                }
            }
        if (!key) return;
        if (lane < headDimK) dk[kBase + lane] += scale * k0;
        if (lane + 32 < headDimK) dk[kBase + lane + 32] += scale * k1;
        if (lane + 64 < headDimK) dk[kBase + lane + 64] += scale * k2;
        if (lane + 96 < headDimK) dk[kBase + lane + 96] += scale * k3;
        if (lane < headDimV) dv[vBase + lane] += v0;
        if (lane + 32 < headDimV) dv[vBase + lane + 32] += v1;
        if (lane + 64 < headDimV) dv[vBase + lane + 64] += v2;
        if (lane + 96 < headDimV) dv[vBase + lane + 96] += v3;
    }

    /// <summary>The probabilities (B, H, Nq, Nk) recomputed from the forward's lse, for attention maps and Intermediate
    /// (the flash forward does not write them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ProbabilitiesKernel(ArrayView<float> probs, ArrayView<float> q, ArrayView<float> k, ArrayView<float> lse, ArrayView<float> padding,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, bool causal, bool hasPadding, float scale)
    {
        int lane = Warp.LaneIdx, b = Grid.IdxZ, h = Grid.IdxY, i = Grid.IdxX * RowsPerGroup + Warp.WarpIdx;
        if (i >= nq) return;
        int kv = h / (heads / kvHeads);
        long qBase = ((long)b * nq + i) * heads * headDimK + (long)h * headDimK;
        long rowIndex = ((long)b * heads + h) * nq + i;
        float rowLse = lse[rowIndex];
        for (int j = lane; j < nk; j += 32)
        {
            bool valid = (!causal || j <= i) && (!hasPadding || padding[(long)b * nk + j] == 0f) && rowLse != float.NegativeInfinity;
            float p = 0f;
            if (valid)
            {
                long kBase = ((long)b * nk + j) * kvHeads * headDimK + (long)kv * headDimK;
                float s = 0f;
                for (int c = 0; c < headDimK; c++) s += q[qBase + c] * k[kBase + c];
                p = MathF.Exp(scale * s - rowLse);
            }
            probs[rowIndex * nk + j] = p;
        }
    }

    /// <summary>Rows j0..j0+31 of a key-side tensor (B, Nk, KvH·width), head kv, into a shared tile (zeros past nk). Columns past
    /// width are never read, except by lanes whose results are dropped, so stale values there do no harm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StageRows(ArrayView<float> tile, ArrayView<float> src, int b, int j0, int nk, int kvHeads, int kv, int width)
    {
        for (int e = Group.IdxX; e < Tile * width; e += 32 * RowsPerGroup)
        {
            int r = e / width, c = e - r * width, j = j0 + r;
            tile[r * Stride + c] = j < nk ? src[((long)b * nk + j) * kvHeads * width + (long)kv * width + c] : 0f;
        }
    }

    /// <summary>Rows i0..i0+31 of a query-side tensor (B, Nq, H·width), head h, into a shared tile (zeros past nq).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StageQueries(ArrayView<float> tile, ArrayView<float> src, int b, int i0, int nq, int heads, int h, int width)
    {
        for (int e = Group.IdxX; e < Tile * width; e += 32 * RowsPerGroup)
        {
            int r = e / width, c = e - r * width, i = i0 + r;
            tile[r * Stride + c] = i < nq ? src[((long)b * nq + i) * heads * width + (long)h * width + c] : 0f;
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float WarpMax(float v)
    {
        v = MathF.Max(v, Warp.ShuffleXor(v, 16));
        v = MathF.Max(v, Warp.ShuffleXor(v, 8));
        v = MathF.Max(v, Warp.ShuffleXor(v, 4));
        v = MathF.Max(v, Warp.ShuffleXor(v, 2));
        return MathF.Max(v, Warp.ShuffleXor(v, 1));
    }
}
