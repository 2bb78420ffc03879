using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Multiplication by a constant, y = alpha · x. x (n) -> y (n).
/// Backward accumulates: dx += alpha · dy.
/// </summary>
public static class Scale
{
    public static void Forward(float[] y, float[] x, int n, float alpha)
    {
        if (n <= Chunks.Size) { TensorPrimitives.Multiply(x.AsSpan(0, n), alpha, y.AsSpan(0, n)); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            int len = end - start;
            TensorPrimitives.Multiply(x.AsSpan(start, len), alpha, y.AsSpan(start, len));
        });
    }

    public static void Backward(float[] dx, float[] dy, int n, float alpha)
    {
        if (n <= Chunks.Size) { BackwardRange(dx, dy, alpha, 0, n); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            BackwardRange(dx, dy, alpha, start, end);
        });
    }

    static void BackwardRange(float[] dx, float[] dy, float alpha, int start, int end)
    {
        int len = end - start;
        var d = dx.AsSpan(start, len);
        TensorPrimitives.MultiplyAdd(dy.AsSpan(start, len), alpha, d, d);
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int n, float alpha)
    {
        if (i >= n) return;
        y[i] = x[i] * alpha;
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int n, float alpha)
    {
        if (i >= n) return;
        dx[i] += dy[i] * alpha;
    }
}
