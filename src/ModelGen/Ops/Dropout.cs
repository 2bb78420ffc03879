using System;
using ModelGen.Cpu;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Inverted dropout: y = x · mask, mask = 1/(1-p) with probability 1-p, else 0. x (n) -> y (n), mask (n).
/// The mask comes from a counter-based hash of (seed, index), so the CPU and GPU paths give bit-identical masks and
/// no RNG state is kept. Backward accumulates: dx += dy · mask.
/// </summary>
public static class Dropout
{
    /// <summary>A murmur3-style 32-bit finalizer: a bijection with full avalanche.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Mix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }

    /// <summary>The random bits for element <paramref name="index"/>. The seed enters twice so that masks of two
    /// seeds are not shifted copies of each other.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Hash(uint seed, int index) => Mix(Mix((uint)index + Mix(seed)) ^ seed);

    /// <summary>1/(1-p) rounded to nearest even, computed with integer arithmetic: GPU fast-math division is
    /// approximate, and the multiplier must be bit-identical on every device. p in [0, 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(float p)
    {
        uint qb = Interop.FloatAsInt(1f - p);
        uint eq = (qb >> 23) & 0xFFu;
        ulong mq = (qb & 0x7FFFFFu) | 0x800000u;
        // 2^48 / mq lies in (2^24, 2^25]: 24 mantissa bits, one round bit, and the remainder as sticky bit.
        ulong quotient = (1UL << 48) / mq;
        ulong remainder = (1UL << 48) - quotient * mq;
        if (quotient == 1UL << 25) return Interop.IntAsFloat((254u - eq) << 23);
        uint mantissa = (uint)(quotient >> 1);
        uint exponent = 253u - eq;
        if ((quotient & 1UL) != 0 && (remainder != 0 || (mantissa & 1u) != 0)) mantissa++;
        if (mantissa == 1u << 24) { mantissa >>= 1; exponent++; }
        return Interop.IntAsFloat((exponent << 23) | (mantissa & 0x7FFFFFu));
    }

    /// <summary>The multiplier for element <paramref name="index"/>: 0 when u &lt; p for u uniform in [0,1) from the
    /// top 24 hash bits, else <see cref="Scale"/>(p).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Keep(uint seed, int index, float p)
    {
        float u = (Hash(seed, index) >> 8) * (1f / 16777216f);
        return u < p ? 0f : Scale(p);
    }

    public static void Forward(float[] y, float[] mask, float[] x, int n, float p, uint seed)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        if (p == 0f)
        {
            Array.Copy(x, y, n);
            Array.Fill(mask, 1f, 0, n);
            return;
        }
        if (n <= Chunks.Size) { ForwardRange(y, mask, x, 0, n, p, seed); return; }
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            ForwardRange(y, mask, x, start, end, p, seed);
        });
    }

    public static void Backward(float[] dx, float[] dy, float[] mask, int n)
    {
        Workers.For(Chunks.Count(n), c =>
        {
            var (start, end) = Chunks.Range(c, n);
            var d = dx.AsSpan(start, end - start);
            TensorPrimitives.MultiplyAdd(dy.AsSpan(start, end - start), mask.AsSpan(start, end - start), d, d);
        });
    }

    static void ForwardRange(float[] y, float[] mask, float[] x, int start, int end, float p, uint seed)
    {
        float scale = Scale(p);
        int i = start;
        if (Vector.IsHardwareAccelerated)
        {
            int w = Vector<uint>.Count;
            var mixedSeed = new Vector<uint>(Mix(seed));
            var seeds = new Vector<uint>(seed);
            var pv = new Vector<float>(p);
            var scalev = new Vector<float>(scale);
            var unit = new Vector<float>(1f / 16777216f);
            var index = Vector<uint>.Indices + new Vector<uint>((uint)start);
            var step = new Vector<uint>((uint)w);
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x.AsSpan(start, end - start));
            var ys = MemoryMarshal.Cast<float, Vector<float>>(y.AsSpan(start, end - start));
            var ms = MemoryMarshal.Cast<float, Vector<float>>(mask.AsSpan(start, end - start));
            for (int k = 0; k < xs.Length; k++)
            {
                var h = Mix(Mix(index + mixedSeed) ^ seeds);
                var u = Vector.ConvertToSingle(Vector.AsVectorInt32(Vector.ShiftRightLogical(h, 8))) * unit;
                var m = Vector.ConditionalSelect(Vector.LessThan(u, pv), Vector<float>.Zero, scalev);
                ms[k] = m;
                ys[k] = xs[k] * m;
                index += step;
            }
            i += xs.Length * w;
        }
        for (; i < end; i++)
        {
            float m = Keep(seed, i, p);
            mask[i] = m;
            y[i] = x[i] * m;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<uint> Mix(Vector<uint> h)
    {
        h ^= Vector.ShiftRightLogical(h, 16);
        h *= new Vector<uint>(0x85EBCA6Bu);
        h ^= Vector.ShiftRightLogical(h, 13);
        h *= new Vector<uint>(0xC2B2AE35u);
        h ^= Vector.ShiftRightLogical(h, 16);
        return h;
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> mask, ArrayView<float> x, int n, float p, uint seed)
    {
        if (i >= n) return;
        float m = Keep(seed, i, p);
        mask[i] = m;
        y[i] = x[i] * m;
    }

    /// <summary>Extent: n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> mask, int n)
    {
        if (i >= n) return;
        dx[i] += dy[i] * mask[i];
    }
}
