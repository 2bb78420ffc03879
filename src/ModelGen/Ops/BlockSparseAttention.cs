using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Exact softmax attention over a block-sparse pattern, computed block by block and never as a masked N×N: the tokens fall into
/// blocks of <c>block</c>, and each query block attends to the key blocks its row of a constant layout lists: a sliding window
/// (local attention), global blocks (attending to and attended by every block), strided blocks (Sparse Transformer), random
/// blocks, or BigBird's union of window, global and random. Causal drops key blocks after the query's and masks keys after the
/// query inside its own. q (B, N, H·dk), k (B, N, G·dk), v (B, N, G·dv) -> o (B, N, H·dv); saved: each row's log-sum-exp
/// (B, H, N). Backward recomputes the probabilities: dq row by row, then dk and dv key row by key row through the layout's
/// transpose (which query blocks read each key block), so no two threads write one row.
/// The layout holds integers as float bits: the block count, then for each query block the offsets and sorted key blocks
/// (CSR), then for each key block the offsets and sorted query blocks (its transpose).
/// </summary>
public static class BlockSparseAttention
{
    /// <summary>The pattern over <paramref name="blocks"/> blocks: the window of ±<paramref name="window"/> blocks, the first
    /// <paramref name="globalBlocks"/> blocks global (their rows full, their columns in every row), every block at a distance that
    /// is a multiple of <paramref name="stride"/> (0: none), and <paramref name="randomBlocks"/> more blocks per row drawn from
    /// <paramref name="seed"/> among those not yet in it; when causal, only blocks at or before the row.</summary>
    public static float[] Layout(int blocks, int window, int globalBlocks, int randomBlocks, int stride, bool causal, int seed)
    {
        if (blocks < 1) throw new ArgumentOutOfRangeException(nameof(blocks), blocks, "The block count must be positive.");
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "The window must be 0 or more blocks.");
        if (globalBlocks < 0 || globalBlocks > blocks)
            throw new ArgumentOutOfRangeException(nameof(globalBlocks), globalBlocks, $"The global blocks must be between 0 and the {blocks} blocks.");
        if (randomBlocks < 0) throw new ArgumentOutOfRangeException(nameof(randomBlocks), randomBlocks, "The random blocks must be 0 or more.");
        if (stride < 0) throw new ArgumentOutOfRangeException(nameof(stride), stride, "The stride must be 0 (none) or positive.");
        var random = new Random(seed);
        var rows = new List<int>[blocks];
        for (int i = 0; i < blocks; i++)
        {
            int last = causal ? i : blocks - 1;
            var set = new SortedSet<int>();
            if (i < globalBlocks)
                for (int j = 0; j <= last; j++) set.Add(j);
            else
            {
                for (int j = Math.Max(0, i - window); j <= Math.Min(last, i + window); j++) set.Add(j);
                for (int j = 0; j < Math.Min(globalBlocks, last + 1); j++) set.Add(j);
                if (stride > 0)
                    for (int j = i % stride; j <= last; j += stride) set.Add(j);
                var candidates = Enumerable.Range(0, last + 1).Where(j => !set.Contains(j)).ToArray();
                for (int r = 0; r < Math.Min(randomBlocks, candidates.Length); r++)
                {
                    int pick = r + random.Next(candidates.Length - r);
                    (candidates[r], candidates[pick]) = (candidates[pick], candidates[r]);
                    set.Add(candidates[r]);
                }
            }
            rows[i] = set.ToList();
        }
        var columns = Enumerable.Range(0, blocks).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < blocks; i++)
            foreach (int j in rows[i]) columns[j].Add(i);
        var table = new List<float> { Bits(blocks) };
        foreach (var lists in new[] { rows, columns })
        {
            int offset = 0;
            table.Add(Bits(0));
            foreach (var list in lists) table.Add(Bits(offset += list.Count));
            foreach (var list in lists)
                foreach (int j in list) table.Add(Bits(j));
        }
        return table.ToArray();
    }

    static float Bits(int v) => BitConverter.Int32BitsToSingle(v);

    static int At(float[] layout, int p) => BitConverter.SingleToInt32Bits(layout[p]);

    /// <summary>Where the transpose begins: after the count, the row offsets and the row lists.</summary>
    static int ColumnsAt(float[] layout)
    {
        int blocks = At(layout, 0);
        return 2 + blocks + At(layout, 1 + blocks);
    }

    /// <summary>The pattern as a dense (blocks, blocks) mask, 1 where a query block attends to a key block (for reports and twins).</summary>
    public static float[] BlockMask(float[] layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        int blocks = At(layout, 0);
        var mask = new float[blocks * blocks];
        for (int i = 0; i < blocks; i++)
            for (int p = At(layout, 1 + i); p < At(layout, 2 + i); p++) mask[i * blocks + At(layout, 2 + blocks + p)] = 1f;
        return mask;
    }

    /// <summary>How many (query block, key block) pairs the pattern computes.</summary>
    public static int Pairs(float[] layout) => At(layout, 1 + At(layout, 0));

    /// <summary>o and the log-sum-exp, a task per (sample, head, query block).</summary>
    public static void Forward(float[] o, float[] lse, float[] q, float[] k, float[] v, float[] layout, int batch, int tokens, int heads, int kvHeads,
        int headDimK, int headDimV, int block, bool causal, float scale)
    {
        int blocks = tokens / block, group = heads / kvHeads;
        Workers.For(batch * heads * blocks, task =>
        {
            int qb = task % blocks, h = task / blocks % heads, b = task / (blocks * heads), g = h / group;
            int start = At(layout, 1 + qb), end = At(layout, 2 + qb);
            var scores = new float[(end - start) * block];
            for (int i = qb * block; i < (qb + 1) * block; i++)
            {
                var qi = q.AsSpan((b * tokens + i) * heads * headDimK + h * headDimK, headDimK);
                Scores(scores, qi, k, layout, start, end, b, g, i, tokens, kvHeads, headDimK, block, causal, scale);
                float max = TensorPrimitives.Max(scores);
                TensorPrimitives.Subtract(scores, max, scores);
                TensorPrimitives.Exp(scores, scores);
                float sum = TensorPrimitives.Sum(scores);
                lse[(b * heads + h) * tokens + i] = max + MathF.Log(sum);
                var oi = o.AsSpan((b * tokens + i) * heads * headDimV + h * headDimV, headDimV);
                oi.Clear();
                int c = 0;
                for (int p = start; p < end; p++)
                    for (int j = At(layout, 2 + blocks + p) * block, stop = j + block; j < stop; j++, c++)
                        if (scores[c] != 0f) TensorPrimitives.MultiplyAdd(v.AsSpan((b * tokens + j) * kvHeads * headDimV + g * headDimV, headDimV), scores[c], oi, oi);
                TensorPrimitives.Multiply(oi, 1f / sum, oi);
            }
        });
    }

    /// <summary>The scaled scores of query row i over the keys of its listed blocks, −∞ after it when causal.</summary>
    static void Scores(float[] scores, ReadOnlySpan<float> qi, float[] k, float[] layout, int start, int end, int b, int g, int i, int tokens, int kvHeads,
        int headDimK, int block, bool causal, float scale)
    {
        int blocks = At(layout, 0), c = 0;
        for (int p = start; p < end; p++)
            for (int j = At(layout, 2 + blocks + p) * block, stop = j + block; j < stop; j++, c++)
                scores[c] = causal && j > i ? float.NegativeInfinity
                    : scale * TensorPrimitives.Dot(qi, k.AsSpan((b * tokens + j) * kvHeads * headDimK + g * headDimK, headDimK));
    }

    /// <summary>dq, dk, dv accumulate (+=): dq a task per (sample, head, query block), then dk and dv a task per (sample, key/value
    /// head, key block) over the query blocks that read it.</summary>
    public static void Backward(float[] dq, float[] dk, float[] dv, float[] dO, float[] q, float[] k, float[] v, float[] o, float[] lse, float[] layout,
        int batch, int tokens, int heads, int kvHeads, int headDimK, int headDimV, int block, bool causal, float scale)
    {
        int blocks = tokens / block, group = heads / kvHeads, columns = ColumnsAt(layout);
        var dsum = new float[batch * heads * tokens];
        Workers.For(batch * heads * blocks, task =>
        {
            int qb = task % blocks, h = task / blocks % heads, b = task / (blocks * heads), g = h / group;
            int start = At(layout, 1 + qb), end = At(layout, 2 + qb);
            var scores = new float[(end - start) * block];
            for (int i = qb * block; i < (qb + 1) * block; i++)
            {
                int row = (b * heads + h) * tokens + i;
                var qi = q.AsSpan((b * tokens + i) * heads * headDimK + h * headDimK, headDimK);
                var dOi = dO.AsSpan((b * tokens + i) * heads * headDimV + h * headDimV, headDimV);
                var dqi = dq.AsSpan((b * tokens + i) * heads * headDimK + h * headDimK, headDimK);
                float d = dsum[row] = TensorPrimitives.Dot(dOi, o.AsSpan((b * tokens + i) * heads * headDimV + h * headDimV, headDimV));
                Scores(scores, qi, k, layout, start, end, b, g, i, tokens, kvHeads, headDimK, block, causal, scale);
                int c = 0;
                for (int p = start; p < end; p++)
                    for (int j = At(layout, 2 + blocks + p) * block, stop = j + block; j < stop; j++, c++)
                    {
                        if (float.IsNegativeInfinity(scores[c])) continue;
                        float prob = MathF.Exp(scores[c] - lse[row]);
                        float ds = prob * (TensorPrimitives.Dot(dOi, v.AsSpan((b * tokens + j) * kvHeads * headDimV + g * headDimV, headDimV)) - d);
                        TensorPrimitives.MultiplyAdd(k.AsSpan((b * tokens + j) * kvHeads * headDimK + g * headDimK, headDimK), scale * ds, dqi, dqi);
                    }
            }
        });
        Workers.For(batch * kvHeads * blocks, task =>
        {
            int kb = task % blocks, g = task / blocks % kvHeads, b = task / (blocks * kvHeads);
            int start = At(layout, columns + kb), end = At(layout, columns + 1 + kb);
            for (int j = kb * block; j < (kb + 1) * block; j++)
            {
                var kj = k.AsSpan((b * tokens + j) * kvHeads * headDimK + g * headDimK, headDimK);
                var vj = v.AsSpan((b * tokens + j) * kvHeads * headDimV + g * headDimV, headDimV);
                var dkj = dk.AsSpan((b * tokens + j) * kvHeads * headDimK + g * headDimK, headDimK);
                var dvj = dv.AsSpan((b * tokens + j) * kvHeads * headDimV + g * headDimV, headDimV);
                for (int p = start; p < end; p++)
                {
                    int qb = At(layout, columns + 1 + blocks + p);
                    for (int t = 0; t < group; t++)
                    {
                        int h = g * group + t;
                        for (int i = Math.Max(qb * block, causal ? j : 0); i < (qb + 1) * block; i++)
                        {
                            int row = (b * heads + h) * tokens + i;
                            var qi = q.AsSpan((b * tokens + i) * heads * headDimK + h * headDimK, headDimK);
                            var dOi = dO.AsSpan((b * tokens + i) * heads * headDimV + h * headDimV, headDimV);
                            float prob = MathF.Exp(scale * TensorPrimitives.Dot(qi, kj) - lse[row]);
                            TensorPrimitives.MultiplyAdd(dOi, prob, dvj, dvj);
                            float ds = prob * (TensorPrimitives.Dot(dOi, vj) - dsum[row]);
                            TensorPrimitives.MultiplyAdd(qi, scale * ds, dkj, dkj);
                        }
                    }
                }
            }
        });
    }

    // Device kernels: a thread per query row forward (two passes over its keys: the log-sum-exp, then o) and for dq (writing the
    // row's Σ dO·o), then a thread per key row for dk and dv through the transpose.

    /// <summary>Extent: batch·heads·tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D index, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> layout, int batch, int tokens, int heads, int kvHeads, int headDimK, int headDimV, int block, bool causal, float scale)
    {
        if (index >= (long)batch * heads * tokens) return;
        int i = (int)(index % tokens), h = (int)(index / tokens % heads), b = (int)(index / ((long)tokens * heads)), g = h / (heads / kvHeads);
        int blocks = tokens / block, qb = i / block;
        int start = (int)Interop.FloatAsInt(layout[1 + qb]), end = (int)Interop.FloatAsInt(layout[2 + qb]);
        long qo = ((long)b * tokens + i) * heads * headDimK + (long)h * headDimK, oo = ((long)b * tokens + i) * heads * headDimV + (long)h * headDimV;
        float max = float.NegativeInfinity, sum = 0f;
        for (int p = start; p < end; p++)
        {
            int first = (int)Interop.FloatAsInt(layout[2 + blocks + p]) * block;
            for (int j = first; j < first + block; j++)
            {
                if (causal && j > i) continue;
                float s = scale * Dot(q, qo, k, ((long)b * tokens + j) * kvHeads * headDimK + (long)g * headDimK, headDimK);
                float next = MathF.Max(max, s);
                sum = sum * MathF.Exp(max - next) + MathF.Exp(s - next);
                max = next;
            }
        }
        float total = max + MathF.Log(sum);
        lse[index] = total;
        for (int e = 0; e < headDimV; e++) o[oo + e] = 0f;
        for (int p = start; p < end; p++)
        {
            int first = (int)Interop.FloatAsInt(layout[2 + blocks + p]) * block;
            for (int j = first; j < first + block; j++)
            {
                if (causal && j > i) continue;
                float prob = MathF.Exp(scale * Dot(q, qo, k, ((long)b * tokens + j) * kvHeads * headDimK + (long)g * headDimK, headDimK) - total);
                long vo = ((long)b * tokens + j) * kvHeads * headDimV + (long)g * headDimV;
                for (int e = 0; e < headDimV; e++) o[oo + e] += prob * v[vo + e];
            }
        }
    }

    /// <summary>Extent: batch·heads·tokens. dsum[row] = dO·o, then dq += scale·Σ_j p_j(dO·v_j − dsum)·k_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardQueryKernel(Index1D index, ArrayView<float> dq, ArrayView<float> dsum, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> layout, int batch, int tokens, int heads, int kvHeads, int headDimK,
        int headDimV, int block, bool causal, float scale)
    {
        if (index >= (long)batch * heads * tokens) return;
        int i = (int)(index % tokens), h = (int)(index / tokens % heads), b = (int)(index / ((long)tokens * heads)), g = h / (heads / kvHeads);
        int blocks = tokens / block, qb = i / block;
        int start = (int)Interop.FloatAsInt(layout[1 + qb]), end = (int)Interop.FloatAsInt(layout[2 + qb]);
        long qo = ((long)b * tokens + i) * heads * headDimK + (long)h * headDimK, oo = ((long)b * tokens + i) * heads * headDimV + (long)h * headDimV;
        float d = Dot(dO, oo, o, oo, headDimV);
        dsum[index] = d;
        float total = lse[index];
        for (int p = start; p < end; p++)
        {
            int first = (int)Interop.FloatAsInt(layout[2 + blocks + p]) * block;
            for (int j = first; j < first + block; j++)
            {
                if (causal && j > i) continue;
                long ko = ((long)b * tokens + j) * kvHeads * headDimK + (long)g * headDimK;
                float prob = MathF.Exp(scale * Dot(q, qo, k, ko, headDimK) - total);
                float ds = prob * (Dot(dO, oo, v, ((long)b * tokens + j) * kvHeads * headDimV + (long)g * headDimV, headDimV) - d) * scale;
                for (int e = 0; e < headDimK; e++) dq[qo + e] += ds * k[ko + e];
            }
        }
    }

    /// <summary>Extent: batch·kvHeads·tokens, a thread per key row: dv += Σ p·dO, dk += scale·Σ p(dO·v − dsum)·q over the query
    /// rows (of every head of the group) whose blocks read this key's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKeyValueKernel(Index1D index, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dsum, ArrayView<float> layout, int batch, int tokens, int heads, int kvHeads, int headDimK,
        int headDimV, int block, bool causal, float scale)
    {
        if (index >= (long)batch * kvHeads * tokens) return;
        int j = (int)(index % tokens), g = (int)(index / tokens % kvHeads), b = (int)(index / ((long)tokens * kvHeads));
        int blocks = tokens / block, kb = j / block, group = heads / kvHeads;
        int columns = 2 + blocks + (int)Interop.FloatAsInt(layout[1 + blocks]);
        int start = (int)Interop.FloatAsInt(layout[columns + kb]), end = (int)Interop.FloatAsInt(layout[columns + 1 + kb]);
        long ko = ((long)b * tokens + j) * kvHeads * headDimK + (long)g * headDimK, vo = ((long)b * tokens + j) * kvHeads * headDimV + (long)g * headDimV;
        for (int p = start; p < end; p++)
        {
            int first = (int)Interop.FloatAsInt(layout[columns + 1 + blocks + p]) * block;
            for (int t = 0; t < group; t++)
            {
                int h = g * group + t;
                for (int i = first; i < first + block; i++)
                {
                    if (causal && i < j) continue;
                    long row = ((long)b * heads + h) * tokens + i;
                    long qo = ((long)b * tokens + i) * heads * headDimK + (long)h * headDimK, oo = ((long)b * tokens + i) * heads * headDimV + (long)h * headDimV;
                    float prob = MathF.Exp(scale * Dot(q, qo, k, ko, headDimK) - lse[row]);
                    float ds = prob * (Dot(dO, oo, v, vo, headDimV) - dsum[row]) * scale;
                    for (int e = 0; e < headDimV; e++) dv[vo + e] += prob * dO[oo + e];
                    for (int e = 0; e < headDimK; e++) dk[ko + e] += ds * q[qo + e];
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(ArrayView<float> a, long ao, ArrayView<float> b, long bo, int n)
    {
        float s = 0f;
        for (int e = 0; e < n; e++) s += a[ao + e] * b[bo + e];
        return s;
    }
}
