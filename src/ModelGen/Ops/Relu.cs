using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// ReLU, y = max(x, 0). x (n) -> y (n).
/// CPU forward/backward and the ILGPU kernel bodies live together; generated kernels call the bodies with literal sizes.
/// Backward accumulates: dx += dy · [x > 0].
/// </summary>
public static class Relu
{
    public static void Forward(float[] y, float[] x, int n)
    {
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            TensorPrimitives.Max(new ReadOnlySpan<float>(x, start, end - start), 0f, new Span<float>(y, start, end - start));
        });
    }

    public static void Backward(float[] dx, float[] dy, float[] x, int n)
    {
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            int i = start;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + Vector256<float>.Count <= end; i += Vector256<float>.Count)
                {
                    var positive = Vector256.GreaterThan(Vector256.Create(x, i), Vector256<float>.Zero);
                    var sum = Vector256.Create(dx, i) + (Vector256.Create(dy, i) & positive);
                    sum.CopyTo(dx, i);
                }
            }
            for (; i < end; i++) if (x[i] > 0f) dx[i] += dy[i];
        });
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int n)
    {
        if (i >= n) return;
        y[i] = x[i] > 0f ? x[i] : 0f;
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int n)
    {
        if (i >= n) return;
        if (x[i] > 0f) dx[i] += dy[i];
    }
}
