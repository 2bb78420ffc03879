using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Softmax over the last dimension, y[r, j] = e^(x[r, j] − m_r) / Σ_k e^(x[r, k] − m_r) with m_r = max_k x[r, k] (numerically stable).
/// x (rows, n) -> y (rows, n). As in PyTorch, −∞ entries get probability 0 and a row that is all −∞ gives NaN.
/// Backward reads the saved output: dx += y ⊙ (dy − Σ_j dy_j·y_j) per row.
/// </summary>
public static class Softmax
{
    public static void Forward(float[] y, float[] x, int rows, int n)
    {
        ForRows(rows, n, (start, end) =>
        {
            unsafe
            {
                fixed (float* xp = x, yp = y)
                    for (int r = start; r < end; r++) VectorMath.Softmax(xp + (long)r * n, yp + (long)r * n, n);
            }
        });
    }

    public static void Backward(float[] dx, float[] dy, float[] y, int rows, int n)
    {
        ForRows(rows, n, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var yr = new ReadOnlySpan<float>(y, r * n, n);
                var dyr = new ReadOnlySpan<float>(dy, r * n, n);
                var dxr = new Span<float>(dx, r * n, n);
                float dot = TensorPrimitives.Dot(dyr, yr);
                // dx += y·dy − y·dot, as two fused passes so dx needs no scratch.
                TensorPrimitives.FusedMultiplyAdd(yr, dyr, dxr, dxr);
                TensorPrimitives.FusedMultiplyAdd(yr, -dot, dxr, dxr);
            }
        });
    }

    static void ForRows(int rows, int n, Action<int, int> body)
    {
        if (n == 0) return;
        int per = Math.Max(1, Chunks.Size / n);
        int chunks = (rows + per - 1) / per;
        if (chunks <= 1) { body(0, rows); return; }
        Workers.For(chunks, c => body(c * per, Math.Min(rows, (c + 1) * per)));
    }

    /// <summary>Extent: rows (one thread normalizes one row, like LayerNorm's kernel).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int rows, int n)
    {
        if (i >= rows) return;
        long o = (long)(int)i * n;
        float max = float.NegativeInfinity;
        for (int j = 0; j < n; j++) max = MathF.Max(max, x[o + j]);
        float sum = 0f;
        for (int j = 0; j < n; j++)
        {
            float e = MathF.Exp(x[o + j] - max);
            y[o + j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int j = 0; j < n; j++) y[o + j] = y[o + j] * inv;
    }

    /// <summary>Extent: rows (one thread computes one row of dx).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int rows, int n)
    {
        if (i >= rows) return;
        long o = (long)(int)i * n;
        float dot = 0f;
        for (int j = 0; j < n; j++) dot += dy[o + j] * y[o + j];
        for (int j = 0; j < n; j++) dx[o + j] += y[o + j] * (dy[o + j] - dot);
    }
}
