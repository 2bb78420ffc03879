using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Hyperbolic tangent, y = tanh(x). x (n) -> y (n). Backward reads the saved output: dx += dy · (1 − y²).
/// </summary>
public static class Tanh
{
    public static void Forward(float[] y, float[] x, int n)
    {
        if (n <= Chunks.Size) { TensorPrimitives.Tanh(x.AsSpan(0, n), y.AsSpan(0, n)); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            TensorPrimitives.Tanh(new ReadOnlySpan<float>(x, start, end - start), new Span<float>(y, start, end - start));
        });
    }

    public static void Backward(float[] dx, float[] dy, float[] y, int n)
    {
        void Range(int start, int end)
        {
            for (int i = start; i < end; i++) dx[i] += dy[i] * (1f - y[i] * y[i]);
        }
        if (n <= Chunks.Size) { Range(0, n); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            Range(start, end);
        });
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int n)
    {
        if (i >= n) return;
        y[i] = MathF.Tanh(x[i]);
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int n)
    {
        if (i >= n) return;
        float t = y[i];
        dx[i] += dy[i] * (1f - t * t);
    }
}
