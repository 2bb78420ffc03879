using System;
using ModelGen;

namespace ModelGen.Tests.Models;

/// <summary>Deterministic inputs for model tests.</summary>
public static class ModelData
{
    public static Tensor Random(int seed, float scale, params int[] shape)
    {
        var t = Tensor.Zeros(shape);
        var r = new Random(seed);
        for (int i = 0; i < t.Data.Length; i++) t.Data[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return t;
    }

    /// <summary>A key padding mask padding the last <c>pad[b]</c> keys of sample b (never all of them).</summary>
    public static Tensor Padding(int keys, params int[] pad)
    {
        var t = Tensor.Zeros(pad.Length, keys);
        for (int b = 0; b < pad.Length; b++)
            for (int k = keys - pad[b]; k < keys; k++) t[b, k] = 1f;
        return t;
    }

    /// <summary>A boolean attention mask (batch, queries, keys): a pseudo-random fifth of the scores masked, the diagonal kept
    /// so that no row is masked whole.</summary>
    public static Tensor AttentionMask(int batch, int queries, int keys, int seed)
    {
        var t = Tensor.Zeros(batch, queries, keys);
        var rng = new System.Random(seed);
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < queries; i++)
                for (int j = 0; j < keys; j++)
                    if (i != j && rng.Next(5) == 0) t.Data[(b * queries + i) * keys + j] = 1f;
        return t;
    }
}
