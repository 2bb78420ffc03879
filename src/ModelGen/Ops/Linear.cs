using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Fully connected layer, y = x·wᵀ + b. x (rows, inFeatures), w (outFeatures, inFeatures) as in PyTorch, b (outFeatures) or none, y (rows, outFeatures).
/// Backward accumulates: dx += dy·w, dw += dyᵀ·x, db += Σ_rows dy.
/// </summary>
public static class Linear
{
    public static void Forward(float[] y, float[] x, float[] w, float[]? b, int rows, int inFeatures, int outFeatures) =>
        Gemm.Multiply(false, true, rows, outFeatures, inFeatures, x, 0, inFeatures, w, 0, inFeatures, y, 0, outFeatures, accumulate: false, bias: b);

    public static void Backward(float[] dx, float[] dw, float[]? db, float[] dy, float[] x, float[] w, int rows, int inFeatures, int outFeatures)
    {
        Gemm.Multiply(false, false, rows, inFeatures, outFeatures, dy, 0, outFeatures, w, 0, inFeatures, dx, 0, inFeatures, accumulate: true);
        Gemm.Multiply(true, false, outFeatures, inFeatures, rows, dy, 0, outFeatures, x, 0, inFeatures, dw, 0, inFeatures, accumulate: true);
        if (db != null) BiasGradient(db, dy, rows, outFeatures);
    }

    static void BiasGradient(float[] db, float[] dy, int rows, int outFeatures)
    {
        // Split columns, not rows, so each thread owns its slice of db and no partial sums are needed.
        const int minColumns = 64;
        int chunks = (long)rows * outFeatures < Chunks.Size ? 1 : Math.Min(Environment.ProcessorCount, Math.Max(1, outFeatures / minColumns));
        if (chunks <= 1)
        {
            SumColumns(db, dy, rows, outFeatures, 0, outFeatures);
            return;
        }
        int per = (outFeatures + chunks - 1) / chunks;
        per = (per + 15) & ~15;
        chunks = (outFeatures + per - 1) / per;
        Workers.For(chunks, ch => SumColumns(db, dy, rows, outFeatures, ch * per, Math.Min(outFeatures, (ch + 1) * per)));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void SumColumns(float[] db, float[] dy, int rows, int outFeatures, int start, int end)
    {
        // Row blocks stay cache-resident while each strip of columns is summed in registers, so dy streams in once.
        const int blockRows = 64;
        int vw = Vector<float>.Count;
        for (int r0 = 0; r0 < rows; r0 += blockRows)
        {
            int r1 = Math.Min(rows, r0 + blockRows);
            int j = start;
            for (; j + 4 * vw <= end; j += 4 * vw)
            {
                Vector<float> s0 = Vector<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
                for (int r = r0; r < r1; r++)
                {
                    var row = dy.AsSpan(r * outFeatures + j, 4 * vw);
                    s0 += new Vector<float>(row);
                    s1 += new Vector<float>(row.Slice(vw));
                    s2 += new Vector<float>(row.Slice(2 * vw));
                    s3 += new Vector<float>(row.Slice(3 * vw));
                }
                var d = db.AsSpan(j, 4 * vw);
                (new Vector<float>(d) + s0).CopyTo(d);
                (new Vector<float>(d.Slice(vw)) + s1).CopyTo(d.Slice(vw));
                (new Vector<float>(d.Slice(2 * vw)) + s2).CopyTo(d.Slice(2 * vw));
                (new Vector<float>(d.Slice(3 * vw)) + s3).CopyTo(d.Slice(3 * vw));
            }
            for (; j + vw <= end; j += vw)
            {
                Vector<float> s0 = Vector<float>.Zero;
                for (int r = r0; r < r1; r++) s0 += new Vector<float>(dy.AsSpan(r * outFeatures + j, vw));
                var d = db.AsSpan(j, vw);
                (new Vector<float>(d) + s0).CopyTo(d);
            }
            for (; j < end; j++)
            {
                float s0 = 0f;
                for (int r = r0; r < r1; r++) s0 += dy[r * outFeatures + j];
                db[j] += s0;
            }
        }
    }

    // Device kernels: the three products run on the tiled SGEMM, the bias gradient on the block-parallel column sum.

    public static KernelConfig ForwardKernelConfig(int rows, int outFeatures) => TiledGemm.Config(rows, outFeatures);

    /// <summary>y = x·wᵀ (+ b). When <paramref name="hasBias"/> is false, b is an unused dummy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> y, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        int rows, int inFeatures, int outFeatures, bool hasBias, bool tensorCores) =>
        TiledGemm.Multiply(y, x, w, b, rows, outFeatures, inFeatures, transA: false, transB: true, inFeatures, inFeatures, outFeatures,
            0, 0, 0, 1f, hasBias, accumulate: false, tensorCores);

    public static KernelConfig BackwardInputKernelConfig(int rows, int inFeatures) => TiledGemm.Config(rows, inFeatures);

    /// <summary>dx += dy·w.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> w, int rows, int inFeatures, int outFeatures,
        bool tensorCores) =>
        TiledGemm.Multiply(dx, dy, w, w, rows, inFeatures, outFeatures, transA: false, transB: false, outFeatures, inFeatures, inFeatures,
            0, 0, 0, 1f, hasBias: false, accumulate: true, tensorCores);

    public static KernelConfig BackwardWeightKernelConfig(int rows, int inFeatures, int outFeatures) => TiledGemm.SplitConfig(outFeatures, inFeatures, rows);

    /// <summary>Floats of split-K workspace the weight gradient may use.</summary>
    public static long BackwardWeightWorkspace(int inFeatures, int outFeatures) => TiledGemm.SplitWorkspace(outFeatures, inFeatures);

    /// <summary>dw += dyᵀ·x, the sum over rows cut into slices when rows are many and dw has few tiles (then
    /// <see cref="TiledGemm.SumSplitsKernel"/> adds the slices).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardWeightKernel(ArrayView<float> dw, ArrayView<float> workspace, ArrayView<float> dy, ArrayView<float> x,
        int rows, int inFeatures, int outFeatures, bool tensorCores) =>
        TiledGemm.MultiplySplit(dw, workspace, new TiledGemm.Dense(dy, 0, outFeatures, innerContiguous: false),
            new TiledGemm.Dense(x, 0, inFeatures, innerContiguous: false), outFeatures, inFeatures, rows, inFeatures, tensorCores);

    public static KernelConfig BackwardBiasKernelConfig(int outFeatures) => ColumnSums.Config(outFeatures);

    /// <summary>db += Σ_rows dy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardBiasKernel(ArrayView<float> db, ArrayView<float> dy, int rows, int outFeatures) =>
        ColumnSums.Add(db, dy, rows, outFeatures);
}
