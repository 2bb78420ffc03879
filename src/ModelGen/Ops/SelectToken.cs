using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>Class-token pooling: x (batch, tokens, dim) -> y (batch, dim) = x[:, index]. Backward accumulates into that token only.</summary>
public static class SelectToken
{
    public static void Forward(float[] y, float[] x, int batch, int tokens, int dim, int index)
    {
        for (int b = 0; b < batch; b++) Array.Copy(x, (b * tokens + index) * dim, y, b * dim, dim);
    }

    public static void Backward(float[] dx, float[] dy, int batch, int tokens, int dim, int index)
    {
        for (int b = 0; b < batch; b++)
        {
            var d = new Span<float>(dx, (b * tokens + index) * dim, dim);
            TensorPrimitives.Add(d, new ReadOnlySpan<float>(dy, b * dim, dim), d);
        }
    }

    /// <summary>Extent: batch * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int tokens, int dim, int index)
    {
        if (i >= batch * dim) return;
        int b = i / dim;
        y[i] = x[(b * tokens + index) * dim + i - b * dim];
    }

    /// <summary>Extent: batch * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int tokens, int dim, int index)
    {
        if (i >= batch * dim) return;
        int b = i / dim;
        dx[(b * tokens + index) * dim + i - b * dim] += dy[i];
    }
}
