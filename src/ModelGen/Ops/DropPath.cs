using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Drop path (stochastic depth) on a residual branch: each sample's whole branch is kept and scaled by 1/(1-p), or
/// zeroed, with probability p; as timm's <c>drop_path</c> with <c>scale_by_keep</c>.
/// x (batch, perSample) -> y (batch, perSample), mask (batch) holds each sample's multiplier for backward.
/// Sample b's decision is <see cref="Dropout.Keep"/>(seed, b, p), so CPU and GPU drop the same samples.
/// Backward accumulates: dx += dy · mask[b].
/// </summary>
public static class DropPath
{
    public static void Forward(float[] y, float[] mask, float[] x, int batch, int perSample, float p, uint seed)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "drop path probability must be in [0, 1)");
        for (int b = 0; b < batch; b++) mask[b] = p == 0f ? 1f : Dropout.Keep(seed, b, p);
        Apply(y, x, mask, batch, perSample, accumulate: false);
    }

    public static void Backward(float[] dx, float[] dy, float[] mask, int batch, int perSample) =>
        Apply(dx, dy, mask, batch, perSample, accumulate: true);

    /// <summary>destination[b, :] (+)= source[b, :] · mask[b].</summary>
    static void Apply(float[] destination, float[] source, float[] mask, int batch, int perSample, bool accumulate)
    {
        void Sample(int b)
        {
            var s = source.AsSpan(b * perSample, perSample);
            var d = destination.AsSpan(b * perSample, perSample);
            if (accumulate) TensorPrimitives.MultiplyAdd(s, mask[b], d, d);
            else TensorPrimitives.Multiply(s, mask[b], d);
        }
        if ((long)batch * perSample <= Chunks.Size) { for (int b = 0; b < batch; b++) Sample(b); return; }
        Workers.For(batch, Sample);
    }

    /// <summary>Extent: batch · perSample. The first element of each sample also records the sample's multiplier.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> mask, ArrayView<float> x, int batch, int perSample, float p, uint seed)
    {
        if (i >= batch * perSample) return;
        int b = i / perSample;
        float m = p == 0f ? 1f : Dropout.Keep(seed, b, p);
        if (i == b * perSample) mask[b] = m;
        y[i] = x[i] * m;
    }

    /// <summary>Extent: batch · perSample.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> mask, int batch, int perSample)
    {
        if (i >= batch * perSample) return;
        dx[i] += dy[i] * mask[i / perSample];
    }
}
