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
    // Per-thread scratch for a query block's probabilities and their gradients, grown on demand (a global block's row spans every key).
    [ThreadStatic] static float[]? t_p;
    [ThreadStatic] static float[]? t_dp;

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

    /// <summary>o and the log-sum-exp, a task per (sample, head, query block): the scores of each listed key block one block
    /// product, a softmax per row across them, then o as the sum of the probability blocks times the value blocks.</summary>
    public static void Forward(float[] o, float[] lse, float[] q, float[] k, float[] v, float[]? padding, float[] layout, int batch, int tokens, int heads, int kvHeads,
        int headDimK, int headDimV, int block, bool causal, float scale)
    {
        int blocks = tokens / block, group = heads / kvHeads;
        Workers.For(batch * heads * blocks, task =>
        {
            int qb = task % blocks, h = task / blocks % heads, b = task / (blocks * heads), g = h / group;
            int start = At(layout, 1 + qb), end = At(layout, 2 + qb), width = (end - start) * block;
            var p = ThreadScratch.AtLeast(ref t_p, block * width);
            Scores(p, q, k, padding, layout, start, end, b, h, g, qb, tokens, heads, kvHeads, headDimK, block, causal, scale);
            for (int r = 0; r < block; r++)
            {
                var row = p.AsSpan(r * width, width);
                float max = TensorPrimitives.Max(row);
                if (float.IsNegativeInfinity(max))
                {
                    // Every key the row sees is padded: it attends to nothing and gives 0, as the dense attention does.
                    row.Clear();
                    lse[(b * heads + h) * tokens + qb * block + r] = float.NegativeInfinity;
                    continue;
                }
                TensorPrimitives.Subtract(row, max, row);
                TensorPrimitives.Exp(row, row);
                float sum = TensorPrimitives.Sum(row);
                TensorPrimitives.Multiply(row, 1f / sum, row);
                lse[(b * heads + h) * tokens + qb * block + r] = max + MathF.Log(sum);
            }
            int oOffset = (b * tokens + qb * block) * heads * headDimV + h * headDimV;
            for (int e = start; e < end; e++)
                Gemm.MultiplySerial(false, false, block, headDimV, block, p, (e - start) * block, width,
                    v, (b * tokens + At(layout, 2 + blocks + e) * block) * kvHeads * headDimV + g * headDimV, kvHeads * headDimV,
                    o, oOffset, heads * headDimV, accumulate: e > start);
        });
    }

    /// <summary>The scaled scores (block, listed keys) of query block qb, a block product per key block, −∞ after the query when
    /// causal and at padded keys.</summary>
    static void Scores(float[] scores, float[] q, float[] k, float[]? padding, float[] layout, int start, int end, int b, int h, int g, int qb, int tokens, int heads,
        int kvHeads, int headDimK, int block, bool causal, float scale)
    {
        int blocks = At(layout, 0), width = (end - start) * block;
        for (int e = start; e < end; e++)
        {
            int kb = At(layout, 2 + blocks + e);
            Gemm.MultiplySerial(false, true, block, block, headDimK, q, (b * tokens + qb * block) * heads * headDimK + h * headDimK, heads * headDimK,
                k, (b * tokens + kb * block) * kvHeads * headDimK + g * headDimK, kvHeads * headDimK, scores, (e - start) * block, width, accumulate: false);
            for (int r = 0; r < block; r++)
            {
                var cells = scores.AsSpan(r * width + (e - start) * block, block);
                TensorPrimitives.Multiply(cells, scale, cells);
                if (causal && kb == qb) cells.Slice(r + 1).Fill(float.NegativeInfinity);
                MaskPadded(cells, padding, b, tokens, kb * block);
            }
        }
    }

    /// <summary>−∞ at the cells of padded keys (the block's keys start at token <paramref name="first"/>).</summary>
    static void MaskPadded(Span<float> cells, float[]? padding, int b, int tokens, int first)
    {
        if (padding is null) return;
        for (int c = 0; c < cells.Length; c++)
            if (padding[b * tokens + first + c] != 0f) cells[c] = float.NegativeInfinity;
    }

    /// <summary>P = exp(S − lse) and dS = P ∘ (dP − Σ dO·o)·scale of one query block over some key blocks, in place: p holds the
    /// scores and becomes P, dp holds dO·Vᵀ and becomes dS.</summary>
    static void Gradients(Span<float> p, Span<float> dp, float[] lse, float[] dsum, int rowStart, int rows, int width, float scale)
    {
        for (int r = 0; r < rows; r++)
        {
            var pr = p.Slice(r * width, width);
            var dr = dp.Slice(r * width, width);
            if (float.IsNegativeInfinity(lse[rowStart + r]))
            {
                // A row that sees only padded keys has no probabilities and no gradient.
                pr.Clear();
                dr.Clear();
                continue;
            }
            TensorPrimitives.Subtract(pr, lse[rowStart + r], pr);
            TensorPrimitives.Exp(pr, pr);
            TensorPrimitives.Subtract(dr, dsum[rowStart + r], dr);
            TensorPrimitives.Multiply(dr, pr, dr);
            TensorPrimitives.Multiply(dr, scale, dr);
        }
    }

    /// <summary>dq, dk, dv accumulate (+=): dq a task per (sample, head, query block), then dk and dv a task per (sample, key/value
    /// head, key block) over the query blocks that read it; every product a block product.</summary>
    public static void Backward(float[] dq, float[] dk, float[] dv, float[] dO, float[] q, float[] k, float[] v, float[] o, float[] lse, float[]? padding,
        float[] layout, int batch, int tokens, int heads, int kvHeads, int headDimK, int headDimV, int block, bool causal, float scale)
    {
        int blocks = tokens / block, group = heads / kvHeads, columns = ColumnsAt(layout);
        // Σ dO·o of each query row: the first pass writes its own block's rows, the second reads every block's.
        var dsum = new float[batch * heads * tokens];
        Workers.For(batch * heads * blocks, task =>
        {
            int qb = task % blocks, h = task / blocks % heads, b = task / (blocks * heads), g = h / group;
            int start = At(layout, 1 + qb), end = At(layout, 2 + qb), width = (end - start) * block;
            var p = ThreadScratch.AtLeast(ref t_p, block * width);
            var dp = ThreadScratch.AtLeast(ref t_dp, block * width);
            Scores(p, q, k, padding, layout, start, end, b, h, g, qb, tokens, heads, kvHeads, headDimK, block, causal, scale);
            int dOOffset = (b * tokens + qb * block) * heads * headDimV + h * headDimV;
            for (int r = 0; r < block; r++)
                dsum[(b * heads + h) * tokens + qb * block + r] =
                    TensorPrimitives.Dot(dO.AsSpan(dOOffset + r * heads * headDimV, headDimV), o.AsSpan(dOOffset + r * heads * headDimV, headDimV));
            for (int e = start; e < end; e++)
                Gemm.MultiplySerial(false, true, block, block, headDimV, dO, dOOffset, heads * headDimV,
                    v, (b * tokens + At(layout, 2 + blocks + e) * block) * kvHeads * headDimV + g * headDimV, kvHeads * headDimV, dp, (e - start) * block, width, accumulate: false);
            Gradients(p.AsSpan(0, block * width), dp.AsSpan(0, block * width), lse, dsum, (b * heads + h) * tokens + qb * block, block, width, scale);
            for (int e = start; e < end; e++)
                Gemm.MultiplySerial(false, false, block, headDimK, block, dp, (e - start) * block, width,
                    k, (b * tokens + At(layout, 2 + blocks + e) * block) * kvHeads * headDimK + g * headDimK, kvHeads * headDimK,
                    dq, (b * tokens + qb * block) * heads * headDimK + h * headDimK, heads * headDimK, accumulate: true);
        });
        Workers.For(batch * kvHeads * blocks, task =>
        {
            int kb = task % blocks, g = task / blocks % kvHeads, b = task / (blocks * kvHeads);
            int start = At(layout, columns + kb), end = At(layout, columns + 1 + kb);
            var p = ThreadScratch.AtLeast(ref t_p, block * block);
            var dp = ThreadScratch.AtLeast(ref t_dp, block * block);
            int kOffset = (b * tokens + kb * block) * kvHeads * headDimK + g * headDimK, vOffset = (b * tokens + kb * block) * kvHeads * headDimV + g * headDimV;
            for (int e = start; e < end; e++)
            {
                int qb = At(layout, columns + 1 + blocks + e);
                for (int t = 0; t < group; t++)
                {
                    int h = g * group + t;
                    int qOffset = (b * tokens + qb * block) * heads * headDimK + h * headDimK, dOOffset = (b * tokens + qb * block) * heads * headDimV + h * headDimV;
                    Gemm.MultiplySerial(false, true, block, block, headDimK, q, qOffset, heads * headDimK, k, kOffset, kvHeads * headDimK, p, 0, block, accumulate: false);
                    for (int r = 0; r < block; r++)
                    {
                        var cells = p.AsSpan(r * block, block);
                        TensorPrimitives.Multiply(cells, scale, cells);
                        if (causal && kb == qb) cells.Slice(r + 1).Fill(float.NegativeInfinity);
                        MaskPadded(cells, padding, b, tokens, kb * block);
                    }
                    Gemm.MultiplySerial(false, true, block, block, headDimV, dO, dOOffset, heads * headDimV, v, vOffset, kvHeads * headDimV, dp, 0, block, accumulate: false);
                    Gradients(p.AsSpan(0, block * block), dp.AsSpan(0, block * block), lse, dsum, (b * heads + h) * tokens + qb * block, block, block, scale);
                    Gemm.MultiplySerial(true, false, block, headDimV, block, p, 0, block, dO, dOOffset, heads * headDimV, dv, vOffset, kvHeads * headDimV, accumulate: true);
                    Gemm.MultiplySerial(true, false, block, headDimK, block, dp, 0, block, q, qOffset, heads * headDimK, dk, kOffset, kvHeads * headDimK, accumulate: true);
                }
            }
        });
    }

    // Device kernels: a thread per query row forward (two passes over its keys: the log-sum-exp, then o) and for dq (writing the
    // row's Σ dO·o), then a thread per key row for dk and dv through the transpose.

    /// <summary>Extent: batch·heads·tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D index, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> padding, ArrayView<float> layout, int batch, int tokens, int heads, int kvHeads, int headDimK, int headDimV, int block, bool causal,
        bool hasPadding, float scale)
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
                if ((causal && j > i) || (hasPadding && padding[(long)b * tokens + j] != 0f)) continue;
                float s = scale * Dot(q, qo, k, ((long)b * tokens + j) * kvHeads * headDimK + (long)g * headDimK, headDimK);
                float next = MathF.Max(max, s);
                sum = sum * MathF.Exp(max - next) + MathF.Exp(s - next);
                max = next;
            }
        }
        for (int e = 0; e < headDimV; e++) o[oo + e] = 0f;
        if (sum == 0f)
        {
            lse[index] = float.NegativeInfinity;
            return;
        }
        float total = max + MathF.Log(sum);
        lse[index] = total;
        for (int p = start; p < end; p++)
        {
            int first = (int)Interop.FloatAsInt(layout[2 + blocks + p]) * block;
            for (int j = first; j < first + block; j++)
            {
                if ((causal && j > i) || (hasPadding && padding[(long)b * tokens + j] != 0f)) continue;
                float prob = MathF.Exp(scale * Dot(q, qo, k, ((long)b * tokens + j) * kvHeads * headDimK + (long)g * headDimK, headDimK) - total);
                long vo = ((long)b * tokens + j) * kvHeads * headDimV + (long)g * headDimV;
                for (int e = 0; e < headDimV; e++) o[oo + e] += prob * v[vo + e];
            }
        }
    }

    /// <summary>Extent: batch·heads·tokens. dsum[row] = dO·o, then dq += scale·Σ_j p_j(dO·v_j − dsum)·k_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardQueryKernel(Index1D index, ArrayView<float> dq, ArrayView<float> dsum, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> padding, ArrayView<float> layout, int batch, int tokens, int heads, int kvHeads,
        int headDimK, int headDimV, int block, bool causal, bool hasPadding, float scale)
    {
        if (index >= (long)batch * heads * tokens) return;
        int i = (int)(index % tokens), h = (int)(index / tokens % heads), b = (int)(index / ((long)tokens * heads)), g = h / (heads / kvHeads);
        int blocks = tokens / block, qb = i / block;
        int start = (int)Interop.FloatAsInt(layout[1 + qb]), end = (int)Interop.FloatAsInt(layout[2 + qb]);
        long qo = ((long)b * tokens + i) * heads * headDimK + (long)h * headDimK, oo = ((long)b * tokens + i) * heads * headDimV + (long)h * headDimV;
        float d = Dot(dO, oo, o, oo, headDimV);
        dsum[index] = d;
        float total = lse[index];
        if (total == float.NegativeInfinity) return;
        for (int p = start; p < end; p++)
        {
            int first = (int)Interop.FloatAsInt(layout[2 + blocks + p]) * block;
            for (int j = first; j < first + block; j++)
            {
                if ((causal && j > i) || (hasPadding && padding[(long)b * tokens + j] != 0f)) continue;
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
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dsum, ArrayView<float> padding, ArrayView<float> layout, int batch, int tokens, int heads,
        int kvHeads, int headDimK, int headDimV, int block, bool causal, bool hasPadding, float scale)
    {
        if (index >= (long)batch * kvHeads * tokens) return;
        int j = (int)(index % tokens), g = (int)(index / tokens % kvHeads), b = (int)(index / ((long)tokens * kvHeads));
        // A padded key is read by no query: no gradient.
        if (hasPadding && padding[(long)b * tokens + j] != 0f) return;
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
