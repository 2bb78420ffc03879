using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Pairwise (outer) sum, f[b, i, j] = a[b, i] + c[b, j]; the concatenation affinity of non-local blocks.
/// a (batch, m), c (batch, n) -> f (batch, m, n).
/// Backward accumulates: da[b, i] += Σ_j df[b, i, j]; dc[b, j] += Σ_i df[b, i, j].
/// Each sum runs in index order from 0 on CPU and GPU alike, so both give the same bits.
/// </summary>
public static class PairwiseSum
{
    public static void Forward(float[] f, float[] a, float[] c, int batch, int m, int n)
    {
        void Row(int row)
        {
            int b = row / m;
            TensorPrimitives.Add(c.AsSpan(b * n, n), a[row], f.AsSpan(row * n, n));
        }
        if ((long)batch * m * n <= Chunks.Size) { for (int row = 0; row < batch * m; row++) Row(row); return; }
        Workers.For(batch * m, Row);
    }

    public static void Backward(float[] da, float[] dc, float[] df, int batch, int m, int n)
    {
        void Sample(int b)
        {
            var column = new float[n];
            for (int i = 0; i < m; i++)
            {
                int row = (b * m + i) * n;
                float s = 0f;
                for (int j = 0; j < n; j++)
                {
                    float g = df[row + j];
                    s += g;
                    column[j] += g;
                }
                da[b * m + i] += s;
            }
            for (int j = 0; j < n; j++) dc[b * n + j] += column[j];
        }
        if ((long)batch * m * n <= Chunks.Size) { for (int b = 0; b < batch; b++) Sample(b); return; }
        Workers.For(batch, Sample);
    }

    /// <summary>Extent: batch · m · n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> f, ArrayView<float> a, ArrayView<float> c, int batch, int m, int n)
    {
        if (i >= batch * m * n) return;
        int row = i / n;
        int j = i - row * n;
        int b = row / m;
        f[i] = c[b * n + j] + a[row];
    }

    /// <summary>Extent: batch · m. Element (b, i) sums row i of sample b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardAKernel(Index1D i, ArrayView<float> da, ArrayView<float> df, int batch, int m, int n)
    {
        if (i >= batch * m) return;
        int row = i * n;
        float s = 0f;
        for (int j = 0; j < n; j++) s += df[row + j];
        da[i] += s;
    }

    /// <summary>Extent: batch · n. Element (b, j) sums column j of sample b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardCKernel(Index1D i, ArrayView<float> dc, ArrayView<float> df, int batch, int m, int n)
    {
        if (i >= batch * n) return;
        int b = i / n;
        int j = i - b * n;
        int start = b * m * n + j;
        float s = 0f;
        for (int k = 0; k < m; k++) s += df[start + k * n];
        dc[i] += s;
    }
}
