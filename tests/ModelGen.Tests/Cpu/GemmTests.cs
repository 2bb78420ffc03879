using System;
using ModelGen.Cpu;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Cpu;

public class GemmTests
{
    /// <summary>C (+)= op(A)·op(B) in double over the stored layouts, touching only the m×n window of C.</summary>
    static double[] Reference(bool transA, bool transB, int m, int n, int k, float[] a, int aOffset, int lda,
        float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc, bool accumulate, float[]? bias)
    {
        var result = Rng.ToDouble(c);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = bias == null ? 0 : bias[j];
                for (int p = 0; p < k; p++)
                {
                    double av = transA ? a[aOffset + p * lda + i] : a[aOffset + i * lda + p];
                    double bv = transB ? b[bOffset + j * ldb + p] : b[bOffset + p * ldb + j];
                    s += av * bv;
                }
                int at = cOffset + i * ldc + j;
                result[at] = accumulate ? result[at] + s : s;
            }
        }
        return result;
    }

    static void Check(bool transA, bool transB, int m, int n, int k, bool accumulate, bool serial,
        int aPad = 0, int bPad = 0, int cPad = 0, int aOffset = 0, int bOffset = 0, int cOffset = 0, int seed = 1, bool withBias = false)
    {
        int lda = (transA ? m : k) + aPad;
        int ldb = (transB ? k : n) + bPad;
        int ldc = n + cPad;
        int aRows = transA ? k : m, bRows = transB ? n : k;
        var a = Rng.Floats(aOffset + aRows * lda + 3, seed);
        var b = Rng.Floats(bOffset + bRows * ldb + 3, seed + 1);
        var c = Rng.Floats(cOffset + m * ldc + 3, seed + 2);
        var bias = withBias ? Rng.Floats(n, seed + 3) : null;
        var expected = Reference(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate, bias);
        if (serial) Gemm.MultiplySerial(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate, bias);
        else Gemm.Multiply(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, accumulate, bias);
        double tol = 1e-5 * Math.Sqrt(Math.Max(1, k));
        Approx.Equal(expected, Rng.ToDouble(c), tol, tol, $"{(transA ? "T" : "N")}{(transB ? "T" : "N")} {m}x{n}x{k} acc={accumulate} serial={serial}");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void AllTransposeCombosOddSizes(bool transA, bool transB)
    {
        foreach (var (m, n, k) in new[] { (1, 1, 1), (3, 5, 7), (8, 32, 8), (9, 33, 17), (37, 41, 29), (197, 197, 64), (197, 64, 197) })
        {
            Check(transA, transB, m, n, k, accumulate: false, serial: true);
            Check(transA, transB, m, n, k, accumulate: true, serial: true);
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void OffsetsAndStrides(bool transA, bool transB)
    {
        Check(transA, transB, 19, 45, 23, accumulate: false, serial: true, aPad: 5, bPad: 3, cPad: 7, aOffset: 11, bOffset: 13, cOffset: 17);
        Check(transA, transB, 70, 50, 300, accumulate: true, serial: false, aPad: 1, bPad: 9, cPad: 2, aOffset: 4, bOffset: 6, cOffset: 8);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void CrossesBlockSizes(bool transA, bool transB)
    {
        // k past the 256 depth block (k = 257 splits evenly, 600 in three), m past the 192-row block, n past 2048 columns.
        Check(transA, transB, 200, 70, 257, accumulate: false, serial: true);
        Check(transA, transB, 385, 33, 600, accumulate: true, serial: true);
        Check(transA, transB, 9, 2100, 20, accumulate: true, serial: true);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void LargeGoesParallel(bool transA, bool transB)
    {
        Check(transA, transB, 301, 259, 270, accumulate: false, serial: false);
        Check(transA, transB, 300, 70, 1000, accumulate: true, serial: false);
        Check(transA, transB, 40, 520, 300, accumulate: true, serial: false);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void BiasIsAddedOncePerColumn(bool transA, bool transB)
    {
        // Full and edge tiles, several depth blocks (the bias must enter with the first only), column blocks, both paths.
        foreach (bool serial in new[] { true, false })
            foreach (bool accumulate in new[] { false, true })
            {
                Check(transA, transB, 3, 5, 7, accumulate, serial, withBias: true);
                Check(transA, transB, 37, 41, 29, accumulate, serial, withBias: true);
                Check(transA, transB, 197, 192, 64, accumulate, serial, withBias: true, cPad: 3, cOffset: 5);
                Check(transA, transB, 200, 70, 600, accumulate, serial, withBias: true);
                Check(transA, transB, 9, 2100, 20, accumulate, serial, withBias: true);
            }
    }

    /// <summary>
    /// Weight-gradient shapes (C small, k long) are split along k, one slice per thread, and the slices' sums added into
    /// C: overwrite and accumulate, the bias, strides and offsets, odd sizes whose k does not divide evenly.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void LongInnerDimensionSplitsAlongK(bool transA, bool transB)
    {
        foreach (bool accumulate in new[] { false, true })
        {
            Check(transA, transB, 64, 64, 6400, accumulate, serial: false);
            Check(transA, transB, 33, 17, 5001, accumulate, serial: false, withBias: true);
            Check(transA, transB, 8, 40, 9000, accumulate, serial: false, aPad: 3, bPad: 5, cPad: 2, aOffset: 7, bOffset: 9, cOffset: 11, withBias: accumulate);
        }
    }

    [Fact]
    public void BiasWithZeroDepthIsTheBias()
    {
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        Gemm.Multiply(false, false, 2, 3, 0, new float[1], 0, 1, new float[3], 0, 3, c, 0, 3, accumulate: true, bias: new float[] { 10, 20, 30 });
        Assert.Equal(new float[] { 11, 22, 33, 14, 25, 36 }, c);
        Gemm.Multiply(false, false, 2, 2, 0, new float[1], 0, 1, new float[3], 0, 3, c, 0, 3, accumulate: false, bias: new float[] { 7, 8 });
        Assert.Equal(new float[] { 7, 8, 33, 7, 8, 36 }, c);
    }

    [Fact]
    public void ParallelMatchesSerialOnTransformerShape()
    {
        int m = 6400, n = 192, k = 64;
        var a = Rng.Floats(m * k, 3);
        var b = Rng.Floats(n * k, 4);
        var c1 = new float[m * n];
        var c2 = new float[m * n];
        Gemm.Multiply(false, true, m, n, k, a, 0, k, b, 0, k, c1, 0, n, false);
        Gemm.MultiplySerial(false, true, m, n, k, a, 0, k, b, 0, k, c2, 0, n, false);
        Assert.Equal(c2, c1);
        // Spot-check rows against double precision.
        foreach (int i in new[] { 0, 1, 3199, 6399 })
            for (int j = 0; j < n; j += 37)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * k + p] * b[j * k + p];
                Assert.True(Math.Abs(s - c1[i * n + j]) < 1e-4, $"[{i},{j}] {s} vs {c1[i * n + j]}");
            }
    }

    [Fact]
    public void ZeroDepthClearsOrKeeps()
    {
        var a = new float[4];
        var b = new float[4];
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        Gemm.Multiply(false, false, 2, 3, 0, a, 0, 1, b, 0, 3, c, 0, 3, accumulate: true);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, c);
        Gemm.Multiply(false, false, 2, 2, 0, a, 0, 1, b, 0, 3, c, 0, 3, accumulate: false);
        Assert.Equal(new float[] { 0, 0, 3, 0, 0, 6 }, c);
    }

    [Fact]
    public void RejectsMatricesThatDoNotFit()
    {
        var a = new float[10];
        var b = new float[10];
        var c = new float[10];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 3, 3, 4, a, 0, 4, b, 0, 3, c, 0, 3, false));
        Assert.Throws<ArgumentException>(() => Gemm.MultiplySerial(false, false, 2, 2, 2, a, 0, 2, b, 0, 2, c, 6, 3, false));
        var e = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 3, 2, a, 0, 2, b, 0, 3, c, 0, 3, false, new float[2]));
        Assert.Contains("bias has 2 elements but C has 3 columns", e.Message);
    }
}
