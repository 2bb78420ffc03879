using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Concatenation of two tensors along one axis, given as (outer, axis, inner) sizes:
/// x1 (outer, a, inner), x2 (outer, b, inner) -> y (outer, a + b, inner), y[o, :a] = x1[o], y[o, a:] = x2[o].
/// E.g. channels of NCHW maps: outer = batch, a/b = the channel counts, inner = height·width; tokens: inner = 1 or dim.
/// Backward splits and accumulates: dx1 += dy[:, :a], dx2 += dy[:, a:].
/// </summary>
public static class Concat
{
    public static void Forward(float[] y, float[] x1, float[] x2, int outer, int a, int b, int inner)
    {
        int n1 = a * inner, n2 = b * inner, row = n1 + n2;
        ForOuter(outer, row, (start, end) =>
        {
            for (int o = start; o < end; o++)
            {
                Array.Copy(x1, o * n1, y, o * row, n1);
                Array.Copy(x2, o * n2, y, o * row + n1, n2);
            }
        });
    }

    public static void Backward(float[] dx1, float[] dx2, float[] dy, int outer, int a, int b, int inner)
    {
        int n1 = a * inner, n2 = b * inner, row = n1 + n2;
        ForOuter(outer, row, (start, end) =>
        {
            for (int o = start; o < end; o++)
            {
                var d1 = new Span<float>(dx1, o * n1, n1);
                TensorPrimitives.Add(d1, new ReadOnlySpan<float>(dy, o * row, n1), d1);
                var d2 = new Span<float>(dx2, o * n2, n2);
                TensorPrimitives.Add(d2, new ReadOnlySpan<float>(dy, o * row + n1, n2), d2);
            }
        });
    }

    static void ForOuter(int outer, int row, Action<int, int> body)
    {
        int per = Math.Max(1, Chunks.Size / Math.Max(1, row));
        int chunks = (outer + per - 1) / per;
        if (chunks <= 1) { body(0, outer); return; }
        Workers.For(chunks, c => body(c * per, Math.Min(outer, (c + 1) * per)));
    }

    /// <summary>Extent: outer·(a + b)·inner (one output element each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x1, ArrayView<float> x2, int outer, int a, int b, int inner)
    {
        int n1 = a * inner, row = (a + b) * inner;
        if (i >= outer * row) return;
        int idx = i;
        int o = idx / row, r = idx - o * row;
        y[i] = r < n1 ? x1[o * n1 + r] : x2[o * (row - n1) + r - n1];
    }

    /// <summary>Extent: outer·(a + b)·inner (one dy element each; every element feeds exactly one of dx1, dx2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx1, ArrayView<float> dx2, ArrayView<float> dy, int outer, int a, int b, int inner)
    {
        int n1 = a * inner, row = (a + b) * inner;
        if (i >= outer * row) return;
        int idx = i;
        int o = idx / row, r = idx - o * row;
        if (r < n1) dx1[o * n1 + r] += dy[i];
        else dx2[o * (row - n1) + r - n1] += dy[i];
    }
}
