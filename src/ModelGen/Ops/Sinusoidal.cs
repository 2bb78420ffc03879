using System;

namespace ModelGen.Ops;

/// <summary>
/// Fixed sine-cosine positional encodings (added with <see cref="Positions"/>, never trained).
/// 1-D, as in "Attention Is All You Need": PE[p, 2i] = sin(p·ω_i), PE[p, 2i+1] = cos(p·ω_i), ω_i = 10000^(−2i/d).
/// 2-D, as in MAE: the first d/2 features encode the patch row, the last d/2 the patch column, each 1-D with d/2.
/// Tokens before the grid (a class token) get zeros.
/// </summary>
public static class Sinusoidal
{
    public static float[] Table1D(int tokens, int dim)
    {
        if (dim % 2 != 0) throw new ArgumentException($"1-D sinusoidal positions need an even width, not {dim}.", nameof(dim));
        var table = new float[tokens * dim];
        for (int p = 0; p < tokens; p++) Fill(table.AsSpan(p * dim, dim), p);
        return table;
    }

    public static float[] Table2D(int tokens, int gridHeight, int gridWidth, int dim)
    {
        if (dim % 4 != 0) throw new ArgumentException($"2-D sinusoidal positions need a width divisible by 4, not {dim}.", nameof(dim));
        int lead = tokens - gridHeight * gridWidth;
        if (lead < 0) throw new ArgumentException($"{tokens} tokens cannot hold a {gridHeight}×{gridWidth} grid.", nameof(tokens));
        var table = new float[tokens * dim];
        int half = dim / 2;
        for (int r = 0; r < gridHeight; r++)
            for (int c = 0; c < gridWidth; c++)
            {
                var row = table.AsSpan((lead + r * gridWidth + c) * dim, dim);
                Fill(row.Slice(0, half), r);
                Fill(row.Slice(half, half), c);
            }
        return table;
    }

    static void Fill(Span<float> features, int position)
    {
        int d = features.Length;
        for (int i = 0; i < d / 2; i++)
        {
            double angle = position / Math.Pow(10000.0, 2.0 * i / d);
            features[2 * i] = (float)Math.Sin(angle);
            features[2 * i + 1] = (float)Math.Cos(angle);
        }
    }
}
