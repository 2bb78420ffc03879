using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Residual sum, y = a + b. a (n), b (n) -> y (n).
/// Backward accumulates: da += dy; db += dy (da and db may be the same array, which then receives 2·dy).
/// </summary>
public static class Add
{
    // A sum streams three arrays through memory: below a few chunks one core does it faster than a thread hand-off.
    const int ParallelMinimum = 4 * Chunks.Size;

    public static void Forward(float[] y, float[] a, float[] b, int n)
    {
        if (n <= ParallelMinimum) { TensorPrimitives.Add(a.AsSpan(0, n), b.AsSpan(0, n), y.AsSpan(0, n)); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            int len = end - start;
            TensorPrimitives.Add(a.AsSpan(start, len), b.AsSpan(start, len), y.AsSpan(start, len));
        });
    }

    public static void Backward(float[] da, float[] db, float[] dy, int n)
    {
        if (n <= ParallelMinimum) { BackwardRange(da, db, dy, 0, n); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            BackwardRange(da, db, dy, start, end);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void BackwardRange(float[] da, float[] db, float[] dy, int start, int end)
    {
        int len = end - start;
        var g = dy.AsSpan(start, len);
        var x = da.AsSpan(start, len);
        TensorPrimitives.Add(x, g, x);
        var z = db.AsSpan(start, len);
        TensorPrimitives.Add(z, g, z);
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> a, ArrayView<float> b, int n)
    {
        if (i >= n) return;
        y[i] = a[i] + b[i];
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> da, ArrayView<float> db, ArrayView<float> dy, int n)
    {
        if (i >= n) return;
        da[i] += dy[i];
        db[i] += dy[i];
    }
}
