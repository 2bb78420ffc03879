using System;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Adaptive attention span (Sukhbaatar et al.): each head h learns a span z_h = S·clamp(p_h, 0, 1) of at most S tokens, and keys
/// farther than it fade out over a ramp of R tokens, m(x) = clamp((R + z_h − x)/R, 0, 1) at distance x = |i − j|. The paper's
/// weights m·e^s / Σ m·e^s are a softmax of s + log m, so the op writes the score bias y[b, h, i, j] = log m (−∞ beyond the ramp)
/// per sample. Backward: dp_h += Σ (dy/m)·S/R over the scores on the ramp (0 &lt; m &lt; 1) while 0 ≤ p_h ≤ 1, and nothing outside,
/// where the clamp holds z. As the paper does, call <see cref="ClampSpans"/> after each optimizer step to keep p in [0, 1], so that
/// a step past a bound does not leave the span without a gradient.
/// </summary>
public static class AdaptiveSpan
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Mask(float p, int distance, float maxSpan, float ramp) =>
        Unit((ramp + maxSpan * Unit(p) - distance) / ramp);

    /// <summary>clamp(v, 0, 1), written so the kernels compile it (Math.Clamp's argument check does not).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Unit(float v) => MathF.Min(MathF.Max(v, 0f), 1f);

    /// <summary>The name of an adaptive span parameter (heads) in a layer.</summary>
    public const string ParameterName = "span";

    /// <summary>Clamps every adaptive span parameter of a model to [0, 1] in place (the paper's step after each optimizer
    /// update); returns how many parameters it visited.</summary>
    public static int ClampSpans(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        int count = 0;
        foreach (var p in parameters)
        {
            if (!p.Trainable || !(p.Name == ParameterName || p.Name.EndsWith("." + ParameterName, StringComparison.Ordinal))) continue;
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = Unit(p.Value[i]);
            p.MarkChanged();
            count++;
        }
        return count;
    }

    /// <summary>y (B, H, Nq, Nk) = log m of each head's span over |i − j|.</summary>
    public static void Forward(float[] y, float[] span, int batch, int heads, int nq, int nk, float maxSpan, float ramp)
    {
        Workers.For(batch * heads, bh =>
        {
            int h = bh % heads;
            for (int i = 0; i < nq; i++)
            {
                var row = y.AsSpan((bh * nq + i) * nk, nk);
                for (int j = 0; j < nk; j++) row[j] = MathF.Log(Mask(span[h], Math.Abs(i - j), maxSpan, ramp));
            }
        });
    }

    /// <summary>dspan[h] += Σ_b Σ_(i,j on the ramp) dy/m·S/R, a task per head in a fixed order.</summary>
    public static void Backward(float[] dSpan, float[] dy, float[] span, int batch, int heads, int nq, int nk, float maxSpan, float ramp)
    {
        Workers.For(heads, h =>
        {
            if (span[h] < 0f || span[h] > 1f) return;
            double sum = 0;
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < nq; i++)
                    for (int j = 0; j < nk; j++)
                    {
                        float m = Mask(span[h], Math.Abs(i - j), maxSpan, ramp);
                        if (m > 0f && m < 1f) sum += dy[((b * heads + h) * nq + i) * nk + j] / m;
                    }
            dSpan[h] += (float)(sum * maxSpan / ramp);
        });
    }

    /// <summary>Extent: batch·heads·nq·nk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> span, int batch, int heads, int nq, int nk, float maxSpan, float ramp)
    {
        long scores = (long)nq * nk;
        if (i >= batch * heads * scores) return;
        long p = i % scores;
        int h = (int)(i / scores % heads), row = (int)(p / nk), column = (int)(p % nk);
        y[i] = MathF.Log(Mask(span[h], Math.Abs(row - column), maxSpan, ramp));
    }

    /// <summary>A warp per head.</summary>
    public static KernelConfig BackwardKernelConfig(int heads) => new(new Index3D(heads, 1, 1), new Index3D(32, 1, 1));

    /// <summary>A warp per head: lanes stride its scores over the batch, then one butterfly sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(ArrayView<float> dSpan, ArrayView<float> dy, ArrayView<float> span, int batch, int heads, int nq, int nk, float maxSpan,
        float ramp)
    {
        int h = Grid.IdxX, lane = Warp.LaneIdx;
        if (h >= heads) return;
        float p = span[h];
        long scores = (long)nq * nk;
        float sum = 0f;
        if (p >= 0f && p <= 1f)
            for (long e = lane; e < batch * scores; e += 32)
            {
                long s = e % scores;
                float m = Mask(p, Math.Abs((int)(s / nk) - (int)(s % nk)), maxSpan, ramp);
                if (m > 0f && m < 1f) sum += dy[(e / scores * heads + h) * scores + s] / m;
            }
        sum = WarpReduce.Sum(sum);
        if (lane == 0) dSpan[h] += sum * maxSpan / ramp;
    }
}
