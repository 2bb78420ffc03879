using System;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Relative position biases of attention scores. The learned kind (T5's <c>relative_attention_bias</c>, Swin's relative position
/// bias table) is a table (T, H) of one bias per relative-position bucket and head, gathered into the score bias
/// y (B, H, Nq, Nk) through a constant index of Nq·Nk bucket numbers: y[b, h, i, j] = table[index[i·Nk + j], h]. Backward
/// accumulates dtable[t, h] += Σ_b Σ_(i,j in bucket t) dy[b, h, i, j], in a fixed order (no atomics), reading the positions of
/// each bucket from a second constant. ALiBi's fixed linear biases are a constant table too. Index tables hold integers as
/// the bits of floats (<see cref="BitConverter.Int32BitsToSingle"/>), so any size is exact.
/// </summary>
public static class RelativeBias
{
    /// <summary>T5's bucket of each (query i, key j) for the relative position j − i: half the buckets for keys after the query
    /// when bidirectional (else only keys before it count), the first half of each side exact distances, the rest logarithmic
    /// up to maxDistance (computed in float32, as T5's PyTorch code does).</summary>
    public static float[] T5Index(int nq, int nk, int buckets, int maxDistance, bool bidirectional)
    {
        int side = bidirectional ? buckets / 2 : buckets, exact = side / 2;
        if (exact < 1) throw new ArgumentOutOfRangeException(nameof(buckets), buckets, $"T5 buckets need at least {(bidirectional ? 4 : 2)} buckets here.");
        if (maxDistance <= exact) throw new ArgumentOutOfRangeException(nameof(maxDistance), maxDistance, $"The maximum distance must exceed the {exact} exact buckets.");
        var index = new float[(long)nq * nk];
        float logRange = (float)Math.Log(maxDistance / (double)exact);
        for (int i = 0; i < nq; i++)
            for (int j = 0; j < nk; j++)
            {
                int relative = j - i, bucket = 0;
                if (bidirectional)
                {
                    if (relative > 0) bucket = side;
                    relative = Math.Abs(relative);
                }
                else relative = -Math.Min(relative, 0);
                if (relative < exact) bucket += relative;
                else
                {
                    int large = exact + (int)(MathF.Log(relative / (float)exact) / logRange * (side - exact));
                    bucket += Math.Min(large, side - 1);
                }
                index[(long)i * nk + j] = BitConverter.Int32BitsToSingle(bucket);
            }
        return index;
    }

    /// <summary>Buckets of clipped relative distance (Shaw et al.): clip(j − i, −maxDistance, maxDistance) + maxDistance, so
    /// 2·maxDistance + 1 buckets.</summary>
    public static float[] ClippedIndex(int nq, int nk, int maxDistance)
    {
        if (maxDistance < 1) throw new ArgumentOutOfRangeException(nameof(maxDistance), maxDistance, "The clip distance must be positive.");
        var index = new float[(long)nq * nk];
        for (int i = 0; i < nq; i++)
            for (int j = 0; j < nk; j++)
                index[(long)i * nk + j] = BitConverter.Int32BitsToSingle(Math.Clamp(j - i, -maxDistance, maxDistance) + maxDistance);
        return index;
    }

    /// <summary>The positions of each bucket, for backward: buckets + 1 offsets, then the flat positions i·Nk + j grouped by
    /// bucket in increasing order (integers as float bits).</summary>
    public static float[] Positions(float[] index, int buckets)
    {
        var count = new int[buckets + 1];
        foreach (float f in index)
        {
            int t = BitConverter.SingleToInt32Bits(f);
            if ((uint)t >= (uint)buckets) throw new ArgumentException($"The index names bucket {t}, but there are {buckets}.", nameof(index));
            count[t + 1]++;
        }
        for (int t = 0; t < buckets; t++) count[t + 1] += count[t];
        var table = new float[buckets + 1 + index.Length];
        for (int t = 0; t <= buckets; t++) table[t] = BitConverter.Int32BitsToSingle(count[t]);
        var next = (int[])count.Clone();
        for (int p = 0; p < index.Length; p++)
            table[buckets + 1 + next[BitConverter.SingleToInt32Bits(index[p])]++] = BitConverter.Int32BitsToSingle(p);
        return table;
    }

    /// <summary>ALiBi's head slopes (Press et al.): 2^(−8(h+1)/n) for n heads a power of two; otherwise those of the largest
    /// power of two below, then every other slope of twice that many.</summary>
    public static double[] AlibiSlopes(int heads)
    {
        if (heads < 1) throw new ArgumentOutOfRangeException(nameof(heads), heads, "Heads must be positive.");
        static double[] PowerOfTwo(int n)
        {
            var s = new double[n];
            for (int h = 0; h < n; h++) s[h] = Math.Pow(2, -8.0 * (h + 1) / n);
            return s;
        }
        int p = 1;
        while (p * 2 <= heads) p *= 2;
        if (p == heads) return PowerOfTwo(heads);
        var slopes = new double[heads];
        PowerOfTwo(p).CopyTo(slopes, 0);
        var twice = AlibiSlopes(2 * p);
        for (int h = p; h < heads; h++) slopes[h] = twice[2 * (h - p)];
        return slopes;
    }

    /// <summary>ALiBi's biases (H, Nq, Nk): −slope_h·|i − j|, the paper's −m·(i − j) on the keys a causal query sees and its
    /// mirror image after it.</summary>
    public static float[] Alibi(int heads, int nq, int nk)
    {
        var slopes = AlibiSlopes(heads);
        var bias = new float[(long)heads * nq * nk];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < nq; i++)
                for (int j = 0; j < nk; j++)
                    bias[((long)h * nq + i) * nk + j] = (float)(-slopes[h] * Math.Abs(i - j));
        return bias;
    }

    /// <summary>y (B, H, Nq, Nk) = table[index[i·Nk + j], h].</summary>
    public static void Forward(float[] y, float[] table, float[] index, int batch, int heads, int nq, int nk)
    {
        int scores = nq * nk;
        Workers.For(batch * heads, bh =>
        {
            int h = bh % heads;
            var row = y.AsSpan(bh * scores, scores);
            for (int p = 0; p < scores; p++) row[p] = table[BitConverter.SingleToInt32Bits(index[p]) * heads + h];
        });
    }

    /// <summary>dtable[t, h] += Σ_b Σ_(p in bucket t) dy[b, h, p], a task per head.</summary>
    public static void Backward(float[] dTable, float[] dy, float[] positions, int batch, int heads, int buckets, int nq, int nk)
    {
        int scores = nq * nk;
        Workers.For(heads, h =>
        {
            for (int t = 0; t < buckets; t++)
                dTable[t * heads + h] += BucketSum(dy, positions, t, h, batch, heads, buckets, scores);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float BucketSum(float[] dy, float[] positions, int t, int h, int batch, int heads, int buckets, int scores)
    {
        int start = BitConverter.SingleToInt32Bits(positions[t]), end = BitConverter.SingleToInt32Bits(positions[t + 1]);
        float sum = 0f;
        for (int b = 0; b < batch; b++)
        {
            long row = ((long)b * heads + h) * scores;
            for (int e = start; e < end; e++) sum += dy[row + BitConverter.SingleToInt32Bits(positions[buckets + 1 + e])];
        }
        return sum;
    }

    /// <summary>Extent: batch·heads·nq·nk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> table, ArrayView<float> index, int batch, int heads, int nq, int nk)
    {
        long scores = (long)nq * nk;
        if (i >= batch * heads * scores) return;
        long p = i % scores;
        int h = (int)(i / scores % heads);
        y[i] = table[(long)Interop.FloatAsInt(index[p]) * heads + h];
    }

    /// <summary>Extent: buckets·heads (a thread per table entry, summing its positions over the batch in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dTable, ArrayView<float> dy, ArrayView<float> positions, int batch, int heads, int buckets,
        int nq, int nk)
    {
        if (i >= buckets * heads) return;
        int t = i / heads, h = i % heads;
        long scores = (long)nq * nk;
        int start = (int)Interop.FloatAsInt(positions[t]), end = (int)Interop.FloatAsInt(positions[t + 1]);
        float sum = 0f;
        for (int b = 0; b < batch; b++)
        {
            long row = ((long)b * heads + h) * scores;
            for (int e = start; e < end; e++) sum += dy[row + (int)Interop.FloatAsInt(positions[buckets + 1 + e])];
        }
        dTable[i] += sum;
    }
}
