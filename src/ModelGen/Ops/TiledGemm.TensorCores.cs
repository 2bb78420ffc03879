using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace ModelGen.Ops;

// The tensor-core variant of the tiled product (opt-in TF32, see Device.Tf32): the same 64×64 tile, the same loaders and
// double-buffered 16-deep steps, but the operands are rounded to TF32 (10-bit mantissa) as they enter shared memory and each of
// the group's eight warps computes a 32×16 block of the tile with four m16n8k8 matrix products per 8 of k (mma.sync on CUDA,
// a warp-shuffle emulation of the same fragments elsewhere, so the simulator checks the layout). Sums stay FP32.
public static partial class TiledGemm
{
    /// <summary>Shared row stride of the tensor-core tiles: 72 ≡ 8 (mod 32), so a warp's fragment reads (lanes one apart in k
    /// rows, consecutive along m or n) fall in 32 distinct banks.</summary>
    const int MmaStride = TileM + 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Four ToTf32(Four f)
    {
        f.V0 = Tf32.Round(f.V0);
        f.V1 = Tf32.Round(f.V1);
        f.V2 = Tf32.Round(f.V2);
        f.V3 = Tf32.Round(f.V3);
        return f;
    }

    /// <summary>A warp's 32×16 block of C as four m16n8 accumulator fragments (2 along m, 2 along n), four values per lane each:
    /// fragment (i, j) holds rows g and g + 8 and columns 2q and 2q + 1 of its 16×8 piece. Warp w owns rows 32·(w mod 2) … +32
    /// and columns 16·(w / 2) … +16 of the tile; lane (g, q) = (lane / 4, lane mod 4) holds the fragments' elements the PTX
    /// ISA assigns it.</summary>
    struct WarpBlock : ITileBlock
    {
        readonly int _g, _q, _rows, _columns;
        float _000, _001, _002, _003, _010, _011, _012, _013, _100, _101, _102, _103, _110, _111, _112, _113;

        public WarpBlock(int t)
        {
            this = default;
            int lane = t & 31, warp = t >> 5;
            _g = lane >> 2;
            _q = lane & 3;
            _rows = (warp & 1) * 32;
            _columns = (warp >> 1) * 16;
        }

        public readonly int Stride => MmaStride;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly Four Prepare(Four f) => ToTf32(f);

        /// <summary>The buffer's 16 of k as two steps of 8.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(ArrayView<float> sa, ArrayView<float> sb, int buffer)
        {
            int at = buffer + _q * MmaStride + _g;
            Step8(sa, sb, at + _rows, at + _columns);
            Step8(sa, sb, at + 8 * MmaStride + _rows, at + 8 * MmaStride + _columns);
        }

        /// <summary>8 of k: A's fragments of both 16-row pieces and B's of both 8-column pieces from shared memory, then four
        /// products. <paramref name="aAt"/> / <paramref name="bAt"/>: the lane's element (k = q, row or column g) of the
        /// warp's block in the k-major tiles; k + 4 is four rows further, row + 8 and column + 8 eight along.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        void Step8(ArrayView<float> sa, ArrayView<float> sb, int aAt, int bAt)
        {
            const int K4 = 4 * MmaStride;
            float a00 = sa[aAt], a01 = sa[aAt + 8], a02 = sa[aAt + K4], a03 = sa[aAt + K4 + 8];
            float a10 = sa[aAt + 16], a11 = sa[aAt + 24], a12 = sa[aAt + K4 + 16], a13 = sa[aAt + K4 + 24];
            float b00 = sb[bAt], b01 = sb[bAt + K4], b10 = sb[bAt + 8], b11 = sb[bAt + K4 + 8];
            Tf32.Mma(ref _000, ref _001, ref _002, ref _003, a00, a01, a02, a03, b00, b01);
            Tf32.Mma(ref _010, ref _011, ref _012, ref _013, a00, a01, a02, a03, b10, b11);
            Tf32.Mma(ref _100, ref _101, ref _102, ref _103, a10, a11, a12, a13, b00, b01);
            Tf32.Mma(ref _110, ref _111, ref _112, ref _113, a10, a11, a12, a13, b10, b11);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Write<TE>(TE e, int m0, int n0, int m, int n) where TE : struct, ITileEpilogue
        {
            int r = m0 + _rows + _g, col = n0 + _columns + 2 * _q;
            WritePair(e, r, col, m, n, _000, _001);
            WritePair(e, r + 8, col, m, n, _002, _003);
            WritePair(e, r, col + 8, m, n, _010, _011);
            WritePair(e, r + 8, col + 8, m, n, _012, _013);
            WritePair(e, r + 16, col, m, n, _100, _101);
            WritePair(e, r + 24, col, m, n, _102, _103);
            WritePair(e, r + 16, col + 8, m, n, _110, _111);
            WritePair(e, r + 24, col + 8, m, n, _112, _113);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void WritePair<TE>(TE e, int r, int col, int m, int n, float v0, float v1) where TE : struct, ITileEpilogue
        {
            if (r >= m) return;
            if (col < n) e.Write(r, col, v0);
            if (col + 1 < n) e.Write(r, col + 1, v1);
        }
    }
}

/// <summary>
/// TF32 (the tensor cores' FP32 format with a 10-bit mantissa): rounding and the warp-wide m16n8k8 product. On CUDA the product
/// is one <c>mma.sync</c>; elsewhere (the simulator) warp shuffles compute the same sums from the same fragments, so the
/// layout the tiled product loads is tested without a GPU.
/// </summary>
public static class Tf32
{
    /// <summary>x rounded to TF32, to nearest with ties away from zero (cvt.rna.tf32.f32); infinities and NaN pass unchanged.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        if ((bits & 0x7F800000u) == 0x7F800000u) return x;
        return Interop.IntAsFloat((bits + 0x1000u) & 0xFFFFE000u);
    }

    /// <summary>
    /// d += A·B for the warp's 16×8 block: A (16×8, row-major) and B (8×8, column-major) in the PTX ISA's m16n8k8 TF32 fragments.
    /// Lane l = 4g + q holds a0 = A[g, q], a1 = A[g + 8, q], a2 = A[g, q + 4], a3 = A[g + 8, q + 4], b0 = B[q, g], b1 = B[q + 4, g]
    /// and accumulates d0 = D[g, 2q], d1 = D[g, 2q + 1], d2 = D[g + 8, 2q], d3 = D[g + 8, 2q + 1]. Every lane of the warp calls it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Mma(ref float d0, ref float d1, ref float d2, ref float d3, float a0, float a1, float a2, float a3, float b0, float b1)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> c0 = d0, c1 = d1, c2 = d2, c3 = d3;
            Input<uint> x0 = Interop.FloatAsInt(a0), x1 = Interop.FloatAsInt(a1), x2 = Interop.FloatAsInt(a2), x3 = Interop.FloatAsInt(a3);
            Input<uint> y0 = Interop.FloatAsInt(b0), y1 = Interop.FloatAsInt(b1);
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
                ref c0, ref c1, ref c2, ref c3, ref x0, ref x1, ref x2, ref x3, ref y0, ref y1);
            d0 = c0.Value;
            d1 = c1.Value;
            d2 = c2.Value;
            d3 = c3.Value;
            return;
        }

        int lane = Warp.LaneIdx, g = lane >> 2, q = lane & 3;
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        for (int kq = 0; kq < 4; kq++)
        {
            // A's rows g and g + 8 at k = kq and kq + 4 sit with lane 4g + kq; B's columns 2q and 2q + 1 with lanes 8q + kq and 8q + 4 + kq.
            int aLane = 4 * g + kq, bLane0 = 8 * q + kq, bLane1 = 8 * q + 4 + kq;
            float ag = Warp.Shuffle(a0, aLane), ag8 = Warp.Shuffle(a1, aLane), ag4 = Warp.Shuffle(a2, aLane), ag84 = Warp.Shuffle(a3, aLane);
            float b0c0 = Warp.Shuffle(b0, bLane0), b4c0 = Warp.Shuffle(b1, bLane0);
            float b0c1 = Warp.Shuffle(b0, bLane1), b4c1 = Warp.Shuffle(b1, bLane1);
            s0 += ag * b0c0 + ag4 * b4c0;
            s1 += ag * b0c1 + ag4 * b4c1;
            s2 += ag8 * b0c0 + ag84 * b4c0;
            s3 += ag8 * b0c1 + ag84 * b4c1;
        }
        d0 += s0;
        d1 += s1;
        d2 += s2;
        d3 += s3;
    }
}
