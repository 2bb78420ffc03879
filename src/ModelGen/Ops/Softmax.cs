using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

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

    // Device kernels: a warp per row (lanes stride the row; max and sums meet in a fixed shuffle butterfly).

    public static KernelConfig ForwardKernelConfig(int rows) => RowConfig(rows);

    public static KernelConfig BackwardKernelConfig(int rows) => RowConfig(rows);

    static KernelConfig RowConfig(int rows) =>
        new(new Index3D((rows + LayerNorm.RowsPerGroup - 1) / LayerNorm.RowsPerGroup, 1, 1), new Index3D(32 * LayerNorm.RowsPerGroup, 1, 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> y, ArrayView<float> x, int rows, int n)
    {
        int row = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * n;
        float max = float.NegativeInfinity;
        for (int j = lane; j < n; j += 32) max = MathF.Max(max, x[o + j]);
        max = WarpReduce.Max(max);
        float sum = 0f;
        for (int j = lane; j < n; j += 32)
        {
            float e = MathF.Exp(x[o + j] - max);
            y[o + j] = e;
            sum += e;
        }
        float inv = 1f / WarpReduce.Sum(sum);
        for (int j = lane; j < n; j += 32) y[o + j] = y[o + j] * inv;
    }

    /// <summary>dx += y ∘ (dy − Σ dy·y), a warp per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int rows, int n)
    {
        int row = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * n;
        float dot = 0f;
        for (int j = lane; j < n; j += 32) dot += dy[o + j] * y[o + j];
        dot = WarpReduce.Sum(dot);
        for (int j = lane; j < n; j += 32) dx[o + j] += y[o + j] * (dy[o + j] - dot);
    }
}
