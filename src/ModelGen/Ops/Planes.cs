using System;
using System.Numerics;
using System.Runtime.InteropServices;

namespace ModelGen.Ops;

/// <summary>Vectorised passes over one contiguous plane of a feature map, shared by the normalizations that take statistics
/// over planes (BatchNorm2d per channel, GroupNorm per sample and group).</summary>
internal static class Planes
{
    /// <summary>Σ (x − m)².</summary>
    public static float SquaredDeviation(ReadOnlySpan<float> x, float m)
    {
        int i = 0;
        float s = 0f;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var mv = new Vector<float>(m);
            var acc = Vector<float>.Zero;
            for (int k = 0; k < xs.Length; k++)
            {
                var d = xs[k] - mv;
                acc += d * d;
            }
            s = Vector.Sum(acc);
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++)
        {
            float d = x[i] - m;
            s += d * d;
        }
        return s;
    }

    /// <summary>y = (x − m)·scale + shift.</summary>
    public static void Normalize(Span<float> y, ReadOnlySpan<float> x, float m, float scale, float shift)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var ys = MemoryMarshal.Cast<float, Vector<float>>(y);
            var mv = new Vector<float>(m);
            var sv = new Vector<float>(scale);
            var bv = new Vector<float>(shift);
            for (int k = 0; k < xs.Length; k++) ys[k] = (xs[k] - mv) * sv + bv;
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) y[i] = (x[i] - m) * scale + shift;
    }

    /// <summary>Σ dy and Σ dy·x̂ over one plane.</summary>
    public static (float SumD, float SumDN) Projections(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float m, float s)
    {
        int i = 0;
        float sd = 0f, sdn = 0f;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var dys = MemoryMarshal.Cast<float, Vector<float>>(dy);
            var mv = new Vector<float>(m);
            var ad = Vector<float>.Zero;
            var adn = Vector<float>.Zero;
            for (int k = 0; k < xs.Length; k++)
            {
                ad += dys[k];
                adn += dys[k] * (xs[k] - mv);
            }
            sd = Vector.Sum(ad);
            sdn = Vector.Sum(adn);
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++)
        {
            sd += dy[i];
            sdn += dy[i] * (x[i] - m);
        }
        return (sd, sdn * s);
    }
}
