using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Fully connected layer, y = x·wᵀ + b. x (rows, inF), w (outF, inF) as in PyTorch, b (outF) or none, y (rows, outF).
/// Backward accumulates: dx += dy·w, dw += dyᵀ·x, db += Σ_rows dy.
/// </summary>
public static class Linear
{
    public static void Forward(float[] y, float[] x, float[] w, float[]? b, int rows, int inF, int outF) =>
        Gemm.Multiply(false, true, rows, outF, inF, x, 0, inF, w, 0, inF, y, 0, outF, accumulate: false, bias: b);

    public static void Backward(float[] dx, float[] dw, float[]? db, float[] dy, float[] x, float[] w, int rows, int inF, int outF)
    {
        Gemm.Multiply(false, false, rows, inF, outF, dy, 0, outF, w, 0, inF, dx, 0, inF, accumulate: true);
        Gemm.Multiply(true, false, outF, inF, rows, dy, 0, outF, x, 0, inF, dw, 0, inF, accumulate: true);
        if (db != null) BiasGradient(db, dy, rows, outF);
    }

    static void BiasGradient(float[] db, float[] dy, int rows, int outF)
    {
        // Split columns, not rows, so each thread owns its slice of db and no partial sums are needed.
        const int minColumns = 64;
        int chunks = (long)rows * outF < Chunks.Size ? 1 : Math.Min(Environment.ProcessorCount, Math.Max(1, outF / minColumns));
        if (chunks <= 1)
        {
            SumColumns(db, dy, rows, outF, 0, outF);
            return;
        }
        int per = (outF + chunks - 1) / chunks;
        per = (per + 15) & ~15;
        chunks = (outF + per - 1) / per;
        Workers.For(chunks, ch => SumColumns(db, dy, rows, outF, ch * per, Math.Min(outF, (ch + 1) * per)));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void SumColumns(float[] db, float[] dy, int rows, int outF, int start, int end)
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
                    var row = dy.AsSpan(r * outF + j, 4 * vw);
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
                for (int r = r0; r < r1; r++) s0 += new Vector<float>(dy.AsSpan(r * outF + j, vw));
                var d = db.AsSpan(j, vw);
                (new Vector<float>(d) + s0).CopyTo(d);
            }
            for (; j < end; j++)
            {
                float s0 = 0f;
                for (int r = r0; r < r1; r++) s0 += dy[r * outF + j];
                db[j] += s0;
            }
        }
    }

    /// <summary>Extent: rows * outF. When <paramref name="hasBias"/> is false, b is an unused dummy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        int rows, int inF, int outF, bool hasBias)
    {
        if (i >= rows * outF) return;
        int idx = i;
        int r = idx / outF, o = idx - r * outF;
        int xBase = r * inF, wBase = o * inF;
        float sum = hasBias ? b[o] : 0f;
        for (int p = 0; p < inF; p++) sum += x[xBase + p] * w[wBase + p];
        y[i] = sum;
    }

    /// <summary>Extent: rows * inF. dx[r, c] += Σ_o dy[r, o]·w[o, c].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> w,
        int rows, int inF, int outF)
    {
        if (i >= rows * inF) return;
        int idx = i;
        int r = idx / inF, col = idx - r * inF;
        int dyBase = r * outF;
        float sum = 0f;
        for (int o = 0; o < outF; o++) sum += dy[dyBase + o] * w[o * inF + col];
        dx[i] += sum;
    }

    /// <summary>Extent: outF * inF. dw[o, c] += Σ_r dy[r, o]·x[r, c].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardWeightKernel(Index1D i, ArrayView<float> dw, ArrayView<float> dy, ArrayView<float> x,
        int rows, int inF, int outF)
    {
        if (i >= outF * inF) return;
        int idx = i;
        int o = idx / inF, col = idx - o * inF;
        float sum = 0f;
        for (int r = 0; r < rows; r++) sum += dy[r * outF + o] * x[r * inF + col];
        dw[i] += sum;
    }

    /// <summary>Extent: outF. db[o] += Σ_r dy[r, o].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardBiasKernel(Index1D i, ArrayView<float> db, ArrayView<float> dy, int rows, int outF)
    {
        if (i >= outF) return;
        float sum = 0f;
        int o = i;
        for (int r = 0; r < rows; r++) sum += dy[r * outF + o];
        db[i] += sum;
    }
}
