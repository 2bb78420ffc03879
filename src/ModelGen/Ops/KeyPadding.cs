using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// A key padding mask applied to scores before their softmax: x (B, queries, keys) -> y = −∞ where padding[b, key] is nonzero,
/// else x (PyTorch's key_padding_mask). Backward passes dy through the kept scores: dx += dy there. A query whose keys are all
/// padding gets a row of −∞ and, as in PyTorch, NaN weights.
/// </summary>
public static class KeyPadding
{
    public static void Forward(float[] y, float[] x, float[] padding, int batch, int queries, int keys) =>
        Workers.For(batch * queries, row =>
        {
            int b = row / queries, o = row * keys;
            for (int j = 0; j < keys; j++) y[o + j] = padding[b * keys + j] != 0f ? float.NegativeInfinity : x[o + j];
        });

    public static void Backward(float[] dx, float[] dy, float[] padding, int batch, int queries, int keys) =>
        Workers.For(batch * queries, row =>
        {
            int b = row / queries, o = row * keys;
            for (int j = 0; j < keys; j++)
                if (padding[b * keys + j] == 0f) dx[o + j] += dy[o + j];
        });

    /// <summary>Extent: batch·queries·keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> padding, int batch, int queries, int keys)
    {
        if (i >= (long)batch * queries * keys) return;
        long p = i / ((long)queries * keys) * keys + i % keys;
        y[i] = padding[p] != 0f ? float.NegativeInfinity : x[i];
    }

    /// <summary>Extent: batch·queries·keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> padding, int batch, int queries, int keys)
    {
        if (i >= (long)batch * queries * keys) return;
        long p = i / ((long)queries * keys) * keys + i % keys;
        if (padding[p] == 0f) dx[i] += dy[i];
    }
}
