using System;
using ModelGen.Cpu;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Appends k learned tokens after the n tokens of each sample: x (batch, n, d), tokens (k, d) -> y (batch, n + k, d) with
/// y[b, n + j] = tokens[j] (Segmenter's class embeddings). With n = 0 there is no x and y is the tokens repeated per sample
/// (MaskFormer's queries). Backward accumulates dx += dy[:, :n] (when n &gt; 0) and dtokens += Σ_batch dy[:, n:].
/// </summary>
public static class LearnedTokens
{
    public static void Forward(float[] y, float[]? x, float[] tokens, int batch, int n, int k, int d)
    {
        int per = (n + k) * d;
        for (int b = 0; b < batch; b++)
        {
            if (n > 0) Array.Copy(x!, b * n * d, y, b * per, n * d);
            Array.Copy(tokens, 0, y, b * per + n * d, k * d);
        }
    }

    public static void Backward(float[]? dx, float[] dtokens, float[] dy, int batch, int n, int k, int d)
    {
        int per = (n + k) * d;
        if (n > 0 && dx is not null)
        {
            Workers.For(batch, b =>
            {
                var src = dy.AsSpan(b * per, n * d);
                var dst = dx.AsSpan(b * n * d, n * d);
                System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
            });
        }
        // Summed over the batch in a fixed order: the result does not depend on scheduling.
        var dt = dtokens.AsSpan(0, k * d);
        for (int b = 0; b < batch; b++) System.Numerics.Tensors.TensorPrimitives.Add(dt, dy.AsSpan(b * per + n * d, k * d), dt);
    }

    /// <summary>Extent: batch · (n + k) · d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> tokens, int batch, int n, int k, int d)
    {
        int per = (n + k) * d;
        if (i >= batch * per) return;
        int b = i / per, r = i % per;
        y[i] = r < n * d ? x[b * n * d + r] : tokens[r - n * d];
    }

    /// <summary>Extent: batch · n · d (launch only when n &gt; 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int n, int k, int d)
    {
        if (i >= batch * n * d) return;
        int b = i / (n * d), r = i % (n * d);
        dx[i] += dy[b * (n + k) * d + r];
    }

    public static KernelConfig BackwardTokensKernelConfig(int k, int d) => ColumnSums.Config(k * d);

    /// <summary>dtokens += Σ_b dy[b, n:, :], the batch summed by the block-parallel column sum (fixed order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardTokensKernel(ArrayView<float> dtokens, ArrayView<float> dy, int batch, int n, int k, int d) =>
        ColumnSums.Add(dtokens, new TiledGemm.Dense(dy, (long)n * d, (n + k) * d, innerContiguous: true), batch, k * d);
}
