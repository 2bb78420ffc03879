using System;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Batched matrix product, c[b] = op(a[b])·op(b[b]) for b in [0, batch), op = transpose when the flag is set.
/// a (batch, m, k), or (batch, k, m) when transA; b (batch, k, n), or (batch, n, k) when transB -> c (batch, m, n).
/// E.g. non-local blocks (θᵀφ: transA), Segmenter's masks (patches · classesᵀ: transB), MaskFormer (queries · pixels).
/// Backward accumulates da += the gradient in a's stored layout (dC·op(b)ᵀ, or its transpose when transA) and
/// db += op(a)ᵀ·dC (or its transpose when transB).
/// </summary>
public static class BatchedMatMul
{
    // Below this many multiply-adds per item the batch is split over threads and each product runs serially;
    // above it each product is big enough for Gemm to split it itself.
    const long SerialItemWork = 1L << 22;

    public static void Forward(float[] c, float[] a, float[] b, int batch, int m, int n, int k, bool transA, bool transB)
    {
        int lda = transA ? m : k, ldb = transB ? k : n;
        ForBatch(batch, (long)m * n * k, (item, parallelInside) =>
            Product(parallelInside, transA, transB, m, n, k, a, item * m * k, lda, b, item * k * n, ldb, c, item * m * n, n, accumulate: false));
    }

    public static void Backward(float[] da, float[] db, float[] dc, float[] a, float[] b, int batch, int m, int n, int k, bool transA, bool transB)
    {
        int lda = transA ? m : k, ldb = transB ? k : n;
        ForBatch(batch, (long)m * n * k, (item, parallelInside) =>
        {
            int ao = item * m * k, bo = item * k * n, co = item * m * n;
            // op(a)' = dC·op(b)ᵀ (m × k); stored transposed, da = op(b)·dCᵀ (k × m).
            if (!transA) Product(parallelInside, false, !transB, m, k, n, dc, co, n, b, bo, ldb, da, ao, k, accumulate: true);
            else Product(parallelInside, transB, true, k, m, n, b, bo, ldb, dc, co, n, da, ao, m, accumulate: true);
            // op(b)' = op(a)ᵀ·dC (k × n); stored transposed, db = dCᵀ·op(a) (n × k).
            if (!transB) Product(parallelInside, !transA, false, k, n, m, a, ao, lda, dc, co, n, db, bo, n, accumulate: true);
            else Product(parallelInside, true, transA, n, k, m, dc, co, n, a, ao, lda, db, bo, k, accumulate: true);
        });
    }

    static void Product(bool parallel, bool transA, bool transB, int m, int n, int k, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc, bool accumulate)
    {
        if (parallel) Gemm.Multiply(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate);
        else Gemm.MultiplySerial(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate);
    }

    static void ForBatch(int batch, long itemWork, Action<int, bool> body)
    {
        if (batch == 1 || itemWork >= SerialItemWork)
        {
            for (int item = 0; item < batch; item++) body(item, true);
            return;
        }
        Workers.For(batch, item => body(item, false));
    }

    // Device kernels: each product is one batched launch of the tiled SGEMM (the batch along the grid's Z), the backward
    // products written in the stored layouts of a and b.

    public static KernelConfig ForwardKernelConfig(int batch, int m, int n) => TiledGemm.Config(m, n, batch);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, int batch, int m, int n, int k,
        bool transA, bool transB, bool tensorCores) =>
        TiledGemm.Multiply(c, a, b, c, m, n, k, transA, transB, transA ? m : k, transB ? k : n, n,
            (long)m * k, (long)k * n, (long)m * n, 1f, hasBias: false, accumulate: false, tensorCores);

    public static KernelConfig BackwardAKernelConfig(int batch, int m, int k, bool transA) =>
        transA ? TiledGemm.Config(k, m, batch) : TiledGemm.Config(m, k, batch);

    /// <summary>da += dC·op(b)ᵀ (m × k), or its transpose op(b)·dCᵀ (k × m) when a is stored transposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardAKernel(ArrayView<float> da, ArrayView<float> dc, ArrayView<float> b, int batch, int m, int n, int k,
        bool transA, bool transB, bool tensorCores)
    {
        if (transA)
            TiledGemm.Multiply(da, b, dc, da, k, m, n, transB, true, transB ? k : n, n, m,
                (long)k * n, (long)m * n, (long)m * k, 1f, hasBias: false, accumulate: true, tensorCores);
        else
            TiledGemm.Multiply(da, dc, b, da, m, k, n, false, !transB, n, transB ? k : n, k,
                (long)m * n, (long)k * n, (long)m * k, 1f, hasBias: false, accumulate: true, tensorCores);
    }

    public static KernelConfig BackwardBKernelConfig(int batch, int n, int k, bool transB) =>
        transB ? TiledGemm.Config(n, k, batch) : TiledGemm.Config(k, n, batch);

    /// <summary>db += op(a)ᵀ·dC (k × n), or its transpose dCᵀ·op(a) (n × k) when b is stored transposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardBKernel(ArrayView<float> db, ArrayView<float> dc, ArrayView<float> a, int batch, int m, int n, int k,
        bool transA, bool transB, bool tensorCores)
    {
        if (transB)
            TiledGemm.Multiply(db, dc, a, db, n, k, m, true, transA, n, transA ? m : k, k,
                (long)m * n, (long)m * k, (long)k * n, 1f, hasBias: false, accumulate: true, tensorCores);
        else
            TiledGemm.Multiply(db, a, dc, db, k, n, m, !transA, false, transA ? m : k, n, n,
                (long)m * k, (long)m * n, (long)k * n, 1f, hasBias: false, accumulate: true, tensorCores);
    }
}
