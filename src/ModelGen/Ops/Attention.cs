using System;
using ModelGen.Cpu;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Scaled dot-product attention core with grouped-query heads.
/// q (B, Nq, H·dk), k (B, Nk, KvH·dk), v (B, Nk, KvH·dv) -> o (B, Nq, H·dv); heads are interleaved in the feature dim
/// (as Linear projections produce them). Query head h reads kv head h / (H / KvH) (KvH == H: multi-head, KvH == 1: multi-query).
/// s_ij = scale · q_i·k_j; masked keys are excluded from the softmax: causal masks key j &gt; query i (top-left aligned,
/// like PyTorch is_causal), and padding (null or float[B·Nk]) masks keys whose value is nonzero (key_padding_mask=True semantics).
/// probs (B, H, Nq, Nk) is saved for backward. A row whose every key is masked gets probs 0 and output 0
/// (PyTorch would produce NaN there; zeros keep training finite and make its gradients 0).
/// An optional score bias (null, or float[] read at b·biasBatch + h·biasHead + i·Nk + j, so a stride of 0 shares it across
/// the batch or the heads) is added to the scaled scores (ALiBi, relative position biases, additive masks), or with maskBias
/// masks the scores where it is nonzero (boolean attention masks, attn_mask=True semantics of nn.MultiheadAttention).
/// Backward accumulates into dq, dk, dv, and into dBias (B, H, Nq, Nk) when given: the gradient of the additive bias.
/// </summary>
public static partial class Attention
{
    const int W = 16; // padding granularity of scratch rows: one Vector512<float>
    const int CausalBlock = 32;

    [ThreadStatic] static float[]? t_scratch;

    static float[] Scratch(int n) => ThreadScratch.AtLeast(ref t_scratch, n);

    static int Pad(int n) => (n + W - 1) / W * W;

    public static void Forward(float[] o, float[] probs, float[] q, float[] k, float[] v, float[]? padding, float[]? bias,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, int biasBatch, int biasHead, bool causal, bool maskBias, float scale) =>
        ForwardCore(o, probs, null, q, k, v, padding, bias, batch, nq, nk, heads, kvHeads, headDimK, headDimV, biasBatch, biasHead, causal, maskBias, scale);

    /// <summary>
    /// Memory-efficient exact attention on the CPU: the forward of <see cref="Forward"/> that keeps each row's log-sum-exp
    /// lse (B, H, Nq) instead of the probabilities, so memory grows as N, not N² (the scores of 32 rows at a time are the only
    /// N-wide scratch). <see cref="StreamingBackward"/> recomputes the probabilities from lse; <see cref="Probabilities"/>
    /// fills them on request.
    /// </summary>
    public static void StreamingForward(float[] o, float[] lse, float[] q, float[] k, float[] v, float[]? padding, float[]? bias,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, int biasBatch, int biasHead, bool causal, bool maskBias, float scale) =>
        ForwardCore(o, null, lse, q, k, v, padding, bias, batch, nq, nk, heads, kvHeads, headDimK, headDimV, biasBatch, biasHead, causal, maskBias, scale);

    /// <summary>Rows of scores a streaming task holds at once.</summary>
    const int StreamRows = 32;

    static void ForwardCore(float[] o, float[]? probs, float[]? lse, float[] q, float[] k, float[] v, float[]? padding, float[]? bias,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, int biasBatch, int biasHead, bool causal, bool maskBias, float scale)
    {
        int nkP = Pad(nk), dvP = Pad(headDimV);
        bool streaming = probs is null;
        int group = heads / kvHeads;
        // Q is read in place (the scale is folded into the staged Kᵀ). V and O are used in place when a head's width is a
        // whole number of vectors; otherwise they go through padded scratch rows.
        bool inPlace = headDimV % W == 0;
        int kvPairs = batch * kvHeads, ktSize = headDimK * nkP, vSize = inPlace ? 0 : nk * dvP;
        // Few (batch, head) pairs (batch 1 with 3 heads on 2 cores) would leave cores idle or unevenly loaded, so each
        // pair's query rows are split into blocks until there are at least two tasks per core.
        int pairs = batch * heads;
        int rowBlocks = Math.Min(nq, Math.Max(1, (2 * Environment.ProcessorCount + pairs - 1) / pairs));
        int blockRows = Math.Max(1, (nq + rowBlocks - 1) / Math.Max(1, rowBlocks));
        if (causal || streaming) blockRows = (blockRows + CausalBlock - 1) / CausalBlock * CausalBlock;
        rowBlocks = Math.Max(1, (nq + blockRows - 1) / blockRows);
        // Kᵀ·scale (and padded V) per (batch, kv head): staged once into a buffer all tasks read when a head's rows are
        // split into blocks (few pairs, so the buffer is small); otherwise each task stages its own, while it is hot in cache.
        bool shared = rowBlocks > 1;
        float[]? staged = null;
        if (shared)
        {
            staged = SharedStage((long)kvPairs * (ktSize + vSize));
            int chunks = (headDimK + W - 1) / W;
            Workers.For(kvPairs * chunks, t =>
            {
                int bkv = t / chunks, c0 = t % chunks * W, c1 = Math.Min(headDimK, c0 + W);
                unsafe
                {
                    fixed (float* st = staged, kp = k, vp = v)
                    {
                        float* dst = st + (long)bkv * (ktSize + vSize);
                        StageKeys(dst, kp, bkv / kvHeads, bkv % kvHeads, nk, nkP, kvHeads, headDimK, c0, c1, scale);
                        if (!inPlace && c0 == 0) StageValues(dst + ktSize, vp, bkv / kvHeads, bkv % kvHeads, nk, dvP, kvHeads, headDimV);
                    }
                }
            });
        }
        // Private scratch: [Kᵀ (dk×nkP), V (nk×dvP) when not shared], S (rows×nkP; 32 rows when streaming, which also keeps the
        // probabilities there), O (rows×dvP) when not in place.
        int sRows = streaming ? Math.Min(StreamRows, blockRows) : blockRows;
        int offS = shared ? 0 : ktSize + vSize, offO = offS + sRows * nkP, total = offO + (inPlace ? 0 : blockRows * dvP);
        Workers.For(pairs * rowBlocks, task =>
        {
            int bh = task / rowBlocks, rowStart = task % rowBlocks * blockRows, rowEnd = Math.Min(nq, rowStart + blockRows);
            int b = bh / heads, h = bh % heads, kv = h / group;
            var s = Scratch(total);
            unsafe
            {
                fixed (float* sp = s, st = staged, qp = q, kp = k, vp = v, op = o, pp = probs)
                {
                    int qStride = heads * headDimK, vStride = kvHeads * headDimV, oStride = heads * headDimV;
                    float* kt, vs;
                    int ldv;
                    if (shared)
                    {
                        kt = st + ((long)b * kvHeads + kv) * (ktSize + vSize);
                        vs = kt + ktSize;
                    }
                    else
                    {
                        kt = sp;
                        vs = sp + ktSize;
                        StageKeys(kt, kp, b, kv, nk, nkP, kvHeads, headDimK, 0, headDimK, scale);
                        if (!inPlace) StageValues(vs, vp, b, kv, nk, dvP, kvHeads, headDimV);
                    }
                    if (inPlace) { vs = vp + (long)b * nk * vStride + kv * headDimV; ldv = vStride; }
                    else ldv = dvP;
                    float* sc = sp + offS, os = sp + offO;
                    float* qsrc = qp + (long)b * nq * qStride + h * headDimK;
                    float* odst = op + (long)b * nq * oStride + h * headDimV;
                    float* prow0 = streaming ? null : pp + (long)bh * nq * nk;
                    fixed (float* padp = padding, biasp = bias)
                    {
                        float* pad = padding != null ? padp + (long)b * nk : null;
                        float* biasRows = bias != null ? biasp + (long)b * biasBatch + (long)h * biasHead : null;
                        // Causal rows only see keys up to their own index, so each block of rows stops at its last row's keys.
                        // Streaming keeps a block's probabilities in its scores' scratch rows and each row's log-sum-exp.
                        int rowsPerBlock = streaming ? StreamRows : causal ? CausalBlock : nq;
                        fixed (float* lp = lse)
                        for (int r0 = rowStart; r0 < rowEnd; r0 += rowsPerBlock)
                        {
                            int r1 = Math.Min(rowEnd, r0 + rowsPerBlock), cols = causal ? Math.Min(nk, r1) : nk;
                            float* s0 = streaming ? sc : sc + (r0 - rowStart) * nkP;
                            Gemm(qsrc + (long)r0 * qStride, qStride, 1, kt, nkP, s0, nkP, r1 - r0, Pad(cols), headDimK, false);
                            for (int i = r0; i < r1; i++)
                            {
                                float* prow = streaming ? s0 + (i - r0) * nkP : prow0 + (long)i * nk;
                                float rowLse = SoftmaxRow(s0 + (i - r0) * nkP, prow, nk, causal ? Math.Min(nk, i + 1) : nk, pad,
                                    biasRows != null ? biasRows + (long)i * nk : null, maskBias);
                                if (streaming) lp[(long)bh * nq + i] = rowLse;
                            }
                            float* pBlock = streaming ? s0 : prow0 + (long)r0 * nk;
                            int ldp = streaming ? nkP : nk;
                            if (inPlace)
                                Gemm(pBlock, ldp, 1, vs, ldv, odst + (long)r0 * oStride, oStride, r1 - r0, headDimV, cols, false);
                            else
                                Gemm(pBlock, ldp, 1, vs, ldv, os + (r0 - rowStart) * dvP, dvP, r1 - r0, dvP, cols, false);
                        }
                    }
                    if (!inPlace)
                        for (int i = rowStart; i < rowEnd; i++)
                            new ReadOnlySpan<float>(os + (i - rowStart) * dvP, headDimV).CopyTo(new Span<float>(odst + (long)i * oStride, headDimV));
                }
            }
        });
    }

    [ThreadStatic] static float[]? t_shared;

    /// <summary>The calling thread's staging buffer, which the workers of one call read while the caller waits for them.</summary>
    static float[] SharedStage(long n) => ThreadScratch.AtLeast(ref t_shared, n);

    /// <summary>Rows c0..c1 of Kᵀ·scale for (batch b, kv head kv) into dst (row stride nkP, zero past nk).</summary>
    static unsafe void StageKeys(float* dst, float* k, int b, int kv, int nk, int nkP, int kvHeads, int headDimK, int c0, int c1, float scale)
    {
        int kStride = kvHeads * headDimK;
        Transpose.Scaled(dst, nkP, k + (long)b * nk * kStride + kv * headDimK, kStride, nk, nkP, c0, c1, scale);
    }

    /// <summary>V of (batch b, kv head kv) into dst as nk rows of dvP floats, zero past headDimV.</summary>
    static unsafe void StageValues(float* dst, float* v, int b, int kv, int nk, int dvP, int kvHeads, int headDimV)
    {
        int vStride = kvHeads * headDimV;
        float* vsrc = v + (long)b * nk * vStride + kv * headDimV;
        for (int j = 0; j < nk; j++)
        {
            new ReadOnlySpan<float>(vsrc + (long)j * vStride, headDimV).CopyTo(new Span<float>(dst + j * dvP, headDimV));
            for (int c = headDimV; c < dvP; c++) dst[j * dvP + c] = 0f;
        }
    }

    /// <summary>Softmax of scores s[0, limit) (keys past limit are causally masked) into p[0, nk) (p may be s), skipping padded
    /// keys, after adding the row's bias (or masking where it is nonzero). Returns the row's log-sum-exp (−∞ when every key is
    /// masked).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe float SoftmaxRow(float* s, float* p, int nk, int limit, float* pad, float* bias, bool maskBias)
    {
        if (bias != null)
        {
            if (maskBias)
            {
                for (int j = 0; j < limit; j++)
                    if (bias[j] != 0f) s[j] = float.NegativeInfinity;
            }
            else TensorPrimitives.Add(new ReadOnlySpan<float>(s, limit), new ReadOnlySpan<float>(bias, limit), new Span<float>(s, limit));
        }
        if (pad != null)
            for (int j = 0; j < limit; j++)
                if (pad[j] != 0f) s[j] = float.NegativeInfinity;
        float lse = float.NegativeInfinity;
        if (limit > 0)
        {
            float max = VectorMath.Softmax(s, p, limit, out float sum);
            if (!float.IsNegativeInfinity(max)) lse = max + MathF.Log(sum);
        }
        if (float.IsNegativeInfinity(lse)) new Span<float>(p, limit).Clear();
        new Span<float>(p + limit, nk - limit).Clear();
        return lse;
    }

    /// <summary>
    /// Accumulates dq, dk, dv, and dBias (B, H, Nq, Nk; null when the bias needs no gradient) with dS = P ∘ (dP − D), the
    /// gradient of the scores after the scale. Masks need not be passed: masked entries have P = 0 and drop out of every term.
    /// Parallel over (batch, kvHead): each task owns its dk/dv rows and its group's dq rows, so it adds into them without
    /// races. Heads whose width is a whole number of vectors are read and accumulated in place; others go through padded
    /// scratch rows.
    /// </summary>
    public static void Backward(float[] dq, float[] dk, float[] dv, float[]? dBias, float[] dO, float[] q, float[] k, float[] v, float[] o,
        float[] probs, int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, float scale) =>
        BackwardCore(dq, dk, dv, dBias, dO, q, k, v, o, probs, null, null, null, batch, nq, nk, heads, kvHeads, headDimK, headDimV, 0, 0, false, false, scale);

    /// <summary><see cref="Backward"/> after <see cref="StreamingForward"/>: each block of rows' probabilities are recomputed from the
    /// kept log-sum-exp (so the masks and the bias are needed again), and no N² buffer exists.</summary>
    public static void StreamingBackward(float[] dq, float[] dk, float[] dv, float[]? dBias, float[] dO, float[] q, float[] k, float[] v, float[] o,
        float[] lse, float[]? padding, float[]? bias, int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV,
        int biasBatch, int biasHead, bool causal, bool maskBias, float scale) =>
        BackwardCore(dq, dk, dv, dBias, dO, q, k, v, o, null, lse, padding, bias, batch, nq, nk, heads, kvHeads, headDimK, headDimV,
            biasBatch, biasHead, causal, maskBias, scale);

    /// <summary>Rows of the score gradient a backward task holds at once: more over long sequences, where each block streams
    /// all of K, V, dK and dV through the cache once (4096 tokens: 355 ms against 467 ms with 64 rows), fewer over short ones,
    /// whose block stays in L2 (ViT's 197 tokens: 5.3 ms against 6.0 ms with 128).</summary>
    static int BackwardRows(int nk) => nk >= 1024 ? 128 : 64;

    static void BackwardCore(float[] dq, float[] dk, float[] dv, float[]? dBias, float[] dO, float[] q, float[] k, float[] v, float[] o,
        float[]? probs, float[]? lse, float[]? padding, float[]? bias, int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV,
        int biasBatch, int biasHead, bool causal, bool maskBias, float scale)
    {
        int nkP = Pad(nk), dkP = Pad(headDimK), dvP = Pad(headDimV);
        int group = heads / kvHeads;
        bool kIn = headDimK % W == 0, vIn = headDimV % W == 0, streaming = probs is null;
        int blockRows = Math.Min(BackwardRows(nk), nq);
        // Scratch: Vt (dv×nkP), dS (rows×nkP), D (nq); when K is not in place K (nk×dkP), Q (nq×dkP), dQ (nq×dkP), dK (nk×dkP);
        // when V is not in place dO (nq×dvP), dV (nk×dvP); when streaming Kᵀ·scale (dk×nkP) and P (rows×nkP).
        int offDs = headDimV * nkP, offD = offDs + blockRows * nkP, offK = offD + nq;
        int offQ = offK + (kIn ? 0 : nk * dkP), offDq = offQ + (kIn ? 0 : nq * dkP), offDk = offDq + (kIn ? 0 : nq * dkP);
        int offDo = offDk + (kIn ? 0 : nk * dkP), offDv = offDo + (vIn ? 0 : nq * dvP), offKt = offDv + (vIn ? 0 : nk * dvP);
        int offP = offKt + (streaming ? headDimK * nkP : 0), total = offP + (streaming ? blockRows * nkP : 0);
        Workers.For(batch * kvHeads, bkv =>
        {
            int b = bkv / kvHeads, kv = bkv % kvHeads;
            var s = Scratch(total);
            unsafe
            {
                fixed (float* sp = s, qp = q, kp = k, vp = v, op = o, pp = probs, lp = lse, padp = padding, biasp = bias, dOp = dO, dqp = dq, dkp = dk,
                    dvp = dv, dbp = dBias)
                {
                    float* vt = sp, ds = sp + offDs, dd = sp + offD, kt = sp + offKt;
                    int qStride = heads * headDimK, kStride = kvHeads * headDimK, vStride = kvHeads * headDimV, oStride = heads * headDimV;
                    float* ksrc = kp + (long)b * nk * kStride + kv * headDimK;
                    float* vsrc = vp + (long)b * nk * vStride + kv * headDimV;
                    float* dkdst = dkp + (long)b * nk * kStride + kv * headDimK;
                    float* dvdst = dvp + (long)b * nk * vStride + kv * headDimV;
                    float* pad = padding != null ? padp + (long)b * nk : null;
                    Transpose.Scaled(vt, nkP, vsrc, vStride, nk, nkP, 0, headDimV, 1f);
                    if (streaming) Transpose.Scaled(kt, nkP, ksrc, kStride, nk, nkP, 0, headDimK, scale);
                    // K, and the dK / dV accumulators: in place, or padded scratch rows.
                    float* ks = ksrc, dka = dkdst, dva = dvdst;
                    int ldk = kStride, ldv = vStride;
                    if (!kIn)
                    {
                        ks = sp + offK; dka = sp + offDk; ldk = dkP;
                        GatherRows(ks, dkP, ksrc, kStride, nk, headDimK);
                        new Span<float>(dka, nk * dkP).Clear();
                    }
                    if (!vIn)
                    {
                        dva = sp + offDv; ldv = dvP;
                        new Span<float>(dva, nk * dvP).Clear();
                    }

                    for (int h = kv * group; h < (kv + 1) * group; h++)
                    {
                        float* qsrc = qp + (long)b * nq * qStride + h * headDimK;
                        float* dosrc = dOp + (long)b * nq * oStride + h * headDimV;
                        float* osrc = op + (long)b * nq * oStride + h * headDimV;
                        float* dqdst = dqp + (long)b * nq * qStride + h * headDimK;
                        float* qs = qsrc, dos = dosrc, dqa = dqdst;
                        int ldq = qStride, ldo = oStride, lddq = kIn ? qStride : dkP;
                        if (!kIn)
                        {
                            qs = sp + offQ; dqa = sp + offDq; ldq = dkP;
                            GatherRows(qs, dkP, qsrc, qStride, nq, headDimK);
                        }
                        if (!vIn)
                        {
                            dos = sp + offDo; ldo = dvP;
                            GatherRows(dos, dvP, dosrc, oStride, nq, headDimV);
                        }
                        for (int i = 0; i < nq; i++) dd[i] = VectorMath.Dot(dosrc + (long)i * oStride, osrc + (long)i * oStride, headDimV);
                        long row0 = ((long)b * heads + h) * nq;
                        float* biasRows = bias != null ? biasp + (long)b * biasBatch + (long)h * biasHead : null;

                        for (int r0 = 0; r0 < nq; r0 += blockRows)
                        {
                            int rows = Math.Min(blockRows, nq - r0);
                            // This block's probabilities: saved, or recomputed from the scores and the row's log-sum-exp.
                            float* P;
                            int ldp;
                            if (streaming)
                            {
                                P = sp + offP;
                                ldp = nkP;
                                Gemm(qsrc + (long)r0 * qStride, qStride, 1, kt, nkP, P, nkP, rows, nkP, headDimK, false);
                                for (int i = 0; i < rows; i++)
                                    RecomputeRow(P + i * nkP, nk, causal ? Math.Min(nk, r0 + i + 1) : nk, lp[row0 + r0 + i], pad,
                                        biasRows != null ? biasRows + (long)(r0 + i) * nk : null, maskBias);
                            }
                            else
                            {
                                P = pp + (row0 + r0) * nk;
                                ldp = nk;
                            }

                            // dP = dO · Vᵀ, then dS' = scale · P ∘ (dP − D)
                            Gemm(dosrc + (long)r0 * oStride, oStride, 1, vt, nkP, ds, nkP, rows, nkP, headDimV, false);
                            for (int i = 0; i < rows; i++) ScoreGradientRow(ds + i * nkP, P + (long)i * ldp, dd[r0 + i], scale, nk);
                            if (dBias != null)
                                for (int i = 0; i < rows; i++)
                                {
                                    var row = new Span<float>(dbp + (row0 + r0 + i) * nk, nk);
                                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(ds + i * nkP, nk), 1f / scale, row, row);
                                }
                            // dQ (+)= dS'·K ; dK += dS'ᵀ·Q ; dV += Pᵀ·dO — straight into dq, dk, dv when in place.
                            Gemm(ds, nkP, 1, ks, ldk, dqa + (long)r0 * lddq, lddq, rows, dkP, nk, kIn);
                            Gemm(ds, 1, nkP, qs + (long)r0 * ldq, ldq, dka, ldk, nk, dkP, rows, true);
                            Gemm(P, 1, ldp, dos + (long)r0 * ldo, ldo, dva, ldv, nk, dvP, rows, true);
                        }

                        if (!kIn)
                            for (int i = 0; i < nq; i++)
                            {
                                var dst = new Span<float>(dqdst + (long)i * qStride, headDimK);
                                TensorPrimitives.Add(dst, new ReadOnlySpan<float>(dqa + i * dkP, headDimK), dst);
                            }
                    }
                    if (!kIn)
                        for (int j = 0; j < nk; j++)
                        {
                            var d1 = new Span<float>(dkdst + (long)j * kStride, headDimK);
                            TensorPrimitives.Add(d1, new ReadOnlySpan<float>(dka + j * dkP, headDimK), d1);
                        }
                    if (!vIn)
                        for (int j = 0; j < nk; j++)
                        {
                            var d2 = new Span<float>(dvdst + (long)j * vStride, headDimV);
                            TensorPrimitives.Add(d2, new ReadOnlySpan<float>(dva + j * dvP, headDimV), d2);
                        }
                }
            }
        });
    }

    /// <summary>A row of probabilities from its scaled scores s[0, nk) and log-sum-exp: the bias applied (or its mask), then
    /// exp(s − lse) on the keys the row sees (limit, padding), 0 elsewhere and on a row whose keys are all masked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void RecomputeRow(float* s, int nk, int limit, float lse, float* pad, float* bias, bool maskBias)
    {
        var row = new Span<float>(s, nk);
        if (float.IsNegativeInfinity(lse)) { row.Clear(); return; }
        var seen = row.Slice(0, limit);
        if (bias != null && !maskBias) TensorPrimitives.Add(seen, new ReadOnlySpan<float>(bias, limit), seen);
        VectorMath.ExpShifted(s, s, limit, lse);
        if (bias != null && maskBias)
            for (int j = 0; j < limit; j++)
                if (bias[j] != 0f) s[j] = 0f;
        if (pad != null)
            for (int j = 0; j < limit; j++)
                if (pad[j] != 0f) s[j] = 0f;
        row.Slice(limit).Clear();
    }

    /// <summary>The probabilities (B, H, Nq, Nk) of a <see cref="StreamingForward"/>, recomputed from its log-sum-exp, for attention
    /// maps and Intermediate.</summary>
    public static void Probabilities(float[] probs, float[] q, float[] k, float[] lse, float[]? padding, float[]? bias, int batch, int nq, int nk,
        int heads, int kvHeads, int headDimK, int biasBatch, int biasHead, bool causal, bool maskBias, float scale)
    {
        int nkP = Pad(nk), group = heads / kvHeads;
        int blockRows = Math.Min(StreamRows, nq);
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads, kv = h / group;
            var s = Scratch(headDimK * nkP + blockRows * nkP);
            unsafe
            {
                fixed (float* sp = s, qp = q, kp = k, lp = lse, padp = padding, biasp = bias, pp = probs)
                {
                    float* kt = sp, sc = sp + headDimK * nkP;
                    StageKeys(kt, kp, b, kv, nk, nkP, kvHeads, headDimK, 0, headDimK, scale);
                    int qStride = heads * headDimK;
                    float* qsrc = qp + (long)b * nq * qStride + h * headDimK;
                    float* pad = padding != null ? padp + (long)b * nk : null;
                    float* biasRows = bias != null ? biasp + (long)b * biasBatch + (long)h * biasHead : null;
                    for (int r0 = 0; r0 < nq; r0 += blockRows)
                    {
                        int rows = Math.Min(blockRows, nq - r0);
                        Gemm(qsrc + (long)r0 * qStride, qStride, 1, kt, nkP, sc, nkP, rows, nkP, headDimK, false);
                        for (int i = 0; i < rows; i++)
                        {
                            float* row = sc + i * nkP;
                            RecomputeRow(row, nk, causal ? Math.Min(nk, r0 + i + 1) : nk, lp[(long)bh * nq + r0 + i], pad,
                                biasRows != null ? biasRows + (long)(r0 + i) * nk : null, maskBias);
                            new ReadOnlySpan<float>(row, nk).CopyTo(new Span<float>(pp + ((long)bh * nq + r0 + i) * nk, nk));
                        }
                    }
                }
            }
        });
    }

    /// <summary>ds[j] = scale · p[j] · (ds[j] − d) for j &lt; n: one row of the score gradient, in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void ScoreGradientRow(float* ds, float* p, float d, float scale, int n)
    {
        int j = 0;
        var vd = Vector512.Create(d);
        var vs = Vector512.Create(scale);
        for (; j + W <= n; j += W)
            (vs * Vector512.Load(p + j) * (Vector512.Load(ds + j) - vd)).Store(ds + j);
        for (; j < n; j++) ds[j] = scale * p[j] * (ds[j] - d);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void GatherRows(float* dst, int ldDst, float* src, int ldSrc, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            float* d = dst + r * ldDst;
            new ReadOnlySpan<float>(src + (long)r * ldSrc, cols).CopyTo(new Span<float>(d, cols));
            for (int c = cols; c < ldDst; c++) d[c] = 0f;
        }
    }

    /// <summary>
    /// C (m × n) = A·B (or += when accumulate), where A's element (row r, inner t) is a[r·rs + t·ts] (so rs=lda, ts=1 is A,
    /// rs=1, ts=lda is Aᵀ), B is (kk × n) with row stride ldb and n a multiple of 16 (callers pad scratch rows), C has row stride ldc.
    /// Register-blocked 4 rows × 64 columns; Vector512 falls back to 2×Vector256 in software where AVX-512 is absent.
    /// </summary>
    static unsafe void Gemm(float* a, int rs, int ts, float* b, int ldb, float* c, int ldc, int m, int n, int kk, bool accumulate)
    {
        int col = 0;
        for (; col + 4 * W <= n; col += 4 * W)
        {
            int r = 0;
            for (; r + 4 <= m; r += 4) Block4x4(a + r * rs, rs, ts, b + col, ldb, c + r * ldc + col, ldc, kk, accumulate);
            for (; r < m; r++) Block1x4(a + r * rs, ts, b + col, ldb, c + r * ldc + col, kk, accumulate);
        }
        for (; col < n; col += W)
        {
            int r = 0;
            for (; r + 8 <= m; r += 8) Block8x1(a + r * rs, rs, ts, b + col, ldb, c + r * ldc + col, ldc, kk, accumulate);
            for (; r + 4 <= m; r += 4) Block4x1(a + r * rs, rs, ts, b + col, ldb, c + r * ldc + col, ldc, kk, accumulate);
            for (; r + 2 <= m; r += 2) Block2x1(a + r * rs, rs, ts, b + col, ldb, c + r * ldc + col, ldc, kk, accumulate);
            for (; r < m; r++) Block1x1(a + r * rs, ts, b + col, ldb, c + r * ldc + col, kk, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Block4x4(float* a, int rs, int ts, float* b, int ldb, float* c, int ldc, int kk, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs;
        for (int t = 0; t < kk; t++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + W);
            var b2 = Vector512.Load(b + 2 * W);
            var b3 = Vector512.Load(b + 3 * W);
            var x = Vector512.Create(*a0);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(*a1);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(*a2);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(*a3);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            a0 += ts; a1 += ts; a2 += ts; a3 += ts; b += ldb;
        }
        Store(c, accumulate, c00); Store(c + W, accumulate, c01); Store(c + 2 * W, accumulate, c02); Store(c + 3 * W, accumulate, c03);
        c += ldc;
        Store(c, accumulate, c10); Store(c + W, accumulate, c11); Store(c + 2 * W, accumulate, c12); Store(c + 3 * W, accumulate, c13);
        c += ldc;
        Store(c, accumulate, c20); Store(c + W, accumulate, c21); Store(c + 2 * W, accumulate, c22); Store(c + 3 * W, accumulate, c23);
        c += ldc;
        Store(c, accumulate, c30); Store(c + W, accumulate, c31); Store(c + 2 * W, accumulate, c32); Store(c + 3 * W, accumulate, c33);
    }

    /// <summary>8 rows × one vector: eight independent sums keep the FMA units busy where 4 would wait on latency
    /// (a head of 16 floats is one vector wide).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Block8x1(float* a, int rs, int ts, float* b, int ldb, float* c, int ldc, int kk, bool accumulate)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        // Two row pointers and three offsets (not eight pointers) so the loop's addresses stay in registers.
        nint r1 = rs, r2 = 2 * (nint)rs, r3 = 3 * (nint)rs;
        float* a0 = a, a4 = a + 4 * (nint)rs;
        for (int t = 0; t < kk; t++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[r1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[r2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[r3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[0]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[r1]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[r2]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[r3]), b0, c7);
            a0 += ts; a4 += ts; b += ldb;
        }
        Store(c, accumulate, c0); Store(c + ldc, accumulate, c1); Store(c + 2 * ldc, accumulate, c2); Store(c + 3 * ldc, accumulate, c3);
        c += 4 * ldc;
        Store(c, accumulate, c4); Store(c + ldc, accumulate, c5); Store(c + 2 * ldc, accumulate, c6); Store(c + 3 * ldc, accumulate, c7);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Block4x1(float* a, int rs, int ts, float* b, int ldb, float* c, int ldc, int kk, bool accumulate)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        float* a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs;
        for (int t = 0; t < kk; t++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(*a0), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(*a1), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(*a2), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(*a3), b0, c3);
            a0 += ts; a1 += ts; a2 += ts; a3 += ts; b += ldb;
        }
        Store(c, accumulate, c0); Store(c + ldc, accumulate, c1); Store(c + 2 * ldc, accumulate, c2); Store(c + 3 * ldc, accumulate, c3);
    }

    /// <summary>Two rows × one vector (the rows left over by the 8- and 4-row blocks): two sums in flight instead of one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Block2x1(float* a, int rs, int ts, float* b, int ldb, float* c, int ldc, int kk, bool accumulate)
    {
        Vector512<float> c0 = default, c1 = default;
        float* a0 = a, a1 = a + rs;
        for (int t = 0; t < kk; t++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(*a0), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(*a1), b0, c1);
            a0 += ts; a1 += ts; b += ldb;
        }
        Store(c, accumulate, c0); Store(c + ldc, accumulate, c1);
    }

    /// <summary>One row × four vectors, their sums side by side; each element is still summed in the order of t, so the
    /// rows left over by 4-row blocks get the same bits they would inside one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Block1x4(float* a, int ts, float* b, int ldb, float* c, int kk, bool accumulate)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int t = 0; t < kk; t++)
        {
            var x = Vector512.Create(*a);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b), c0);
            c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + W), c1);
            c2 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 2 * W), c2);
            c3 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 3 * W), c3);
            a += ts; b += ldb;
        }
        Store(c, accumulate, c0); Store(c + W, accumulate, c1); Store(c + 2 * W, accumulate, c2); Store(c + 3 * W, accumulate, c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Block1x1(float* a, int ts, float* b, int ldb, float* c, int kk, bool accumulate)
    {
        Vector512<float> acc = default;
        for (int t = 0; t < kk; t++) { acc = Vector512.FusedMultiplyAdd(Vector512.Create(*a), Vector512.Load(b), acc); a += ts; b += ldb; }
        Store(c, accumulate, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Store(float* c, bool accumulate, Vector512<float> x)
    {
        if (accumulate) x += Vector512.Load(c);
        x.Store(c);
    }

    // ---------------- GPU kernel bodies ----------------

    /// <summary>Extent: batch·heads·nq (one thread per query row; the scores are staged in that row of probs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> o, ArrayView<float> probs, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> padding, ArrayView<float> bias, int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV,
        int biasBatch, int biasHead, bool causal, bool hasPadding, bool hasBias, bool maskBias, float scale)
    {
        if (i >= batch * heads * nq) return;
        int row = i;
        int qi = row % nq;
        int bh = row / nq;
        int h = bh % heads, b = bh / heads;
        int kv = h / (heads / kvHeads);
        int qBase = (b * nq + qi) * heads * headDimK + h * headDimK;
        int pBase = row * nk;
        long biasRow = BiasRow(b, h, qi, nk, biasBatch, biasHead);
        float max = float.NegativeInfinity;
        for (int j = 0; j < nk; j++)
        {
            bool masked = (causal && j > qi) || (hasPadding && padding[b * nk + j] != 0f);
            if (masked) { probs[pBase + j] = float.NegativeInfinity; continue; }
            int kBase = (b * nk + j) * kvHeads * headDimK + kv * headDimK;
            float acc = 0f;
            for (int c = 0; c < headDimK; c++) acc += q[qBase + c] * k[kBase + c];
            acc *= scale;
            if (hasBias) acc = Biased(acc, bias, biasRow + j, maskBias);
            probs[pBase + j] = acc;
            if (acc > max) max = acc;
        }
        float sum = 0f;
        for (int j = 0; j < nk; j++)
        {
            float sc = probs[pBase + j];
            float e = sc == float.NegativeInfinity ? 0f : MathF.Exp(sc - max);
            probs[pBase + j] = e;
            sum += e;
        }
        float inv = sum > 0f ? 1f / sum : 0f;
        for (int j = 0; j < nk; j++) probs[pBase + j] = probs[pBase + j] * inv;
        int oBase = (b * nq + qi) * heads * headDimV + h * headDimV;
        for (int c = 0; c < headDimV; c++)
        {
            float acc = 0f;
            for (int j = 0; j < nk; j++) acc += probs[pBase + j] * v[(b * nk + j) * kvHeads * headDimV + kv * headDimV + c];
            o[oBase + c] = acc;
        }
    }

    /// <summary>Extent: batch·heads·nq. Writes dS (B, H, Nq, Nk) = P ∘ (dO·v − dO·o), accumulates dq, and dS into dBias when
    /// the score bias needs a gradient.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardScoresKernel(Index1D i, ArrayView<float> dS, ArrayView<float> dq, ArrayView<float> dBias, ArrayView<float> dO,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> probs,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, bool hasBiasGrad, float scale)
    {
        if (i >= batch * heads * nq) return;
        int row = i;
        int qi = row % nq;
        int bh = row / nq;
        int h = bh % heads, b = bh / heads;
        int kv = h / (heads / kvHeads);
        int oBase = (b * nq + qi) * heads * headDimV + h * headDimV;
        float d = 0f;
        for (int c = 0; c < headDimV; c++) d += dO[oBase + c] * o[oBase + c];
        int pBase = row * nk;
        for (int j = 0; j < nk; j++)
        {
            int vBase = (b * nk + j) * kvHeads * headDimV + kv * headDimV;
            float dp = 0f;
            for (int c = 0; c < headDimV; c++) dp += dO[oBase + c] * v[vBase + c];
            float g = probs[pBase + j] * (dp - d);
            dS[pBase + j] = g;
            if (hasBiasGrad) dBias[pBase + j] += g;
        }
        int qBase = (b * nq + qi) * heads * headDimK + h * headDimK;
        for (int c = 0; c < headDimK; c++)
        {
            float acc = 0f;
            for (int j = 0; j < nk; j++) acc += dS[pBase + j] * k[(b * nk + j) * kvHeads * headDimK + kv * headDimK + c];
            dq[qBase + c] += scale * acc;
        }
    }

    /// <summary>Offset of score row (b, h, i) in a bias read with these batch and head strides.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static long BiasRow(int b, int h, int i, int nk, int biasBatch, int biasHead) => (long)b * biasBatch + (long)h * biasHead + (long)i * nk;

    /// <summary>A scaled score with the bias at <paramref name="at"/> added, or masked (−∞) where a mask bias is nonzero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Biased(float s, ArrayView<float> bias, long at, bool maskBias) =>
        maskBias ? (bias[at] != 0f ? float.NegativeInfinity : s) : s + bias[at];

    /// <summary>Extent: batch·kvHeads·nk. Accumulates dk and dv of one key, summing the group's query heads and all queries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKeyValueKernel(Index1D i, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dS,
        ArrayView<float> dO, ArrayView<float> q, ArrayView<float> probs,
        int batch, int nq, int nk, int heads, int kvHeads, int headDimK, int headDimV, float scale)
    {
        if (i >= batch * kvHeads * nk) return;
        int idx = i;
        int j = idx % nk;
        int bkv = idx / nk;
        int kv = bkv % kvHeads, b = bkv / kvHeads;
        int group = heads / kvHeads;
        int kBase = (b * nk + j) * kvHeads * headDimK + kv * headDimK;
        int vBase = (b * nk + j) * kvHeads * headDimV + kv * headDimV;
        for (int c = 0; c < headDimK; c++)
        {
            float acc = 0f;
            for (int h = kv * group; h < (kv + 1) * group; h++)
                for (int qi = 0; qi < nq; qi++)
                    acc += dS[((b * heads + h) * nq + qi) * nk + j] * q[(b * nq + qi) * heads * headDimK + h * headDimK + c];
            dk[kBase + c] += scale * acc;
        }
        for (int c = 0; c < headDimV; c++)
        {
            float acc = 0f;
            for (int h = kv * group; h < (kv + 1) * group; h++)
                for (int qi = 0; qi < nq; qi++)
                    acc += probs[((b * heads + h) * nq + qi) * nk + j] * dO[(b * nq + qi) * heads * headDimV + h * headDimV + c];
            dv[vBase + c] += acc;
        }
    }
}
