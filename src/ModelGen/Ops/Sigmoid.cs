using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Logistic sigmoid, y = 1 / (1 + e^−x). x (n) -> y (n).
/// Backward reads the saved output: dx += dy · y · (1 − y).
/// </summary>
public static class Sigmoid
{
    public static void Forward(float[] y, float[] x, int n)
    {
        if (n <= Chunks.Size) { TensorPrimitives.Sigmoid(x.AsSpan(0, n), y.AsSpan(0, n)); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            TensorPrimitives.Sigmoid(new ReadOnlySpan<float>(x, start, end - start), new Span<float>(y, start, end - start));
        });
    }

    public static void Backward(float[] dx, float[] dy, float[] y, int n)
    {
        if (n <= Chunks.Size) { BackwardRange(dx, dy, y, 0, n); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            BackwardRange(dx, dy, y, start, end);
        });
    }

    static void BackwardRange(float[] dx, float[] dy, float[] y, int start, int end)
    {
        int i = start;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1f);
            for (; i + Vector256<float>.Count <= end; i += Vector256<float>.Count)
            {
                var s = Vector256.Create(y, i);
                (Vector256.Create(dx, i) + Vector256.Create(dy, i) * s * (one - s)).CopyTo(dx, i);
            }
        }
        for (; i < end; i++) dx[i] += dy[i] * y[i] * (1f - y[i]);
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int n)
    {
        if (i >= n) return;
        y[i] = 1f / (1f + MathF.Exp(-x[i]));
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int n)
    {
        if (i >= n) return;
        float s = y[i];
        dx[i] += dy[i] * s * (1f - s);
    }
}
