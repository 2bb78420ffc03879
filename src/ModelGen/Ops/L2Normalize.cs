using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

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

    /// <summary>Extent: rows · dim (each thread recomputes its row's norm).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int rows, int dim, float eps)
    {
        if (i >= rows * dim) return;
        int o = i / dim * dim;
        float s = 0f;
        for (int j = 0; j < dim; j++) s += x[o + j] * x[o + j];
        y[i] = x[i] / MathF.Max(MathF.Sqrt(s), eps);
    }

    /// <summary>Extent: rows · dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> y, int rows, int dim, float eps)
    {
        if (i >= rows * dim) return;
        int o = i / dim * dim;
        float s = 0f, dot = 0f;
        for (int j = 0; j < dim; j++)
        {
            s += x[o + j] * x[o + j];
            dot += y[o + j] * dy[o + j];
        }
        float norm = MathF.Sqrt(s);
        if (norm <= eps) dx[i] += dy[i] / eps;
        else dx[i] += (dy[i] - y[i] * dot) / norm;
    }
}
