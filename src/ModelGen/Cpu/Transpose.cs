using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGen.Cpu;

/// <summary>
/// Rows into columns for the attention core's staging (Kᵀ for the scores, Vᵀ for the score gradient): 16×16 tiles
/// through AVX-512 shuffles where one element at a time cost about a microsecond per head of 50 keys × 16 features.
/// Each element is moved (and multiplied by the scale) exactly as the one-at-a-time loop does, so the two agree bit for bit.
/// </summary>
public static class Transpose
{
    const int W = 16;

    /// <summary>
    /// dst[c·ldDst + j] = src[j·ldSrc + c] · scale for columns c in [c0, c1) and rows j &lt; rows, and 0 for j in
    /// [rows, paddedRows).
    /// </summary>
    public static unsafe void Scaled(float* dst, int ldDst, float* src, int ldSrc, int rows, int paddedRows, int c0, int c1, float scale)
    {
        int c = c0;
        if (Avx512F.IsSupported && paddedRows % W == 0)
            for (; c + W <= c1; c += W)
                for (int j0 = 0; j0 < paddedRows; j0 += W)
                    Tile(dst + (long)c * ldDst + j0, ldDst, src + (long)j0 * ldSrc + c, ldSrc, Math.Clamp(rows - j0, 0, W), scale);
        for (; c < c1; c++)
        {
            float* row = dst + (long)c * ldDst;
            for (int j = 0; j < rows; j++) row[j] = src[(long)j * ldSrc + c] * scale;
            for (int j = rows; j < paddedRows; j++) row[j] = 0f;
        }
    }

    /// <summary>One 16×16 tile: the first <paramref name="valid"/> rows of src (the rest read as zeros) into 16 rows of dst.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Tile(float* dst, int ldDst, float* src, int ldSrc, int valid, float scale)
    {
        var s = Vector512.Create(scale);
        nint ld = ldSrc;
        var r0 = Row(src, 0, valid, s); var r1 = Row(src + ld, 1, valid, s);
        var r2 = Row(src + 2 * ld, 2, valid, s); var r3 = Row(src + 3 * ld, 3, valid, s);
        var r4 = Row(src + 4 * ld, 4, valid, s); var r5 = Row(src + 5 * ld, 5, valid, s);
        var r6 = Row(src + 6 * ld, 6, valid, s); var r7 = Row(src + 7 * ld, 7, valid, s);
        var r8 = Row(src + 8 * ld, 8, valid, s); var r9 = Row(src + 9 * ld, 9, valid, s);
        var r10 = Row(src + 10 * ld, 10, valid, s); var r11 = Row(src + 11 * ld, 11, valid, s);
        var r12 = Row(src + 12 * ld, 12, valid, s); var r13 = Row(src + 13 * ld, 13, valid, s);
        var r14 = Row(src + 14 * ld, 14, valid, s); var r15 = Row(src + 15 * ld, 15, valid, s);

        // Pairs of rows interleaved float by float: t0 holds (r0[0], r1[0], r0[1], r1[1]) in each 128-bit lane.
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        // Then pairs of pairs: in 128-bit lane L, u0 holds column 4L of rows 0-3, u1 column 4L+1, u2 4L+2, u3 4L+3;
        // u4-u7 the same for rows 4-7, u8-u11 rows 8-11, u12-u15 rows 12-15.
        var u0 = Lo(t0, t2); var u1 = Hi(t0, t2); var u2 = Lo(t1, t3); var u3 = Hi(t1, t3);
        var u4 = Lo(t4, t6); var u5 = Hi(t4, t6); var u6 = Lo(t5, t7); var u7 = Hi(t5, t7);
        var u8 = Lo(t8, t10); var u9 = Hi(t8, t10); var u10 = Lo(t9, t11); var u11 = Hi(t9, t11);
        var u12 = Lo(t12, t14); var u13 = Hi(t12, t14); var u14 = Lo(t13, t15); var u15 = Hi(t13, t15);
        // Lanes 0 and 2 (0x88) or 1 and 3 (0xDD) of two vectors: v0 = column 0 of rows 0-7 then column 8 of rows 0-7.
        var v0 = Avx512F.Shuffle4x128(u0, u4, 0x88); var v1 = Avx512F.Shuffle4x128(u1, u5, 0x88);
        var v2 = Avx512F.Shuffle4x128(u2, u6, 0x88); var v3 = Avx512F.Shuffle4x128(u3, u7, 0x88);
        var v4 = Avx512F.Shuffle4x128(u0, u4, 0xDD); var v5 = Avx512F.Shuffle4x128(u1, u5, 0xDD);
        var v6 = Avx512F.Shuffle4x128(u2, u6, 0xDD); var v7 = Avx512F.Shuffle4x128(u3, u7, 0xDD);
        var v8 = Avx512F.Shuffle4x128(u8, u12, 0x88); var v9 = Avx512F.Shuffle4x128(u9, u13, 0x88);
        var v10 = Avx512F.Shuffle4x128(u10, u14, 0x88); var v11 = Avx512F.Shuffle4x128(u11, u15, 0x88);
        var v12 = Avx512F.Shuffle4x128(u8, u12, 0xDD); var v13 = Avx512F.Shuffle4x128(u9, u13, 0xDD);
        var v14 = Avx512F.Shuffle4x128(u10, u14, 0xDD); var v15 = Avx512F.Shuffle4x128(u11, u15, 0xDD);
        // Column c of all 16 rows: the rows 0-7 half from v(c mod 8), the rows 8-15 half from v(c mod 8 + 8).
        nint l = ldDst;
        Avx512F.Shuffle4x128(v0, v8, 0x88).Store(dst); Avx512F.Shuffle4x128(v0, v8, 0xDD).Store(dst + 8 * l);
        Avx512F.Shuffle4x128(v1, v9, 0x88).Store(dst + l); Avx512F.Shuffle4x128(v1, v9, 0xDD).Store(dst + 9 * l);
        Avx512F.Shuffle4x128(v2, v10, 0x88).Store(dst + 2 * l); Avx512F.Shuffle4x128(v2, v10, 0xDD).Store(dst + 10 * l);
        Avx512F.Shuffle4x128(v3, v11, 0x88).Store(dst + 3 * l); Avx512F.Shuffle4x128(v3, v11, 0xDD).Store(dst + 11 * l);
        Avx512F.Shuffle4x128(v4, v12, 0x88).Store(dst + 4 * l); Avx512F.Shuffle4x128(v4, v12, 0xDD).Store(dst + 12 * l);
        Avx512F.Shuffle4x128(v5, v13, 0x88).Store(dst + 5 * l); Avx512F.Shuffle4x128(v5, v13, 0xDD).Store(dst + 13 * l);
        Avx512F.Shuffle4x128(v6, v14, 0x88).Store(dst + 6 * l); Avx512F.Shuffle4x128(v6, v14, 0xDD).Store(dst + 14 * l);
        Avx512F.Shuffle4x128(v7, v15, 0x88).Store(dst + 7 * l); Avx512F.Shuffle4x128(v7, v15, 0xDD).Store(dst + 15 * l);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector512<float> Row(float* p, int r, int valid, Vector512<float> scale) =>
        r < valid ? Vector512.Load(p) * scale : Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Lo(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Hi(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();
}
