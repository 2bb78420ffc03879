using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Learned positional embedding: x (batch, tokens, dim) + p (tokens, dim) -> y. Backward accumulates dx += dy and
/// dp += Σ_batch dy.
/// </summary>
public static class Positions
{
    public static void Forward(float[] y, float[] x, float[] p, int batch, int tokens, int dim)
    {
        int n = tokens * dim;
        Workers.For(batch, b => TensorPrimitives.Add(new ReadOnlySpan<float>(x, b * n, n), p.AsSpan(0, n), new Span<float>(y, b * n, n)));
    }

    /// <summary>One position of each sample (a decoding step): y (batch, dim) = x + p[position].</summary>
    public static void ForwardAt(float[] y, float[] x, float[] p, int position, int batch, int dim)
    {
        for (int b = 0; b < batch; b++) TensorPrimitives.Add(new ReadOnlySpan<float>(x, b * dim, dim), p.AsSpan(position * dim, dim), new Span<float>(y, b * dim, dim));
    }

    /// <summary>Backward for fixed positions: only dx += dy.</summary>
    public static void BackwardInput(float[] dx, float[] dy, int batch, int tokens, int dim)
    {
        int n = tokens * dim;
        Workers.For(batch, b =>
        {
            var d = new Span<float>(dx, b * n, n);
            TensorPrimitives.Add(d, new ReadOnlySpan<float>(dy, b * n, n), d);
        });
    }

    public static void Backward(float[] dx, float[] dp, float[] dy, int batch, int tokens, int dim)
    {
        int n = tokens * dim;
        BackwardInput(dx, dy, batch, tokens, dim);
        // Positions are few; summing over the batch in one pass keeps the result independent of thread timing.
        var sum = dp.AsSpan(0, n);
        for (int b = 0; b < batch; b++) TensorPrimitives.Add(sum, new ReadOnlySpan<float>(dy, b * n, n), sum);
    }

    /// <summary>Extent: batch * tokens * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> p, int batch, int tokens, int dim)
    {
        if (i >= batch * tokens * dim) return;
        y[i] = x[i] + p[i % (tokens * dim)];
    }

    /// <summary>Extent: batch * tokens * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int tokens, int dim)
    {
        if (i >= batch * tokens * dim) return;
        dx[i] += dy[i];
    }

    public static KernelConfig BackwardPositionsKernelConfig(int tokens, int dim) => ColumnSums.Config(tokens * dim);

    /// <summary>dp += Σ_b dy[b], the batch summed by the block-parallel column sum (fixed order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardPositionsKernel(ArrayView<float> dp, ArrayView<float> dy, int batch, int tokens, int dim) =>
        ColumnSums.Add(dp, new TiledGemm.Dense(dy, 0, tokens * dim, innerContiguous: true), batch, tokens * dim);
}
