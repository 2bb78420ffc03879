using System;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>Reductions over the 32 lanes of a warp by a fixed shuffle butterfly: every lane gets the result, and the order of
/// the operations is the same on every run (deterministic). The device kernels' rows meet here.</summary>
internal static class WarpReduce
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(float v)
    {
        for (int mask = 16; mask > 0; mask /= 2) v += Warp.ShuffleXor(v, mask);
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Max(float v)
    {
        for (int mask = 16; mask > 0; mask /= 2) v = MathF.Max(v, Warp.ShuffleXor(v, mask));
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Min(int v)
    {
        for (int mask = 16; mask > 0; mask /= 2) v = Math.Min(v, Warp.ShuffleXor(v, mask));
        return v;
    }
}
