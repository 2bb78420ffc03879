using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Reformer's LSH attention (Kitaev et al.), queries and keys one projection. Each round r hashes a head's vectors by a random
/// rotation Ω_r (d, nb/2): bucket = argmax [xΩ_r, −xΩ_r]. The round's tokens are sorted by (bucket, position) and cut into
/// chunks of <c>chunk</c>; a query attends to the keys of its chunk and of the chunk before it in the sorted order of all rounds
/// (cyclic: the first chunk of a round looks back into the last chunk of the round before, as the authors' code does). Keys
/// are the vectors normalised, k̂ = k / √(d·(mean k² + 1e-6)), so a score is q·k̂. The authors score a token against itself
/// −1e5 and causal or padded keys −1e9: in float those keys get no weight, and a query with no other allowed key attends to
/// itself alone, so here they are skipped and such a query keeps its own value (its log-sum-exp is <see cref="SelfScore"/>),
/// which also keeps the log-sum-exp of the others small and exact. The rounds' windows form one softmax per query (the
/// authors' log-sum-exp weighting of the rounds' outputs is this softmax), so a query keeps one log-sum-exp.
/// Layouts: qk (B, N, H·d), v (B, N, H·dv), o (B, N, H·dv), padding (B, N), rotations (R, d, nb/2); saved: the normalised keys
/// (B, H, N, d), order (B, H, R·N): the token at each sorted position, rank (B, H, R·N): the sorted position of each
/// (round, token), and lse (B, H, N). Hashing has no gradient: backward holds the buckets and differentiates the scores,
/// the softmax and the normalisation of the keys.
/// </summary>
public static class ReformerAttention
{
    /// <summary>What a Reformer layer's rotations are named (a buffer saved with the parameters, never trained).</summary>
    public const string RotationsName = "rotations";

    /// <summary>The authors' score of a token with itself, and the log-sum-exp of a query that attends only to itself.</summary>
    public const float SelfScore = -1e5f;

    const float Epsilon = 1e-6f;

    [ThreadStatic] static float[]? t_scores;
    [ThreadStatic] static float[]? t_dscores;
    [ThreadStatic] static float[]? t_keys;
    [ThreadStatic] static float[]? t_q;
    [ThreadStatic] static float[]? t_k;
    [ThreadStatic] static float[]? t_v;
    [ThreadStatic] static float[]? t_outs;
    [ThreadStatic] static float[]? t_roundLse;
    [ThreadStatic] static float[]? t_delta;
    [ThreadStatic] static float[]? t_dq;
    [ThreadStatic] static float[]? t_dk;
    [ThreadStatic] static float[]? t_dv;
    [ThreadStatic] static int[]? t_buckets;
    [ThreadStatic] static int[]? t_starts;
    [ThreadStatic] static float[]? t_rotated;

    static Span<float> Scratch(ref float[]? buffer, int length) => ThreadScratch.AtLeast(ref buffer, length).AsSpan(0, length);

    /// <summary>Fills a rotations buffer (rounds, head width, buckets / 2) with independent N(0, 1) entries.</summary>
    public static void Draw(Parameter rotations, Random random)
    {
        ArgumentNullException.ThrowIfNull(rotations);
        ArgumentNullException.ThrowIfNull(random);
        if (rotations.Shape.Length != 3)
            throw new ArgumentException($"Reformer rotations are (rounds, head width, buckets / 2); '{rotations.Name}' is {Tensor.Format(rotations.Shape)}.", nameof(rotations));
        for (int i = 0; i < rotations.Value.Length; i++) rotations.Value[i] = (float)RandomFeatures.Gaussian(random);
        rotations.MarkChanged();
    }

    /// <summary>Redraws the rotations of every Reformer layer of a model from <paramref name="seed"/>, in parameter order (the
    /// authors draw new rotations for every forward; a training loop may redraw per step or per epoch). Returns how many.</summary>
    public static int Redraw(ParameterSet parameters, int seed) => RandomFeatures.RedrawNamed(parameters, seed, RotationsName, Draw);

    /// <summary>o, the normalised keys, the sorted order and the log-sum-exp; a task per (sample, head). The queries, keys and
    /// values are gathered in sorted order, so each chunk's scores against its window and their product with the values are
    /// dense products (chunk×d by d×2·chunk, chunk×2·chunk by 2·chunk×dv); each round's softmax gives an output and a
    /// log-sum-exp per sorted position, which the rounds' softmax then combines per token. The output is written, not
    /// accumulated.</summary>
    public static void Forward(float[] o, float[] lse, float[] keys, float[] order, float[] rank, float[] qk, float[] v, float[]? padding, float[] rotations,
        int batch, int tokens, int heads, int headDim, int headDimV, int buckets, int rounds, int chunk, bool causal)
    {
        int sortedLength = rounds * tokens, chunks = sortedLength / chunk;
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads;
            NormaliseKeys(keys, qk, b, h, tokens, heads, headDim);
            Sort(order, rank, qk, rotations, b, h, tokens, heads, headDim, buckets, rounds);
            var sorted = Gather(order, qk, keys, v, b, h, tokens, heads, headDim, headDimV, rounds);
            var outs = ThreadScratch.AtLeast(ref t_outs, sortedLength * headDimV);
            var roundLse = ThreadScratch.AtLeast(ref t_roundLse, sortedLength);
            var scores = ThreadScratch.AtLeast(ref t_scores, chunk * 2 * chunk);
            for (int c = 0; c < chunks; c++)
            {
                int before = (c + chunks - 1) % chunks;
                WindowScores(scores, sorted, order, padding, b, bh, c, before, tokens, headDim, rounds, chunk, causal);
                for (int i = 0; i < chunk; i++)
                {
                    var row = scores.AsSpan(i * 2 * chunk, 2 * chunk);
                    float max = TensorPrimitives.Max(row);
                    if (float.IsNegativeInfinity(max))
                    {
                        row.Clear();
                        roundLse[c * chunk + i] = float.NegativeInfinity;
                        continue;
                    }
                    TensorPrimitives.Subtract(row, max, row);
                    TensorPrimitives.Exp(row, row);
                    float sum = TensorPrimitives.Sum(row);
                    TensorPrimitives.Multiply(row, 1f / sum, row);
                    roundLse[c * chunk + i] = max + MathF.Log(sum);
                }
                Gemm.MultiplySerial(false, false, chunk, headDimV, chunk, scores, 0, 2 * chunk, sorted.V, before * chunk * headDimV, headDimV, outs, c * chunk * headDimV,
                    headDimV, accumulate: false);
                Gemm.MultiplySerial(false, false, chunk, headDimV, chunk, scores, chunk, 2 * chunk, sorted.V, c * chunk * headDimV, headDimV, outs, c * chunk * headDimV,
                    headDimV, accumulate: true);
            }
            long ranks = (long)bh * sortedLength;
            for (int t = 0; t < tokens; t++)
            {
                var ot = o.AsSpan(((b * tokens + t) * heads + h) * headDimV, headDimV);
                float max = float.NegativeInfinity;
                for (int r = 0; r < rounds; r++) max = MathF.Max(max, roundLse[(int)rank[ranks + r * tokens + t]]);
                if (float.IsNegativeInfinity(max))
                {
                    // Nothing allowed in any round: the query keeps its own value.
                    v.AsSpan(((b * tokens + t) * heads + h) * headDimV, headDimV).CopyTo(ot);
                    lse[(long)bh * tokens + t] = SelfScore;
                    continue;
                }
                float sum = 0f;
                for (int r = 0; r < rounds; r++) sum += MathF.Exp(roundLse[(int)rank[ranks + r * tokens + t]] - max);
                float total = max + MathF.Log(sum);
                lse[(long)bh * tokens + t] = total;
                ot.Clear();
                for (int r = 0; r < rounds; r++)
                {
                    int at = (int)rank[ranks + r * tokens + t];
                    float weight = MathF.Exp(roundLse[at] - total);
                    if (weight != 0f) TensorPrimitives.MultiplyAdd(outs.AsSpan(at * headDimV, headDimV), weight, ot, ot);
                }
            }
        });
    }

    /// <summary>dqk and dv accumulate (+=); a task per (sample, head), chunk by chunk in sorted order. With P = exp(S − lse) the
    /// probabilities of the one softmax per query and D = dO·o: dS = P ⊙ (dO·Vᵀ − D), dQ += dS·K̂, dK̂ += dSᵀ·Q, dV += Pᵀ·dO,
    /// each a dense product over the chunk's window, scattered back to the tokens; dK̂ then goes back through the normalisation,
    /// and a token's query and key gradients both land in its one qk row.</summary>
    public static void Backward(float[] dQk, float[] dValues, float[] dO, float[] qk, float[] v, float[] o, float[] lse, float[] keys, float[] order, float[] rank,
        float[]? padding, int batch, int tokens, int heads, int headDim, int headDimV, int rounds, int chunk, bool causal)
    {
        int sortedLength = rounds * tokens, chunks = sortedLength / chunk;
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads;
            var sorted = Gather(order, qk, keys, v, b, h, tokens, heads, headDim, headDimV, rounds);
            var dOs = ThreadScratch.AtLeast(ref t_outs, sortedLength * headDimV);
            var rowLse = ThreadScratch.AtLeast(ref t_roundLse, sortedLength);
            var delta = ThreadScratch.AtLeast(ref t_delta, sortedLength);
            long sortedAt = (long)bh * sortedLength;
            for (int s = 0; s < sortedLength; s++)
            {
                int t = (int)order[sortedAt + s];
                long x = (long)(b * tokens + t) * heads + h;
                var dOt = dO.AsSpan((int)(x * headDimV), headDimV);
                dOt.CopyTo(dOs.AsSpan(s * headDimV, headDimV));
                rowLse[s] = lse[(long)bh * tokens + t];
                delta[s] = TensorPrimitives.Dot(dOt, o.AsSpan((int)(x * headDimV), headDimV));
            }
            var p = ThreadScratch.AtLeast(ref t_scores, chunk * 2 * chunk);
            var dS = ThreadScratch.AtLeast(ref t_dscores, chunk * 2 * chunk);
            var dQc = ThreadScratch.AtLeast(ref t_dq, chunk * headDim);
            var dKw = ThreadScratch.AtLeast(ref t_dk, 2 * chunk * headDim);
            var dVw = ThreadScratch.AtLeast(ref t_dv, 2 * chunk * headDimV);
            var dKeys = Scratch(ref t_keys, tokens * headDim);
            dKeys.Clear();
            for (int c = 0; c < chunks; c++)
            {
                int before = (c + chunks - 1) % chunks;
                WindowScores(p, sorted, order, padding, b, bh, c, before, tokens, headDim, rounds, chunk, causal);
                Gemm.MultiplySerial(false, true, chunk, chunk, headDimV, dOs, c * chunk * headDimV, headDimV, sorted.V, before * chunk * headDimV, headDimV, dS, 0, 2 * chunk,
                    accumulate: false);
                Gemm.MultiplySerial(false, true, chunk, chunk, headDimV, dOs, c * chunk * headDimV, headDimV, sorted.V, c * chunk * headDimV, headDimV, dS, chunk, 2 * chunk,
                    accumulate: false);
                for (int i = 0; i < chunk; i++)
                {
                    var pr = p.AsSpan(i * 2 * chunk, 2 * chunk);
                    var dr = dS.AsSpan(i * 2 * chunk, 2 * chunk);
                    // −∞ scores (not allowed) and the rows of queries that keep their own value get no probability.
                    TensorPrimitives.Subtract(pr, rowLse[c * chunk + i], pr);
                    TensorPrimitives.Exp(pr, pr);
                    TensorPrimitives.Subtract(dr, delta[c * chunk + i], dr);
                    TensorPrimitives.Multiply(dr, pr, dr);
                }
                // dQ of the chunk's queries, dK̂ and dV of its window (the chunk before, then its own).
                Gemm.MultiplySerial(false, false, chunk, headDim, chunk, dS, 0, 2 * chunk, sorted.K, before * chunk * headDim, headDim, dQc, 0, headDim, accumulate: false);
                Gemm.MultiplySerial(false, false, chunk, headDim, chunk, dS, chunk, 2 * chunk, sorted.K, c * chunk * headDim, headDim, dQc, 0, headDim, accumulate: true);
                Gemm.MultiplySerial(true, false, chunk, headDim, chunk, dS, 0, 2 * chunk, sorted.Q, c * chunk * headDim, headDim, dKw, 0, headDim, accumulate: false);
                Gemm.MultiplySerial(true, false, chunk, headDim, chunk, dS, chunk, 2 * chunk, sorted.Q, c * chunk * headDim, headDim, dKw, chunk * headDim, headDim, accumulate: false);
                Gemm.MultiplySerial(true, false, chunk, headDimV, chunk, p, 0, 2 * chunk, dOs, c * chunk * headDimV, headDimV, dVw, 0, headDimV, accumulate: false);
                Gemm.MultiplySerial(true, false, chunk, headDimV, chunk, p, chunk, 2 * chunk, dOs, c * chunk * headDimV, headDimV, dVw, chunk * headDimV, headDimV, accumulate: false);
                for (int i = 0; i < chunk; i++)
                {
                    int t = (int)order[sortedAt + c * chunk + i];
                    var dq = dQk.AsSpan(((b * tokens + t) * heads + h) * headDim, headDim);
                    TensorPrimitives.Add(dq, dQc.AsSpan(i * headDim, headDim), dq);
                }
                for (int j = 0; j < 2 * chunk; j++)
                {
                    int u = (int)order[sortedAt + (j < chunk ? before : c) * chunk + j % chunk];
                    var dk = dKeys.Slice(u * headDim, headDim);
                    TensorPrimitives.Add(dk, dKw.AsSpan(j * headDim, headDim), dk);
                    var dv = dValues.AsSpan(((b * tokens + u) * heads + h) * headDimV, headDimV);
                    TensorPrimitives.Add(dv, dVw.AsSpan(j * headDimV, headDimV), dv);
                }
            }
            for (int u = 0; u < tokens; u++)
            {
                long y = (long)(b * tokens + u) * heads + h;
                // A query that keeps its own value passes its whole gradient to it.
                if (lse[(long)bh * tokens + u] == SelfScore)
                    TensorPrimitives.Add(dO.AsSpan((int)(y * headDimV), headDimV), dValues.AsSpan((int)(y * headDimV), headDimV), dValues.AsSpan((int)(y * headDimV), headDimV));
                NormaliseBackward(dQk.AsSpan((int)(y * headDim), headDim), dKeys.Slice(u * headDim, headDim), qk.AsSpan((int)(y * headDim), headDim));
            }
        });
    }

    /// <summary>A head's queries, normalised keys and values in sorted order (rounds·N rows), in per-thread scratch.</summary>
    readonly record struct Sorted(float[] Q, float[] K, float[] V);

    static Sorted Gather(float[] order, float[] qk, float[] keys, float[] v, int b, int h, int tokens, int heads, int headDim, int headDimV, int rounds)
    {
        int length = rounds * tokens, bh = b * heads + h;
        var q = ThreadScratch.AtLeast(ref t_q, length * headDim);
        var k = ThreadScratch.AtLeast(ref t_k, length * headDim);
        var values = ThreadScratch.AtLeast(ref t_v, length * headDimV);
        for (int s = 0; s < length; s++)
        {
            int t = (int)order[(long)bh * length + s];
            int x = (b * tokens + t) * heads + h;
            qk.AsSpan(x * headDim, headDim).CopyTo(q.AsSpan(s * headDim, headDim));
            keys.AsSpan((int)(((long)bh * tokens + t) * headDim), headDim).CopyTo(k.AsSpan(s * headDim, headDim));
            v.AsSpan(x * headDimV, headDimV).CopyTo(values.AsSpan(s * headDimV, headDimV));
        }
        return new Sorted(q, k, values);
    }

    /// <summary>Chunk c's scores (chunk × 2·chunk) against its window, the chunk before and then its own, as two products of the
    /// sorted queries and keys; −∞ where the key is not allowed (the query itself, later when causal, padded).</summary>
    static void WindowScores(float[] scores, in Sorted sorted, float[] order, float[]? padding, int b, int bh, int c, int before, int tokens, int headDim, int rounds,
        int chunk, bool causal)
    {
        Gemm.MultiplySerial(false, true, chunk, chunk, headDim, sorted.Q, c * chunk * headDim, headDim, sorted.K, before * chunk * headDim, headDim, scores, 0, 2 * chunk,
            accumulate: false);
        Gemm.MultiplySerial(false, true, chunk, chunk, headDim, sorted.Q, c * chunk * headDim, headDim, sorted.K, c * chunk * headDim, headDim, scores, chunk, 2 * chunk,
            accumulate: false);
        long at = (long)bh * rounds * tokens;
        for (int i = 0; i < chunk; i++)
        {
            int t = (int)order[at + c * chunk + i];
            for (int j = 0; j < 2 * chunk; j++)
            {
                int u = (int)order[at + (j < chunk ? before : c) * chunk + j % chunk];
                if (!Allowed(t, u, padding, b, tokens, causal)) scores[i * 2 * chunk + j] = float.NegativeInfinity;
            }
        }
    }

    /// <summary>Whether query t may attend to key u (u ≠ t): not after it when causal, not padded.</summary>
    static bool Allowed(int t, int u, float[]? padding, int b, int tokens, bool causal) =>
        u != t && !(causal && u > t) && !(padding is not null && padding[b * tokens + u] != 0f);

    static void NormaliseKeys(float[] keys, float[] qk, int b, int h, int tokens, int heads, int headDim)
    {
        int bh = b * heads + h;
        for (int u = 0; u < tokens; u++)
        {
            var x = qk.AsSpan(((b * tokens + u) * heads + h) * headDim, headDim);
            TensorPrimitives.Multiply(x, Gain(TensorPrimitives.Dot(x, x), headDim), keys.AsSpan((int)(((long)bh * tokens + u) * headDim), headDim));
        }
    }

    /// <summary>k̂ = g·k with g = 1 / √(d·(mean k² + ε)), from the sum of squares.</summary>
    static float Gain(float squares, int headDim) => 1f / MathF.Sqrt(headDim * (squares / headDim + Epsilon));

    /// <summary>dk += g·dk̂ − g·(k·dk̂)·k / (d·(mean k² + ε)).</summary>
    static void NormaliseBackward(Span<float> dk, ReadOnlySpan<float> dKeys, ReadOnlySpan<float> k)
    {
        int d = k.Length;
        float squares = TensorPrimitives.Dot(k, k), g = Gain(squares, d), variance = squares / d + Epsilon;
        float along = TensorPrimitives.Dot(k, dKeys) * g / (d * variance);
        TensorPrimitives.MultiplyAdd(dKeys, g, dk, dk);
        TensorPrimitives.MultiplyAdd(k, -along, dk, dk);
    }

    /// <summary>The bucket of each token in each round (argmax over [xΩ_r, −xΩ_r], the first on ties), then a stable counting sort
    /// by bucket: the sorted positions of round r are r·N … r·N + N − 1.</summary>
    static void Sort(float[] order, float[] rank, float[] qk, float[] rotations, int b, int h, int tokens, int heads, int headDim, int buckets, int rounds)
    {
        int half = buckets / 2;
        long sorted = ((long)b * heads + h) * rounds * tokens;
        // Per-thread scratch: the bucket of each token, the bucket starts, a token's rotations.
        var bucket = ThreadScratch.AtLeast(ref t_buckets, tokens).AsSpan(0, tokens);
        var starts = ThreadScratch.AtLeast(ref t_starts, buckets + 1).AsSpan(0, buckets + 1);
        var rotated = ThreadScratch.AtLeast(ref t_rotated, half).AsSpan(0, half);
        for (int r = 0; r < rounds; r++)
        {
            starts.Clear();
            for (int t = 0; t < tokens; t++)
            {
                var x = qk.AsSpan(((b * tokens + t) * heads + h) * headDim, headDim);
                rotated.Clear();
                for (int e = 0; e < headDim; e++)
                    TensorPrimitives.MultiplyAdd(rotations.AsSpan((r * headDim + e) * half, half), x[e], rotated, rotated);
                bucket[t] = Argmax(rotated);
                starts[bucket[t] + 1]++;
            }
            for (int k = 0; k < buckets; k++) starts[k + 1] += starts[k];
            for (int t = 0; t < tokens; t++)
            {
                int position = r * tokens + starts[bucket[t]]++;
                order[sorted + position] = t;
                rank[sorted + r * tokens + t] = position;
            }
        }
    }

    /// <summary>argmax over [x, −x]: the first largest of the 2·|x| values.</summary>
    static int Argmax(ReadOnlySpan<float> x)
    {
        int best = 0;
        float top = x[0];
        for (int k = 1; k < 2 * x.Length; k++)
        {
            float value = k < x.Length ? x[k] : -x[k - x.Length];
            if (value > top) { top = value; best = k; }
        }
        return best;
    }

    // ---- device kernels: every size a constant at the launch site ----

    /// <summary>Extent: batch·heads·tokens. The normalised key of a token.</summary>
    public static void KeysKernel(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank,
        ArrayView<float> bucket, ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations, int batch, int tokens, int heads,
        int headDim, int headDimV, int buckets, int rounds, int chunk, bool causal, bool hasPadding)
    {
        if (i >= (long)batch * heads * tokens) return;
        int u = (int)(i % tokens), bh = (int)(i / tokens), b = bh / heads, h = bh % heads;
        long x = ((long)(b * tokens + u) * heads + h) * headDim;
        float squares = 0f;
        for (int e = 0; e < headDim; e++) squares += qk[x + e] * qk[x + e];
        float g = Gain(squares, headDim);
        for (int e = 0; e < headDim; e++) keys[i * headDim + e] = qk[x + e] * g;
    }

    /// <summary>Extent: batch·heads·rounds·tokens. The bucket of a token in a round.</summary>
    public static void HashKernel(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank,
        ArrayView<float> bucket, ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations, int batch, int tokens, int heads,
        int headDim, int headDimV, int buckets, int rounds, int chunk, bool causal, bool hasPadding)
    {
        if (i >= (long)batch * heads * rounds * tokens) return;
        int t = (int)(i % tokens), r = (int)(i / tokens % rounds), bh = (int)(i / ((long)tokens * rounds)), b = bh / heads, h = bh % heads;
        int half = buckets / 2, positive = 0, negative = 0;
        long x = ((long)(b * tokens + t) * heads + h) * headDim;
        float top = float.NegativeInfinity, bottom = float.PositiveInfinity;
        for (int k = 0; k < half; k++)
        {
            float dot = 0f;
            for (int e = 0; e < headDim; e++) dot += qk[x + e] * rotations[((long)r * headDim + e) * half + k];
            if (dot > top) { top = dot; positive = k; }
            if (dot < bottom) { bottom = dot; negative = k; }
        }
        // The first largest of [xΩ, −xΩ]: the positive half wins ties, as it comes first.
        bucket[i] = -bottom > top ? negative + half : positive;
    }

    /// <summary>Extent: batch·heads·rounds·buckets. The tokens of one bucket of a round, in order, at their sorted positions
    /// (after every token of a smaller bucket): a stable counting sort, one bucket a thread.</summary>
    public static void SortKernel(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank,
        ArrayView<float> bucket, ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations, int batch, int tokens, int heads,
        int headDim, int headDimV, int buckets, int rounds, int chunk, bool causal, bool hasPadding)
    {
        if (i >= (long)batch * heads * rounds * buckets) return;
        int k = (int)(i % buckets);
        long round = i / buckets, first = round * tokens;
        int r = (int)(round % rounds);
        long sorted = round / rounds * rounds * tokens;
        int position = 0;
        for (int t = 0; t < tokens; t++)
            if ((int)bucket[first + t] < k) position++;
        for (int t = 0; t < tokens; t++)
        {
            if ((int)bucket[first + t] != k) continue;
            int at = r * tokens + position++;
            order[sorted + at] = t;
            rank[sorted + r * tokens + t] = at;
        }
    }

    /// <summary>Extent: batch·heads·tokens. A query's log-sum-exp over its windows, then its output from the probabilities.</summary>
    public static void ForwardKernel(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank,
        ArrayView<float> bucket, ArrayView<float> qk, ArrayView<float> v, ArrayView<float> padding, ArrayView<float> rotations, int batch, int tokens, int heads,
        int headDim, int headDimV, int buckets, int rounds, int chunk, bool causal, bool hasPadding)
    {
        if (i >= (long)batch * heads * tokens) return;
        int t = (int)(i % tokens), bh = (int)(i / tokens), b = bh / heads, h = bh % heads;
        long ox = ((long)(b * tokens + t) * heads + h) * headDimV;
        float max = float.NegativeInfinity, sum = 0f;
        for (int slot = 0; slot < rounds * 2 * chunk; slot++)
        {
            if (!Slot(order, rank, padding, b, h, t, slot, tokens, heads, rounds, chunk, causal, hasPadding, out int u)) continue;
            float s = PairScore(keys, qk, b, h, t, u, tokens, heads, headDim);
            if (s > max)
            {
                sum = (sum == 0f ? 0f : sum * MathF.Exp(max - s)) + 1f;
                max = s;
            }
            else sum += MathF.Exp(s - max);
        }
        if (sum == 0f)
        {
            // Nothing allowed: the query keeps its own value.
            for (int e = 0; e < headDimV; e++) o[ox + e] = v[ox + e];
            lse[i] = SelfScore;
            return;
        }
        float l = max + MathF.Log(sum);
        lse[i] = l;
        for (int e = 0; e < headDimV; e++) o[ox + e] = 0f;
        for (int slot = 0; slot < rounds * 2 * chunk; slot++)
        {
            if (!Slot(order, rank, padding, b, h, t, slot, tokens, heads, rounds, chunk, causal, hasPadding, out int u)) continue;
            float p = MathF.Exp(PairScore(keys, qk, b, h, t, u, tokens, heads, headDim) - l);
            long vx = ((long)(b * tokens + u) * heads + h) * headDimV;
            for (int e = 0; e < headDimV; e++) o[ox + e] += p * v[vx + e];
        }
    }

    /// <summary>Extent: batch·heads·tokens. dq of a query over its windows (+=).</summary>
    public static void QueryGradKernel(Index1D i, ArrayView<float> dQk, ArrayView<float> dValues, ArrayView<float> dKeys, ArrayView<float> dO, ArrayView<float> qk,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> padding,
        int batch, int tokens, int heads, int headDim, int headDimV, int rounds, int chunk, bool causal, bool hasPadding)
    {
        if (i >= (long)batch * heads * tokens) return;
        int t = (int)(i % tokens), bh = (int)(i / tokens), b = bh / heads, h = bh % heads;
        long x = (long)(b * tokens + t) * heads + h;
        float delta = Dot(dO, x * headDimV, o, x * headDimV, headDimV), l = lse[i];
        if (l == SelfScore) return;
        for (int slot = 0; slot < rounds * 2 * chunk; slot++)
        {
            if (!Slot(order, rank, padding, b, h, t, slot, tokens, heads, rounds, chunk, causal, hasPadding, out int u)) continue;
            long y = (long)(b * tokens + u) * heads + h;
            float ds = MathF.Exp(PairScore(keys, qk, b, h, t, u, tokens, heads, headDim) - l) * (Dot(dO, x * headDimV, v, y * headDimV, headDimV) - delta);
            long k = ((long)bh * tokens + u) * headDim;
            for (int e = 0; e < headDim; e++) dQk[x * headDim + e] += ds * keys[k + e];
        }
    }

    /// <summary>Extent: batch·heads·tokens. A key's dk̂ and dv over every window that holds it — as the chunk of a query of its own
    /// chunk, and as the chunk before of a query of the next — then dk̂ through the normalisation into its qk row (+=).
    /// <paramref name="dKeys"/> (B, H, N, d) is this kernel's scratch.</summary>
    public static void KeyGradKernel(Index1D i, ArrayView<float> dQk, ArrayView<float> dValues, ArrayView<float> dKeys, ArrayView<float> dO, ArrayView<float> qk,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> keys, ArrayView<float> order, ArrayView<float> rank, ArrayView<float> padding,
        int batch, int tokens, int heads, int headDim, int headDimV, int rounds, int chunk, bool causal, bool hasPadding)
    {
        if (i >= (long)batch * heads * tokens) return;
        int u = (int)(i % tokens), bh = (int)(i / tokens), b = bh / heads, h = bh % heads, chunks = rounds * tokens / chunk;
        long y = (long)(b * tokens + u) * heads + h, sorted = (long)bh * rounds * tokens, dk = i * headDim;
        for (int e = 0; e < headDim; e++) dKeys[dk + e] = 0f;
        // A query that attends only to itself passes its whole gradient to its value.
        if (lse[i] == SelfScore)
            for (int e = 0; e < headDimV; e++) dValues[y * headDimV + e] += dO[y * headDimV + e];
        for (int r = 0; r < rounds; r++)
        {
            int own = (int)rank[sorted + r * tokens + u] / chunk;
            for (int side = 0; side < 2; side++)
            {
                // side 0: queries of the key's own chunk see it in their second half; side 1: the next chunk's, in their first.
                int queries = side == 0 ? own : (own + 1) % chunks;
                for (int qi = 0; qi < chunk; qi++)
                {
                    int t = (int)order[sorted + (long)queries * chunk + qi];
                    if (!Allowed(t, u, padding, b, tokens, causal, hasPadding)) continue;
                    long x = (long)(b * tokens + t) * heads + h;
                    float p = MathF.Exp(PairScore(keys, qk, b, h, t, u, tokens, heads, headDim) - lse[(long)bh * tokens + t]);
                    for (int e = 0; e < headDimV; e++) dValues[y * headDimV + e] += p * dO[x * headDimV + e];
                    float ds = p * (Dot(dO, x * headDimV, v, y * headDimV, headDimV) - Dot(dO, x * headDimV, o, x * headDimV, headDimV));
                    for (int e = 0; e < headDim; e++) dKeys[dk + e] += ds * qk[x * headDim + e];
                }
            }
        }
        float squares = 0f, along = 0f;
        for (int e = 0; e < headDim; e++)
        {
            squares += qk[y * headDim + e] * qk[y * headDim + e];
            along += qk[y * headDim + e] * dKeys[dk + e];
        }
        float g = Gain(squares, headDim), scale = along * g / (headDim * (squares / headDim + Epsilon));
        for (int e = 0; e < headDim; e++) dQk[y * headDim + e] += g * dKeys[dk + e] - scale * qk[y * headDim + e];
    }

    /// <summary>The key token <paramref name="u"/> in window slot <paramref name="slot"/> of query t (round slot / 2c; the chunk
    /// before its own, then its own), and whether t may attend to it.</summary>
    static bool Slot(ArrayView<float> order, ArrayView<float> rank, ArrayView<float> padding, int b, int h, int t, int slot, int tokens, int heads, int rounds,
        int chunk, bool causal, bool hasPadding, out int u)
    {
        int bh = b * heads + h, chunks = rounds * tokens / chunk, r = slot / (2 * chunk), j = slot % (2 * chunk);
        long sorted = (long)bh * rounds * tokens;
        int own = (int)rank[sorted + r * tokens + t] / chunk;
        int c = j < chunk ? (own + chunks - 1) % chunks : own;
        u = (int)order[sorted + (long)c * chunk + j % chunk];
        return Allowed(t, u, padding, b, tokens, causal, hasPadding);
    }

    /// <summary>q_t·k̂_u.</summary>
    static float PairScore(ArrayView<float> keys, ArrayView<float> qk, int b, int h, int t, int u, int tokens, int heads, int headDim)
    {
        long x = ((long)(b * tokens + t) * heads + h) * headDim, k = (((long)b * heads + h) * tokens + u) * headDim;
        float dot = 0f;
        for (int e = 0; e < headDim; e++) dot += qk[x + e] * keys[k + e];
        return dot;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool Allowed(int t, int u, ArrayView<float> padding, int b, int tokens, bool causal, bool hasPadding) =>
        u != t && !(causal && u > t) && !(hasPadding && padding[(long)b * tokens + u] != 0f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(ArrayView<float> a, long at, ArrayView<float> b, long bt, int length)
    {
        float sum = 0f;
        for (int e = 0; e < length; e++) sum += a[at + e] * b[bt + e];
        return sum;
    }
}
