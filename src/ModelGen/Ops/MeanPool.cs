using System.Runtime.CompilerServices;
using ModelGen.Cpu;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Mean over tokens: x (batch, tokens, dim) -> y (batch, dim). Backward accumulates dx += dy / tokens.
/// </summary>
public static class MeanPool
{
    public static void Forward(float[] y, float[] x, int batch, int tokens, int dim)
    {
        float inv = 1f / tokens;
        Workers.For(batch, b =>
        {
            var row = new System.Span<float>(y, b * dim, dim);
            row.Clear();
            for (int t = 0; t < tokens; t++)
                System.Numerics.Tensors.TensorPrimitives.Add(row, new System.ReadOnlySpan<float>(x, (b * tokens + t) * dim, dim), row);
            System.Numerics.Tensors.TensorPrimitives.Multiply(row, inv, row);
        });
    }

    public static void Backward(float[] dx, float[] dy, int batch, int tokens, int dim)
    {
        float inv = 1f / tokens;
        Workers.For(batch, b =>
        {
            var g = new System.ReadOnlySpan<float>(dy, b * dim, dim);
            for (int t = 0; t < tokens; t++)
            {
                var d = new System.Span<float>(dx, (b * tokens + t) * dim, dim);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(g, inv, d, d);
            }
        });
    }

    /// <summary>Extent: batch * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int tokens, int dim)
    {
        if (i >= batch * dim) return;
        int b = i / dim, c = i - b * dim;
        float s = 0f;
        for (int t = 0; t < tokens; t++) s += x[(b * tokens + t) * dim + c];
        y[i] = s / tokens;
    }

    /// <summary>Extent: batch * tokens * dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int tokens, int dim)
    {
        if (i >= batch * tokens * dim) return;
        int c = i % dim, b = i / (tokens * dim);
        dx[i] += dy[b * dim + c] / tokens;
    }
}
