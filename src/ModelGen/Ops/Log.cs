using System;
using ModelGen.Cpu;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Natural logarithm of values floored at eps: y = log(max(x, eps)). x (n) -> y (n).
/// Backward accumulates dx += dy / x where x &gt; eps (the floor passes no gradient).
/// </summary>
public static class Log
{
    public static void Forward(float[] y, float[] x, int n, float eps)
    {
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            for (int i = start; i < end; i++) y[i] = MathF.Log(MathF.Max(x[i], eps));
        });
    }

    public static void Backward(float[] dx, float[] dy, float[] x, int n, float eps)
    {
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            for (int i = start; i < end; i++) if (x[i] > eps) dx[i] += dy[i] / x[i];
        });
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int n, float eps)
    {
        if (i >= n) return;
        y[i] = MathF.Log(MathF.Max(x[i], eps));
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int n, float eps)
    {
        if (i >= n) return;
        if (x[i] > eps) dx[i] += dy[i] / x[i];
    }
}
