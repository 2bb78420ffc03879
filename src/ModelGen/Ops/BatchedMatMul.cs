using System;
using System.Runtime.CompilerServices;
using ILGPU;
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

    /// <summary>Extent: batch·m·n (one c element each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, int batch, int m, int n, int k,
        bool transA, bool transB)
    {
        if (i >= batch * m * n) return;
        int idx = i;
        int col = idx % n;
        int rest = idx / n;
        int row = rest % m;
        int item = rest / m;
        int aBase = item * m * k, bBase = item * k * n;
        // Element (row, t) of op(a) and (t, col) of op(b) in their stored layouts.
        int aRow = transA ? aBase + row : aBase + row * k, aStep = transA ? m : 1;
        int bCol = transB ? bBase + col * k : bBase + col, bStep = transB ? 1 : n;
        float sum = 0f;
        for (int t = 0; t < k; t++) sum += a[aRow + t * aStep] * b[bCol + t * bStep];
        c[i] = sum;
    }

    /// <summary>
    /// Extent: batch·m·k (one da element each, in a's stored layout). d op(a)[row, t] = Σ_col dC[row, col]·op(b)[t, col].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardAKernel(Index1D i, ArrayView<float> da, ArrayView<float> dc, ArrayView<float> b, int batch, int m, int n, int k,
        bool transA, bool transB)
    {
        if (i >= batch * m * k) return;
        int idx = i;
        int item = idx / (m * k), e = idx - item * m * k;
        int row, t;
        if (transA) { t = e / m; row = e - t * m; }
        else { row = e / k; t = e - row * k; }
        int cRow = item * m * n + row * n, bBase = item * k * n;
        int bRow = transB ? bBase + t : bBase + t * n, bStep = transB ? k : 1;
        float sum = 0f;
        for (int col = 0; col < n; col++) sum += dc[cRow + col] * b[bRow + col * bStep];
        da[i] += sum;
    }

    /// <summary>
    /// Extent: batch·k·n (one db element each, in b's stored layout). d op(b)[t, col] = Σ_row op(a)[row, t]·dC[row, col].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardBKernel(Index1D i, ArrayView<float> db, ArrayView<float> dc, ArrayView<float> a, int batch, int m, int n, int k,
        bool transA, bool transB)
    {
        if (i >= batch * k * n) return;
        int idx = i;
        int item = idx / (k * n), e = idx - item * k * n;
        int t, col;
        if (transB) { col = e / k; t = e - col * k; }
        else { t = e / n; col = e - t * n; }
        int cCol = item * m * n + col, aBase = item * m * k;
        int aCol = transA ? aBase + t * m : aBase + t, aStep = transA ? 1 : k;
        float sum = 0f;
        for (int row = 0; row < m; row++) sum += a[aCol + row * aStep] * dc[cCol + row * n];
        db[i] += sum;
    }
}
