using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGen.Cpu;

/// <summary>
/// Vector math the CPU ops share: an exponential for non-positive arguments and a fused row softmax built on it.
/// </summary>
public static class VectorMath
{
    const int W = 16; // floats in a Vector512
    // exp(x) = 2^n · exp(r), n = round(x·log2 e), r = x − n·ln 2 split in two parts so r is exact; exp(r) on |r| ≤ ln2/2
    // by a degree-7 polynomial (relative error ~2e-7). On .NET 10 Vector512.Exp for float measured about eight times
    // slower than this (GELU spent most of its time there), hence this form.
    const float Log2E = 1.44269504f, Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f, ExpMin = -87f;
    const float E2 = 0.5f, E3 = 1.6666665459e-1f, E4 = 4.1665795894e-2f, E5 = 8.3334519073e-3f, E6 = 1.3981999507e-3f,
        E7 = 1.9875691500e-4f;

    /// <summary>exp(x) for x ≤ 0; arguments below −87 give exp(−87) ≈ 1.6e-38 instead of a subnormal or 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpNonPositive(Vector512<float> x)
    {
        x = Vector512.Max(x, Vector512.Create(ExpMin));
        var n = Vector512.Floor(x * Log2E + Vector512.Create(0.5f));
        var r = x - n * Ln2Hi - n * Ln2Lo;
        var p = Vector512.Create(E7) * r + Vector512.Create(E6);
        p = p * r + Vector512.Create(E5);
        p = p * r + Vector512.Create(E4);
        p = p * r + Vector512.Create(E3);
        p = p * r + Vector512.Create(E2);
        p = p * (r * r) + r + Vector512<float>.One;
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return p * scale;
    }

    /// <summary><see cref="Vector{T}"/> form of <see cref="ExpNonPositive(Vector512{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<float> ExpNonPositive(Vector<float> x)
    {
        x = Vector.Max(x, new Vector<float>(ExpMin));
        var n = Vector.Floor(x * Log2E + new Vector<float>(0.5f));
        var r = x - n * Ln2Hi - n * Ln2Lo;
        var p = new Vector<float>(E7) * r + new Vector<float>(E6);
        p = p * r + new Vector<float>(E5);
        p = p * r + new Vector<float>(E4);
        p = p * r + new Vector<float>(E3);
        p = p * r + new Vector<float>(E2);
        p = p * (r * r) + r + Vector<float>.One;
        var scale = Vector.AsVectorSingle(Vector.ShiftLeft(Vector.ConvertToInt32(n) + new Vector<int>(127), 23));
        return p * scale;
    }

    /// <summary>a·b over n floats for short rows (an attention head of 16 or 64), where TensorPrimitives.Dot's setup costs
    /// more than the sum itself.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float Dot(float* a, float* b, int n)
    {
        int j = 0;
        var acc = Vector512<float>.Zero;
        for (; j + W <= n; j += W) acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + j), Vector512.Load(b + j), acc);
        float sum = Vector512.Sum(acc);
        for (; j < n; j++) sum += a[j] * b[j];
        return sum;
    }

    /// <summary>
    /// y = softmax(x) over <paramref name="n"/> floats in three passes (max; exp and sum; scale) and returns the max.
    /// −∞ entries get exactly 0; a row that is all −∞ returns −∞ and leaves NaN in y (callers that want zeros check
    /// the returned max). y may be x. Entries are computed as 16-wide vectors, the last partial one under a mask
    /// (AVX-512) or through a stack copy, so a value does not depend on its position in the row and nothing past n is
    /// touched.
    /// </summary>
    public static unsafe float Softmax(float* x, float* y, int n) => Softmax(x, y, n, Avx512F.IsSupported, out _);

    /// <summary>y[j] = exp(x[j] − shift) for j &lt; n, 0 where x is −∞ (y may be x): a row's probabilities from its scores and
    /// log-sum-exp, for x − shift ≤ 0 (up to rounding).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void ExpShifted(float* x, float* y, int n, float shift)
    {
        int j = 0;
        var s = Vector512.Create(shift);
        for (; j + W <= n; j += W) Exp(Vector512.Load(x + j) - s).Store(y + j);
        for (; j < n; j++) y[j] = float.IsNegativeInfinity(x[j]) ? 0f : MathF.Exp(x[j] - shift);
    }

    /// <summary><see cref="Softmax(float*, float*, int)"/> that also gives Σ exp(x − max), so max + log(sum) is the row's log-sum-exp.</summary>
    public static unsafe float Softmax(float* x, float* y, int n, out float sum) => Softmax(x, y, n, Avx512F.IsSupported, out sum);

    static ReadOnlySpan<int> TailMasks => new[] { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

    /// <summary>
    /// <see cref="Softmax(float*, float*, int)"/> with the partial last vector loaded and stored under an AVX-512 mask
    /// (<paramref name="masked"/>; a row of 50 costs about half as much, and short rows are what attention over few tokens
    /// runs) or through a stack copy (any machine). The tail vector is −∞ past n either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe float Softmax(float* x, float* y, int n, bool masked, out float sum)
    {
        int full = n & ~(W - 1), rem = n - full;
        var negInf = Vector512.Create(float.NegativeInfinity);
        var copy = stackalloc float[W];
        Vector512<float> mask = default, tail;
        if (masked)
        {
            fixed (int* masks = TailMasks) mask = Vector512.Load(masks + W - rem).AsSingle();
            tail = Avx512F.MaskLoad(x + full, mask, negInf); // masked-off lanes are not read
        }
        else
        {
            negInf.Store(copy);
            new ReadOnlySpan<float>(x + full, rem).CopyTo(new Span<float>(copy, rem));
            tail = Vector512.Load(copy);
        }
        var mv = tail;
        for (int j = 0; j < full; j += W) mv = Vector512.Max(mv, Vector512.Load(x + j));
        float max = HorizontalMax(mv);
        var m = Vector512.Create(max);
        var et = Exp(tail - m); // the −∞ lanes give 0
        var sv = et;
        for (int j = 0; j < full; j += W)
        {
            var e = Exp(Vector512.Load(x + j) - m);
            e.Store(y + j);
            sv += e;
        }
        sum = Vector512.Sum(sv);
        var inv = Vector512.Create(1f / sum);
        for (int j = 0; j < full; j += W) (Vector512.Load(y + j) * inv).Store(y + j);
        et *= inv;
        if (masked) Avx512F.MaskStore(y + full, mask, et);
        else
        {
            et.Store(copy);
            new ReadOnlySpan<float>(copy, rem).CopyTo(new Span<float>(y + full, rem));
        }
        return max;
    }

    /// <summary>exp(x) for x ≤ 0 with exactly 0 below −87 (and for −∞ or NaN), as a softmax needs for masked entries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Exp(Vector512<float> x) =>
        Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512.Create(ExpMin)), ExpNonPositive(x), Vector512<float>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float HorizontalMax(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1)));
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2)));
        return q.ToScalar();
    }
}
