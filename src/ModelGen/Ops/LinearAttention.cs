using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Attention through feature maps (Katharopoulos et al.; Performer's FAVOR+): o_i = φq_iᵀS / φq_iᵀz with S = Σ_j φk_j v_jᵀ and
/// z = Σ_j φk_j, over every key, or over j ≤ i when causal (prefix sums), so time and memory are linear in the tokens.
/// Layouts: φq (B, H, N, m), φk (B, G, N, m) for G key/value heads (query head h reads group h·G/H), v (B, N, G·dv),
/// o (B, N, H·dv); saved: the state (B, G, m, dv + 1) of S and z side by side (z is column dv) and the denominators (B, H, N).
/// Backward, with r_i = [dO_i / den_i, −dO_i·o_i / den_i]: dφq_i = S·r_i, dφk_j = G_j·[v_j, 1], dv_j = G_jᵀφk_j where
/// G_j = Σ_i φq_i r_iᵀ (over i ≥ j when causal, a reverse prefix sum), so the causal backward also needs no N×N and no
/// per-token state.
/// </summary>
public static class LinearAttention
{
    [ThreadStatic] static float[]? t_rows;
    [ThreadStatic] static float[]? t_extended;
    [ThreadStatic] static float[]? t_state;

    static Span<float> Scratch(ref float[]? buffer, int length) => ThreadScratch.AtLeast(ref buffer, length).AsSpan(0, length);

    /// <summary>o, the state and the denominators, a task per (sample, key/value head). Without the causal mask the state is one
    /// product φkᵀ·v (m×N by N×dv) beside the sums of φk, and the numerators one product φq·state per head.</summary>
    public static void Forward(float[] o, float[] state, float[] den, float[] qf, float[] kf, float[] v, int batch, int tokens, int heads, int kvHeads,
        int features, int headDimV, bool causal)
    {
        int w = headDimV + 1, group = heads / kvHeads;
        Workers.For(batch * kvHeads, bg =>
        {
            int b = bg / kvHeads, g = bg % kvHeads;
            var s = state.AsSpan(bg * features * w, features * w);
            if (!causal)
            {
                Gemm.MultiplySerial(true, false, features, headDimV, tokens, kf, bg * tokens * features, features, v, b * tokens * kvHeads * headDimV + g * headDimV,
                    kvHeads * headDimV, state, bg * features * w, w, accumulate: false);
                var z = Scratch(ref t_extended, features);
                z.Clear();
                for (int n = 0; n < tokens; n++) TensorPrimitives.Add(z, kf.AsSpan((bg * tokens + n) * features, features), z);
                for (int r = 0; r < features; r++) s[r * w + headDimV] = z[r];
                Scratch(ref t_rows, tokens * w);
                for (int t = 0; t < group; t++)
                {
                    int h = g * group + t;
                    Gemm.MultiplySerial(false, false, tokens, w, features, qf, (b * heads + h) * tokens * features, features, state, bg * features * w, w,
                        t_rows!, 0, w, accumulate: false);
                    for (int n = 0; n < tokens; n++)
                    {
                        var num = t_rows.AsSpan(n * w, w);
                        den[(b * heads + h) * tokens + n] = num[headDimV];
                        Divide(num.Slice(0, headDimV), num[headDimV], o.AsSpan((b * tokens + n) * heads * headDimV + h * headDimV, headDimV));
                    }
                }
                return;
            }
            s.Clear();
            var extended = new float[w];
            var numerator = new float[w];
            for (int n = 0; n < tokens; n++)
            {
                Accumulate(s, kf, v, extended, bg, b, g, n, tokens, kvHeads, features, headDimV);
                for (int t = 0; t < group; t++)
                {
                    int h = g * group + t;
                    var q = qf.AsSpan(((b * heads + h) * tokens + n) * features, features);
                    numerator.AsSpan().Clear();
                    for (int r = 0; r < features; r++) TensorPrimitives.MultiplyAdd(s.Slice(r * w, w), q[r], numerator, numerator);
                    den[(b * heads + h) * tokens + n] = numerator[headDimV];
                    Divide(numerator.AsSpan(0, headDimV), numerator[headDimV], o.AsSpan((b * tokens + n) * heads * headDimV + h * headDimV, headDimV));
                }
            }
        });
    }

    /// <summary>o = numerator / den; 0 where den is 0 (every key the query sees is padded, so φk = 0 for all of them).</summary>
    static void Divide(ReadOnlySpan<float> numerator, float den, Span<float> o)
    {
        if (den == 0f) o.Clear();
        else TensorPrimitives.Divide(numerator, den, o);
    }

    /// <summary>1 / den, or 0 for a query that sees no unpadded key (its output is 0 and has no gradient).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Inverse(float den) => den == 0f ? 0f : 1f / den;

    /// <summary>S += φk_n [v_n, 1]ᵀ.</summary>
    static void Accumulate(Span<float> s, float[] kf, float[] v, float[] extended, int bg, int b, int g, int n, int tokens, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        v.AsSpan((b * tokens + n) * kvHeads * headDimV + g * headDimV, headDimV).CopyTo(extended);
        extended[headDimV] = 1f;
        var k = kf.AsSpan((bg * tokens + n) * features, features);
        for (int r = 0; r < features; r++)
        {
            var row = s.Slice(r * w, w);
            TensorPrimitives.MultiplyAdd(extended, k[r], row, row);
        }
    }

    /// <summary>dφq, dφk and dv accumulate (+=); a task per (sample, key/value head). Without the causal mask every gradient is one
    /// product: dφq += r·stateᵀ, G = Σ_heads φqᵀ·r, dφk += [v, 1]·Gᵀ, dv += φk·G.</summary>
    public static void Backward(float[] dqf, float[] dkf, float[] dValues, float[] dO, float[] qf, float[] kf, float[] v, float[] o, float[] state, float[] den,
        int batch, int tokens, int heads, int kvHeads, int features, int headDimV, bool causal)
    {
        int w = headDimV + 1, group = heads / kvHeads;
        Workers.For(batch * kvHeads, bg =>
        {
            int b = bg / kvHeads, g = bg % kvHeads;
            if (!causal)
            {
                Scratch(ref t_rows, tokens * w);
                Scratch(ref t_state, features * w);
                var residual = new float[w];
                for (int t = 0; t < group; t++)
                {
                    int h = g * group + t;
                    for (int n = 0; n < tokens; n++)
                    {
                        Residual(residual, dO, o, den, b, h, n, tokens, heads, headDimV);
                        residual.CopyTo(t_rows.AsSpan(n * w, w));
                    }
                    Gemm.MultiplySerial(false, true, tokens, features, w, t_rows!, 0, w, state, bg * features * w, w, dqf, (b * heads + h) * tokens * features, features,
                        accumulate: true);
                    Gemm.MultiplySerial(true, false, features, w, tokens, qf, (b * heads + h) * tokens * features, features, t_rows!, 0, w, t_state!, 0, w,
                        accumulate: t > 0);
                }
                for (int n = 0; n < tokens; n++)
                {
                    var row = t_rows.AsSpan(n * w, w);
                    v.AsSpan((b * tokens + n) * kvHeads * headDimV + g * headDimV, headDimV).CopyTo(row);
                    row[headDimV] = 1f;
                }
                Gemm.MultiplySerial(false, true, tokens, features, w, t_rows!, 0, w, t_state!, 0, w, dkf, bg * tokens * features, features, accumulate: true);
                Gemm.MultiplySerial(false, false, tokens, headDimV, features, kf, bg * tokens * features, features, t_state!, 0, w,
                    dValues, b * tokens * kvHeads * headDimV + g * headDimV, kvHeads * headDimV, accumulate: true);
                return;
            }
            var sums = new float[features * w];
            var r = new float[w];
            var extended = new float[w];
            // Queries: the prefix S up to n.
            for (int n = 0; n < tokens; n++)
            {
                Accumulate(sums, kf, v, extended, bg, b, g, n, tokens, kvHeads, features, headDimV);
                for (int t = 0; t < group; t++)
                {
                    int h = g * group + t;
                    Residual(r, dO, o, den, b, h, n, tokens, heads, headDimV);
                    var dq = dqf.AsSpan(((b * heads + h) * tokens + n) * features, features);
                    for (int f = 0; f < features; f++) dq[f] += TensorPrimitives.Dot(sums.AsSpan(f * w, w), r);
                }
            }
            // Keys and values: the suffix G from n.
            sums.AsSpan().Clear();
            for (int n = tokens - 1; n >= 0; n--)
            {
                AccumulateQueries(sums, qf, dO, o, den, r, b, g, n, tokens, heads, group, features, headDimV);
                v.AsSpan((b * tokens + n) * kvHeads * headDimV + g * headDimV, headDimV).CopyTo(extended);
                extended[headDimV] = 1f;
                var k = kf.AsSpan((bg * tokens + n) * features, features);
                var dk = dkf.AsSpan((bg * tokens + n) * features, features);
                var dv = dValues.AsSpan((b * tokens + n) * kvHeads * headDimV + g * headDimV, headDimV);
                for (int f = 0; f < features; f++)
                {
                    var row = sums.AsSpan(f * w, w);
                    dk[f] += TensorPrimitives.Dot(row, extended);
                    TensorPrimitives.MultiplyAdd(row.Slice(0, headDimV), k[f], dv, dv);
                }
            }
        });
    }

    /// <summary>G += Σ_(heads of the group) φq_n r_nᵀ.</summary>
    static void AccumulateQueries(float[] sums, float[] qf, float[] dO, float[] o, float[] den, float[] residual, int b, int g, int n, int tokens, int heads,
        int group, int features, int headDimV)
    {
        int w = headDimV + 1;
        for (int t = 0; t < group; t++)
        {
            int h = g * group + t;
            Residual(residual, dO, o, den, b, h, n, tokens, heads, headDimV);
            var q = qf.AsSpan(((b * heads + h) * tokens + n) * features, features);
            for (int r = 0; r < features; r++)
            {
                var row = sums.AsSpan(r * w, w);
                TensorPrimitives.MultiplyAdd(residual, q[r], row, row);
            }
        }
    }

    /// <summary>r = [dO / den, −dO·o / den] of query head h at token n.</summary>
    static void Residual(float[] residual, float[] dO, float[] o, float[] den, int b, int h, int n, int tokens, int heads, int headDimV)
    {
        int e = (b * tokens + n) * heads * headDimV + h * headDimV;
        float inverse = Inverse(den[((long)b * heads + h) * tokens + n]);
        var gradient = dO.AsSpan(e, headDimV);
        TensorPrimitives.Multiply(gradient, inverse, residual.AsSpan(0, headDimV));
        residual[headDimV] = -TensorPrimitives.Dot(gradient, o.AsSpan(e, headDimV)) * inverse;
    }

    // Device kernels. Forward: the state (a thread per entry) or its causal sweep (a thread per column), the numerators and
    // denominators, then the division. Backward: the residuals r, then the gradients a thread per output element (or a sweep a
    // thread per row or column of the state when causal). Every forward kernel takes the forward's buffers, every backward
    // kernel the backward's, whichever it reads.

    /// <summary>Extent: batch·kvHeads·features·(dv + 1). state[r, e] = Σ_n φk[n, r]·[v_n, 1][e].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StateKernel(Index1D i, ArrayView<float> o, ArrayView<float> state, ArrayView<float> den, ArrayView<float> qf, ArrayView<float> kf,
        ArrayView<float> v, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * kvHeads * features * w) return;
        int e = (int)(i % w), r = (int)(i / w % features);
        long bg = i / ((long)w * features);
        int b = (int)(bg / kvHeads), g = (int)(bg % kvHeads);
        float sum = 0f;
        for (int n = 0; n < tokens; n++) sum += kf[(bg * tokens + n) * features + r] * Extended(v, b, g, n, e, tokens, kvHeads, headDimV);
        state[i] = sum;
    }

    /// <summary>Extent: batch·heads·tokens·(dv + 1). Σ_r φq[n, r]·state[r, e]: o unnormalised (e &lt; dv) or the denominator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NumeratorKernel(Index1D i, ArrayView<float> o, ArrayView<float> state, ArrayView<float> den, ArrayView<float> qf, ArrayView<float> kf,
        ArrayView<float> v, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * heads * tokens * w) return;
        int e = (int)(i % w);
        long row = i / w;
        int n = (int)(row % tokens), h = (int)(row / tokens % heads), b = (int)(row / ((long)tokens * heads));
        long s = ((long)b * kvHeads + h / (heads / kvHeads)) * features * w + e;
        float sum = 0f;
        for (int r = 0; r < features; r++) sum += qf[row * features + r] * state[s + (long)r * w];
        Numerator(o, den, sum, b, h, n, e, tokens, heads, headDimV);
    }

    /// <summary>Extent: batch·kvHeads·(dv + 1): a thread per column e of a state, which it sums token by token (its own column of
    /// the state buffer) and reads for every query head of the group at each token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CausalNumeratorKernel(Index1D i, ArrayView<float> o, ArrayView<float> state, ArrayView<float> den, ArrayView<float> qf,
        ArrayView<float> kf, ArrayView<float> v, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * kvHeads * w) return;
        int e = (int)(i % w);
        long bg = i / w;
        int b = (int)(bg / kvHeads), g = (int)(bg % kvHeads), group = heads / kvHeads;
        long s = bg * features * w + e;
        for (int r = 0; r < features; r++) state[s + (long)r * w] = 0f;
        for (int n = 0; n < tokens; n++)
        {
            float value = Extended(v, b, g, n, e, tokens, kvHeads, headDimV);
            long k = (bg * tokens + n) * features;
            for (int r = 0; r < features; r++) state[s + (long)r * w] += kf[k + r] * value;
            for (int t = 0; t < group; t++)
            {
                int h = g * group + t;
                long q = (((long)b * heads + h) * tokens + n) * features;
                float sum = 0f;
                for (int r = 0; r < features; r++) sum += qf[q + r] * state[s + (long)r * w];
                Numerator(o, den, sum, b, h, n, e, tokens, heads, headDimV);
            }
        }
    }

    /// <summary>Extent: batch·tokens·heads·dv. o /= den.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NormalizeKernel(Index1D i, ArrayView<float> o, ArrayView<float> state, ArrayView<float> den, ArrayView<float> qf, ArrayView<float> kf,
        ArrayView<float> v, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        if (i >= (long)batch * tokens * heads * headDimV) return;
        int h = (int)(i / headDimV % heads);
        long bn = i / ((long)headDimV * heads);
        int n = (int)(bn % tokens), b = (int)(bn / tokens);
        o[i] = o[i] * Inverse(den[((long)b * heads + h) * tokens + n]);
    }

    /// <summary>Extent: batch·heads·tokens·(dv + 1). residual[b, h, n] = [dO / den, −dO·o / den].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ResidualKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * heads * tokens * w) return;
        int e = (int)(i % w);
        long row = i / w;
        int n = (int)(row % tokens), h = (int)(row / tokens % heads), b = (int)(row / ((long)tokens * heads));
        long x = ((long)b * tokens + n) * heads * headDimV + (long)h * headDimV;
        float inverse = Inverse(den[row]);
        if (e < headDimV)
        {
            residual[i] = dO[x + e] * inverse;
            return;
        }
        float dot = 0f;
        for (int k = 0; k < headDimV; k++) dot += dO[x + k] * o[x + k];
        residual[i] = -dot * inverse;
    }

    /// <summary>Extent: batch·heads·tokens·features. dφq[n, r] += Σ_e state[r, e]·residual[n, e].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void QueryGradKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * heads * tokens * features) return;
        int r = (int)(i % features);
        long row = i / features;
        int h = (int)(row / tokens % heads), b = (int)(row / ((long)tokens * heads));
        long s = (((long)b * kvHeads + h / (heads / kvHeads)) * features + r) * w;
        float sum = 0f;
        for (int e = 0; e < w; e++) sum += state[s + e] * residual[row * w + e];
        dqf[i] += sum;
    }

    /// <summary>Extent: batch·kvHeads·features·(dv + 1). sweep[r, e] = Σ_(heads of the group, n) φq[n, r]·residual[n, e].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StateGradKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * kvHeads * features * w) return;
        int e = (int)(i % w), r = (int)(i / w % features);
        long bg = i / ((long)w * features);
        int b = (int)(bg / kvHeads), g = (int)(bg % kvHeads), group = heads / kvHeads;
        float sum = 0f;
        for (int t = 0; t < group; t++)
        {
            long row = ((long)b * heads + g * group + t) * tokens;
            for (int n = 0; n < tokens; n++) sum += qf[(row + n) * features + r] * residual[(row + n) * w + e];
        }
        sweep[i] = sum;
    }

    /// <summary>Extent: batch·kvHeads·tokens·features. dφk[n, r] += Σ_e sweep[r, e]·[v_n, 1][e].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void KeyGradKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * kvHeads * tokens * features) return;
        int r = (int)(i % features);
        long row = i / features;
        int n = (int)(row % tokens);
        long bg = row / tokens;
        int b = (int)(bg / kvHeads), g = (int)(bg % kvHeads);
        long s = (bg * features + r) * w;
        float sum = 0f;
        for (int e = 0; e < w; e++) sum += sweep[s + e] * Extended(v, b, g, n, e, tokens, kvHeads, headDimV);
        dkf[i] += sum;
    }

    /// <summary>Extent: batch·tokens·kvHeads·dv. dv[n, e] += Σ_r sweep[r, e]·φk[n, r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ValueGradKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * tokens * kvHeads * headDimV) return;
        int e = (int)(i % headDimV), g = (int)(i / headDimV % kvHeads);
        long bn = i / ((long)headDimV * kvHeads);
        int n = (int)(bn % tokens), b = (int)(bn / tokens);
        long bg = (long)b * kvHeads + g, k = (bg * tokens + n) * features;
        float sum = 0f;
        for (int r = 0; r < features; r++) sum += sweep[(bg * features + r) * w + e] * kf[k + r];
        dValues[i] += sum;
    }

    /// <summary>Extent: batch·kvHeads·features: a thread per row r of the prefix S (its own row of the sweep buffer), token by
    /// token: dφq[n, r] += Σ_e S_n[r, e]·residual[n, e] for every query head of the group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CausalQueryGradKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * kvHeads * features) return;
        int r = (int)(i % features);
        long bg = i / features;
        int b = (int)(bg / kvHeads), g = (int)(bg % kvHeads), group = heads / kvHeads;
        long s = i * w;
        for (int e = 0; e < w; e++) sweep[s + e] = 0f;
        for (int n = 0; n < tokens; n++)
        {
            float k = kf[(bg * tokens + n) * features + r];
            for (int e = 0; e < w; e++) sweep[s + e] += k * Extended(v, b, g, n, e, tokens, kvHeads, headDimV);
            for (int t = 0; t < group; t++)
            {
                long row = ((long)b * heads + g * group + t) * tokens + n;
                float sum = 0f;
                for (int e = 0; e < w; e++) sum += sweep[s + e] * residual[row * w + e];
                dqf[row * features + r] += sum;
            }
        }
    }

    /// <summary>Extent: batch·kvHeads·features: a thread per row r of the suffix G, from the last token back:
    /// dφk[n, r] += Σ_e G_n[r, e]·[v_n, 1][e].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CausalKeyGradKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * kvHeads * features) return;
        int r = (int)(i % features);
        long bg = i / features;
        int b = (int)(bg / kvHeads), g = (int)(bg % kvHeads), group = heads / kvHeads;
        long s = i * w;
        for (int e = 0; e < w; e++) sweep[s + e] = 0f;
        for (int n = tokens - 1; n >= 0; n--)
        {
            for (int t = 0; t < group; t++)
            {
                long row = ((long)b * heads + g * group + t) * tokens + n;
                float q = qf[row * features + r];
                for (int e = 0; e < w; e++) sweep[s + e] += q * residual[row * w + e];
            }
            float sum = 0f;
            for (int e = 0; e < w; e++) sum += sweep[s + e] * Extended(v, b, g, n, e, tokens, kvHeads, headDimV);
            dkf[(bg * tokens + n) * features + r] += sum;
        }
    }

    /// <summary>Extent: batch·kvHeads·dv: a thread per column e of the suffix G, from the last token back:
    /// dv[n, e] += Σ_r G_n[r, e]·φk[n, r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CausalValueGradKernel(Index1D i, ArrayView<float> dqf, ArrayView<float> dkf, ArrayView<float> dValues, ArrayView<float> residual,
        ArrayView<float> sweep, ArrayView<float> dO, ArrayView<float> qf, ArrayView<float> kf, ArrayView<float> v, ArrayView<float> o, ArrayView<float> state,
        ArrayView<float> den, int batch, int tokens, int heads, int kvHeads, int features, int headDimV)
    {
        int w = headDimV + 1;
        if (i >= (long)batch * kvHeads * headDimV) return;
        int e = (int)(i % headDimV);
        long bg = i / headDimV;
        int b = (int)(bg / kvHeads), g = (int)(bg % kvHeads), group = heads / kvHeads;
        long s = bg * features * w + e;
        for (int r = 0; r < features; r++) sweep[s + (long)r * w] = 0f;
        for (int n = tokens - 1; n >= 0; n--)
        {
            long k = (bg * tokens + n) * features;
            float sum = 0f;
            for (int r = 0; r < features; r++)
            {
                float add = 0f;
                for (int t = 0; t < group; t++)
                {
                    long row = ((long)b * heads + g * group + t) * tokens + n;
                    add += qf[row * features + r] * residual[row * w + e];
                }
                float total = sweep[s + (long)r * w] + add;
                sweep[s + (long)r * w] = total;
                sum += total * kf[k + r];
            }
            dValues[((long)b * tokens + n) * kvHeads * headDimV + (long)g * headDimV + e] += sum;
        }
    }

    /// <summary>[v_n, 1][e] of key/value head g.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Extended(ArrayView<float> v, int b, int g, int n, int e, int tokens, int kvHeads, int headDimV) =>
        e < headDimV ? v[((long)b * tokens + n) * kvHeads * headDimV + (long)g * headDimV + e] : 1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Numerator(ArrayView<float> o, ArrayView<float> den, float sum, int b, int h, int n, int e, int tokens, int heads, int headDimV)
    {
        if (e < headDimV) o[((long)b * tokens + n) * heads * headDimV + (long)h * headDimV + e] = sum;
        else den[((long)b * heads + h) * tokens + n] = sum;
    }
}
