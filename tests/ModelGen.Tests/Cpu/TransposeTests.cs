using System;
using ModelGen.Cpu;
using Xunit;

namespace ModelGen.Tests.Cpu;

public class TransposeTests
{
    /// <summary>
    /// Against the element-at-a-time loop, bit for bit: whole and partial 16×16 tiles (50 rows padded to 64, a tile with no
    /// valid row), column ranges that start past 0 or end off a multiple of 16 (the rest goes one column at a time), a
    /// padding that is not a multiple of 16 (no tiles at all), and a scale of 1 (V is staged unscaled).
    /// </summary>
    [Theory]
    [InlineData(50, 64, 0, 16, 64, 0.25f)]
    [InlineData(50, 64, 16, 32, 64, 0.125f)]
    [InlineData(50, 64, 0, 24, 64, 1f)]
    [InlineData(16, 16, 0, 16, 16, 1f)]
    [InlineData(3, 32, 0, 48, 48, 0.5f)]
    [InlineData(0, 16, 0, 16, 16, 2f)]
    [InlineData(197, 208, 0, 64, 192, 0.125f)]
    [InlineData(10, 12, 0, 16, 16, 1f)]
    [InlineData(20, 32, 5, 21, 24, 3f)]
    public unsafe void Scaled_MatchesTheElementLoopBitForBit(int rows, int paddedRows, int c0, int c1, int ldSrc, float scale)
    {
        var rng = new Random(rows * 31 + c0);
        var src = new float[Math.Max(1, rows) * ldSrc];
        for (int i = 0; i < src.Length; i++) src[i] = (float)(rng.NextDouble() * 2 - 1) * 1e3f;
        int ldDst = paddedRows + 3;
        var expected = new float[c1 * ldDst];
        var actual = new float[c1 * ldDst];
        Array.Fill(expected, float.NaN);
        Array.Fill(actual, float.NaN);
        for (int c = c0; c < c1; c++)
        {
            for (int j = 0; j < rows; j++) expected[c * ldDst + j] = src[j * ldSrc + c] * scale;
            for (int j = rows; j < paddedRows; j++) expected[c * ldDst + j] = 0f;
        }
        fixed (float* d = actual, s = src) Transpose.Scaled(d, ldDst, s, ldSrc, rows, paddedRows, c0, c1, scale);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"element {i} (column {i / ldDst}, row {i % ldDst}): expected {expected[i]}, got {actual[i]}");
    }
}
