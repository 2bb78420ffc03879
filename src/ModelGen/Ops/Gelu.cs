using System;
using ModelGen.Cpu;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Exact GELU as PyTorch's <c>nn.GELU()</c> default: y = 0.5·x·(1 + erf(x/√2)). x (n) -> y (n).
/// Backward accumulates: dx += dy · (0.5·(1 + erf(x/√2)) + x·φ(x)), φ the standard normal density.
/// </summary>
public static class Gelu
{
    const float InvSqrt2 = 0.707106781f;
    const float InvSqrt2Pi = 0.398942280f;

    // erf(a)/a on a in [0, 1] as a polynomial in u = 2a² - 1 (Chebyshev interpolant, degree 6; error ~1e-9).
    const float A0 = 9.654687387e-01f, A1 = -1.405360973e-01f, A2 = 1.985249714e-02f, A3 = -2.285419545e-03f,
        A4 = 2.175135417e-04f, A5 = -1.766906802e-05f, A6 = 1.230605476e-06f;

    // erfc(a)·exp(a²) on a in [1, 4] as a polynomial in v = (2a - 5)/3 (degree 11; error ~4e-9 after the exp factor).
    // Beyond 4 erf rounds to 1 in float, so a is clamped there and the exp factor does the rest.
    const float B0 = 2.108063577e-01f, B1 = -1.115210179e-01f, B2 = 5.611094756e-02f, B3 = -2.700545821e-02f,
        B4 = 1.248412315e-02f, B5 = -5.568837645e-03f, B6 = 2.425638938e-03f, B7 = -1.013662598e-03f,
        B8 = 3.681510978e-04f, B9 = -1.474161427e-04f, B10 = 9.629120198e-05f, B11 = -3.566417882e-05f;

    /// <summary>The error function in float, within 2e-7 absolute of the true value; usable in kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Erf(float x)
    {
        float a = x < 0f ? -x : x;
        float t = a * a;
        float r;
        if (a < 1f)
        {
            float u = t * 2f - 1f;
            r = a * ((((((A6 * u + A5) * u + A4) * u + A3) * u + A2) * u + A1) * u + A0);
        }
        else
        {
            float v = (a < 4f ? a : 4f) * (2f / 3f) - 5f / 3f;
            float q = ((((((((((B11 * v + B10) * v + B9) * v + B8) * v + B7) * v + B6) * v + B5) * v + B4) * v + B3) * v + B2) * v + B1) * v + B0;
            r = 1f - MathF.Exp(-t) * q;
        }
        return x < 0f ? -r : r;
    }

    /// <summary>Vector form of <see cref="Erf(float)"/>: the same arithmetic on both branches, then a select.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector<float> Erf(Vector<float> x)
    {
        var a = Vector.Abs(x);
        var t = a * a;
        var u = t * 2f - Vector<float>.One;
        var p = new Vector<float>(A6) * u + new Vector<float>(A5);
        p = p * u + new Vector<float>(A4);
        p = p * u + new Vector<float>(A3);
        p = p * u + new Vector<float>(A2);
        p = p * u + new Vector<float>(A1);
        p = p * u + new Vector<float>(A0);
        var small = a * p;

        var v = Vector.Min(a, new Vector<float>(4f)) * (2f / 3f) - new Vector<float>(5f / 3f);
        var q = new Vector<float>(B11) * v + new Vector<float>(B10);
        q = q * v + new Vector<float>(B9);
        q = q * v + new Vector<float>(B8);
        q = q * v + new Vector<float>(B7);
        q = q * v + new Vector<float>(B6);
        q = q * v + new Vector<float>(B5);
        q = q * v + new Vector<float>(B4);
        q = q * v + new Vector<float>(B3);
        q = q * v + new Vector<float>(B2);
        q = q * v + new Vector<float>(B1);
        q = q * v + new Vector<float>(B0);
        var large = Vector<float>.One - VectorMath.ExpNonPositive(-t) * q;

        var r = Vector.ConditionalSelect(Vector.LessThan(a, Vector<float>.One), small, large);
        var sign = Vector.AsVectorSingle(new Vector<int>(int.MinValue));
        return Vector.ConditionalSelect(sign, x, r);
    }

    // erfc(a) on a in [0, 4) as 16 pieces of width 1/4, piece i a degree-5 polynomial in u = 4a - i - 1/2 (Chebyshev
    // interpolant; error ~2e-12 before float rounding). Row k holds coefficient k of every piece, so one AVX-512 permute
    // by the piece index fetches it for 16 lanes at once. Past 4, erfc is taken as 0 (it is below 1.6e-8 there).
    static readonly float[] s_erfcPieces =
    {
        // c0
        8.596837979e-01f, 5.958830965e-01f, 3.767591227e-01f, 2.159249402e-01f, 1.116117665e-01f, 5.182992459e-02f, 2.155626504e-02f, 8.009941837e-03f,
        2.654029573e-03f, 7.829385875e-04f, 2.053760039e-04f, 4.785497603e-05f, 9.896788856e-06f, 1.815299034e-06f, 2.951449611e-07f, 4.251503590e-08f,
        // c1
        -2.777213167e-01f, -2.450882022e-01f, -1.908748844e-01f, -1.311862619e-01f, -7.956848991e-02f, -4.258994338e-02f, -2.011806457e-02f, -8.386456959e-03f,
        -3.085205098e-03f, -1.001619469e-03f, -2.869688017e-04f, -7.255708646e-05f, -1.618967877e-05f, -3.187938260e-06f, -5.539810174e-07f, -8.495583729e-08f,
        // c2
        8.678597735e-03f, 2.297659108e-02f, 2.982384704e-02f, 2.869690532e-02f, 2.237876990e-02f, 1.464048244e-02f, 8.173087417e-03f, 3.931187279e-03f,
        1.638999872e-03f, 5.946849445e-04f, 1.883039851e-04f, 5.214058308e-05f, 1.264427653e-05f, 2.688553047e-06f, 5.017012543e-07f, 8.222216585e-08f,
        // c3
        5.605001358e-03f, 3.669928823e-03f, 8.699021902e-04f, -1.451891533e-03f, -2.538297106e-03f, -2.467779638e-03f, -1.794397884e-03f, -1.053777629e-03f,
        -5.162134810e-04f, -2.145393378e-04f, -7.641145763e-05f, -2.347599170e-05f, -6.249736074e-06f, -1.446388319e-06f, -2.917091544e-07f, -5.136524251e-08f,
        // c4
        -2.663212497e-04f, -6.461470082e-04f, -6.855218122e-04f, -4.380969248e-04f, -1.106834549e-04f, 1.171209373e-04f, 1.928955335e-04f, 1.646995289e-04f,
        1.031365182e-04f, 5.158576042e-05f, 2.135523132e-05f, 7.455219608e-06f, 2.219612889e-06f, 5.677426029e-07f, 1.254037373e-07f, 2.400923252e-08f,
        // c5
        -1.011924886e-04f, -4.428462815e-05f, 2.645399182e-05f, 6.521619065e-05f, 5.966667145e-05f, 2.992049578e-05f, 2.225867295e-06f, -1.108127330e-05f,
        -1.215971983e-05f, -8.164202262e-06f, -4.134546398e-06f, -1.685200092e-06f, -5.695484323e-07f, -1.622829005e-07f, -3.938974164e-08f, -8.201716586e-09f,
    };

    /// <summary>
    /// 1 + erf(x/√2), i.e. 2·Φ(x), from the pieces of erfc: erfc(|x|/√2) for x &lt; 0 (so the far negative tail keeps its
    /// relative precision instead of cancelling against 1) and 2 − erfc(x/√2) otherwise. About a third of the
    /// instructions of evaluating both branches of <see cref="Erf(Vector{float})"/> and selecting; within 1e-7 of double precision.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe Vector512<float> TwicePhi(Vector512<float> x, float* pieces)
    {
        var s = Vector512.Min(Vector512.Abs(x) * (4f * InvSqrt2), Vector512.Create(16f));
        var piece = Vector512.Min(Vector512.Floor(s), Vector512.Create(15f));
        var index = Vector512.ConvertToInt32(piece);
        var u = s - piece - Vector512.Create(0.5f);
        var c = Avx512F.PermuteVar16x32(Vector512.Load(pieces + 80), index);
        c = Vector512.FusedMultiplyAdd(c, u, Avx512F.PermuteVar16x32(Vector512.Load(pieces + 64), index));
        c = Vector512.FusedMultiplyAdd(c, u, Avx512F.PermuteVar16x32(Vector512.Load(pieces + 48), index));
        c = Vector512.FusedMultiplyAdd(c, u, Avx512F.PermuteVar16x32(Vector512.Load(pieces + 32), index));
        c = Vector512.FusedMultiplyAdd(c, u, Avx512F.PermuteVar16x32(Vector512.Load(pieces + 16), index));
        c = Vector512.FusedMultiplyAdd(c, u, Avx512F.PermuteVar16x32(Vector512.Load(pieces), index));
        c = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(s, Vector512.Create(16f)), Vector512<float>.Zero, c);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), c, Vector512.Create(2f) - c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Value(float x) => 0.5f * x * (1f + Erf(x * InvSqrt2));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Slope(float x) => 0.5f * (1f + Erf(x * InvSqrt2)) + x * MathF.Exp(-0.5f * x * x) * InvSqrt2Pi;

    public static void Forward(float[] y, float[] x, int n)
    {
        int per = PartSize(n);
        if (per >= n) { ForwardRange(y, x, 0, n); return; }
        Workers.For((n + per - 1) / per, c => ForwardRange(y, x, c * per, Math.Min(n, (c + 1) * per)));
    }

    public static void Backward(float[] dx, float[] dy, float[] x, int n)
    {
        int per = PartSize(n);
        if (per >= n) { BackwardRange(dx, dy, x, 0, n); return; }
        Workers.For((n + per - 1) / per, c => BackwardRange(dx, dy, x, c * per, Math.Min(n, (c + 1) * per)));
    }

    /// <summary>
    /// Elements per parallel part: about <see cref="Chunks.Size"/>, but with the part count a multiple of the core count so
    /// every core gets the same share (151 296 elements in 32 768-element chunks would give one core 3 chunks, the other 2),
    /// and a multiple of 16 so only the last part has a scalar tail. Returns n or more when one part is enough.
    /// </summary>
    static int PartSize(int n)
    {
        if (n <= Chunks.Size) return n;
        int threads = Environment.ProcessorCount;
        int parts = (Chunks.Count(n) + threads - 1) / threads * threads;
        return ((n + parts - 1) / parts + 15) & ~15;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void ForwardRange(float[] y, float[] x, int start, int end)
    {
        int i = start;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            var xs = MemoryMarshal.Cast<float, Vector512<float>>(x.AsSpan(start, end - start));
            var ys = MemoryMarshal.Cast<float, Vector512<float>>(y.AsSpan(start, end - start));
            var half = Vector512.Create(0.5f);
            fixed (float* pieces = s_erfcPieces)
                for (int k = 0; k < xs.Length; k++)
                {
                    var v = xs[k];
                    ys[k] = half * v * TwicePhi(v, pieces);
                }
            i += xs.Length * Vector512<float>.Count;
        }
        else if (Vector.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x.AsSpan(start, end - start));
            var ys = MemoryMarshal.Cast<float, Vector<float>>(y.AsSpan(start, end - start));
            var half = new Vector<float>(0.5f);
            for (int k = 0; k < xs.Length; k++)
            {
                var v = xs[k];
                ys[k] = half * v * (Vector<float>.One + Erf(v * InvSqrt2));
            }
            i += xs.Length * Vector<float>.Count;
        }
        for (; i < end; i++) y[i] = Value(x[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void BackwardRange(float[] dx, float[] dy, float[] x, int start, int end)
    {
        int i = start;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            var xs = MemoryMarshal.Cast<float, Vector512<float>>(x.AsSpan(start, end - start));
            var dys = MemoryMarshal.Cast<float, Vector512<float>>(dy.AsSpan(start, end - start));
            var dxs = MemoryMarshal.Cast<float, Vector512<float>>(dx.AsSpan(start, end - start));
            var half = Vector512.Create(0.5f);
            fixed (float* pieces = s_erfcPieces)
                for (int k = 0; k < xs.Length; k++)
                {
                    var v = xs[k];
                    var slope = half * TwicePhi(v, pieces) + v * VectorMath.ExpNonPositive(-half * v * v) * InvSqrt2Pi;
                    dxs[k] += dys[k] * slope;
                }
            i += xs.Length * Vector512<float>.Count;
        }
        else if (Vector.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x.AsSpan(start, end - start));
            var dys = MemoryMarshal.Cast<float, Vector<float>>(dy.AsSpan(start, end - start));
            var dxs = MemoryMarshal.Cast<float, Vector<float>>(dx.AsSpan(start, end - start));
            var half = new Vector<float>(0.5f);
            for (int k = 0; k < xs.Length; k++)
            {
                var v = xs[k];
                var slope = half * (Vector<float>.One + Erf(v * InvSqrt2)) + v * VectorMath.ExpNonPositive(-half * v * v) * InvSqrt2Pi;
                dxs[k] += dys[k] * slope;
            }
            i += xs.Length * Vector<float>.Count;
        }
        for (; i < end; i++) dx[i] += dy[i] * Slope(x[i]);
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int n)
    {
        if (i >= n) return;
        y[i] = Value(x[i]);
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, int n)
    {
        if (i >= n) return;
        dx[i] += dy[i] * Slope(x[i]);
    }
}
