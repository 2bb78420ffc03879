using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Prepends a learned token: x (batch, tokens, dim), cls (dim) -> y (batch, tokens + 1, dim) with y[b, 0] = cls.
/// Backward accumulates dx += dy[:, 1:] and dcls += Σ_batch dy[:, 0].
/// </summary>
public static class ClassToken
{
    public static void Forward(float[] y, float[] x, float[] cls, int batch, int tokens, int dim)
    {
        int n = tokens * dim;
        Workers.For(batch, b =>
        {
            Array.Copy(cls, 0, y, b * (n + dim), dim);
            Array.Copy(x, b * n, y, b * (n + dim) + dim, n);
        });
    }

    public static void Backward(float[] dx, float[] dcls, float[] dy, int batch, int tokens, int dim)
    {
        int n = tokens * dim;
        Workers.For(batch, b =>
        {
            var d = new Span<float>(dx, b * n, n);
            TensorPrimitives.Add(d, new ReadOnlySpan<float>(dy, b * (n + dim) + dim, n), d);
        });
        var sum = dcls.AsSpan(0, dim);
        for (int b = 0; b < batch; b++) TensorPrimitives.Add(sum, new ReadOnlySpan<float>(dy, b * (n + dim), dim), sum);
    }

    /// <summary>Extent: batch * (tokens + 1) * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> cls, int batch, int tokens, int dim)
    {
        int row = (tokens + 1) * dim;
        if (i >= batch * row) return;
        int b = i / row, r = i - b * row;
        y[i] = r < dim ? cls[r] : x[b * tokens * dim + r - dim];
    }

    /// <summary>Extent: batch * tokens * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int tokens, int dim)
    {
        int n = tokens * dim;
        if (i >= batch * n) return;
        int b = i / n, r = i - b * n;
        dx[i] += dy[b * (n + dim) + dim + r];
    }

    public static KernelConfig BackwardTokenKernelConfig(int dim) => ColumnSums.Config(dim);

    /// <summary>dcls += Σ_b dy[b, 0, :], the batch summed by the block-parallel column sum (fixed order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardTokenKernel(ArrayView<float> dcls, ArrayView<float> dy, int batch, int tokens, int dim) =>
        ColumnSums.Add(dcls, new TiledGemm.Dense(dy, 0, (tokens + 1) * dim, innerContiguous: true), batch, dim);
}
