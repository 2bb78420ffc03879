using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Each row scaled to unit length, as torch.nn.functional.normalize(x, dim=-1, eps): y = x / max(‖x‖, eps).
/// x (rows, dim) -> y (rows, dim). Backward accumulates dx += (dy − y·(y·dy)) / ‖x‖ (dx += dy / eps where the norm is clamped).
/// </summary>
public static class L2Normalize
{
    public static void Forward(float[] y, float[] x, int rows, int dim, float eps)
    {
        Workers.For(rows, r =>
        {
            var xr = x.AsSpan(r * dim, dim);
            float norm = MathF.Max(TensorPrimitives.Norm(xr), eps);
            TensorPrimitives.Divide(xr, norm, y.AsSpan(r * dim, dim));
        });
    }

    public static void Backward(float[] dx, float[] dy, float[] x, float[] y, int rows, int dim, float eps)
    {
        Workers.For(rows, r =>
        {
            var xr = x.AsSpan(r * dim, dim);
            var yr = y.AsSpan(r * dim, dim);
            var dyr = dy.AsSpan(r * dim, dim);
            var dxr = dx.AsSpan(r * dim, dim);
            float norm = TensorPrimitives.Norm(xr);
            if (norm <= eps)
            {
                TensorPrimitives.MultiplyAdd(dyr, 1f / eps, dxr, dxr);
                return;
            }
            float dot = TensorPrimitives.Dot(yr, dyr);
            float inv = 1f / norm;
            for (int j = 0; j < dim; j++) dxr[j] += (dyr[j] - yr[j] * dot) * inv;
        });
    }

    // Device kernels: a warp per row (lanes stride the row; the sums meet in a fixed butterfly).

    public static KernelConfig ForwardKernelConfig(int rows) => RowConfig(rows);

    public static KernelConfig BackwardKernelConfig(int rows) => RowConfig(rows);

    static KernelConfig RowConfig(int rows) =>
        new(new Index3D((rows + LayerNorm.RowsPerGroup - 1) / LayerNorm.RowsPerGroup, 1, 1), new Index3D(32 * LayerNorm.RowsPerGroup, 1, 1));

    /// <summary>y = x / max(‖x‖, eps) per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> y, ArrayView<float> x, int rows, int dim, float eps)
    {
        int row = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * dim;
        float s = 0f;
        for (int j = lane; j < dim; j += 32) s += x[o + j] * x[o + j];
        float norm = MathF.Max(MathF.Sqrt(WarpReduce.Sum(s)), eps);
        for (int j = lane; j < dim; j += 32) y[o + j] = x[o + j] / norm;
    }

    /// <summary>dx += (dy − y·(y·dy)) / ‖x‖, or dy / eps where ‖x‖ ≤ eps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> y, int rows, int dim, float eps)
    {
        int row = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * dim;
        float s = 0f, dot = 0f;
        for (int j = lane; j < dim; j += 32)
        {
            s += x[o + j] * x[o + j];
            dot += y[o + j] * dy[o + j];
        }
        float norm = MathF.Sqrt(WarpReduce.Sum(s));
        dot = WarpReduce.Sum(dot);
        for (int j = lane; j < dim; j += 32)
            dx[o + j] += norm <= eps ? dy[o + j] / eps : (dy[o + j] - y[o + j] * dot) / norm;
    }
}
