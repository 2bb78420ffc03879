using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Split along one axis, the inverse of concatenation: x (outer, a + b, inner) -> y1 (outer, a, inner), y2 (outer, b, inner),
/// y1[o, k, t] = x[o, k, t] and y2[o, k, t] = x[o, a + k, t].
/// Backward accumulates: dx += [dy1; dy2] (concatenated along the same axis).
/// </summary>
public static class Split
{
    public static void Forward(float[] y1, float[] y2, float[] x, int outer, int a, int b, int inner)
    {
        int la = a * inner, lb = b * inner, lx = la + lb;
        void Row(int o)
        {
            x.AsSpan(o * lx, la).CopyTo(y1.AsSpan(o * la, la));
            x.AsSpan(o * lx + la, lb).CopyTo(y2.AsSpan(o * lb, lb));
        }
        if ((long)outer * lx <= Chunks.Size) { for (int o = 0; o < outer; o++) Row(o); return; }
        Workers.For(outer, Row);
    }

    public static void Backward(float[] dx, float[] dy1, float[] dy2, int outer, int a, int b, int inner)
    {
        int la = a * inner, lb = b * inner, lx = la + lb;
        void Row(int o)
        {
            var d1 = dx.AsSpan(o * lx, la);
            TensorPrimitives.Add(d1, dy1.AsSpan(o * la, la), d1);
            var d2 = dx.AsSpan(o * lx + la, lb);
            TensorPrimitives.Add(d2, dy2.AsSpan(o * lb, lb), d2);
        }
        if ((long)outer * lx <= Chunks.Size) { for (int o = 0; o < outer; o++) Row(o); return; }
        Workers.For(outer, Row);
    }

    /// <summary>Extent: outer · (a + b) · inner. Each x element goes to y1 or y2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y1, ArrayView<float> y2, ArrayView<float> x, int outer, int a, int b, int inner)
    {
        int lx = (a + b) * inner;
        if (i >= outer * lx) return;
        int o = i / lx;
        int r = i - o * lx;
        int la = a * inner;
        if (r < la) y1[o * la + r] = x[i];
        else y2[o * (b * inner) + (r - la)] = x[i];
    }

    /// <summary>Extent: outer · (a + b) · inner. Each dx element gathers from dy1 or dy2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy1, ArrayView<float> dy2, int outer, int a, int b, int inner)
    {
        int lx = (a + b) * inner;
        if (i >= outer * lx) return;
        int o = i / lx;
        int r = i - o * lx;
        int la = a * inner;
        if (r < la) dx[i] += dy1[o * la + r];
        else dx[i] += dy2[o * (b * inner) + (r - la)];
    }
}
