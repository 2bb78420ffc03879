using System;
using System.Runtime.CompilerServices;
using ILGPU;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// Tokens in another order: y[b, t] = x[b, order[t]] for a permutation <c>order</c> of the tokens (a constant of the layer),
/// (batch, tokens, width) both ways. Patch merging reads the result as (tokens / 4, 4·width): each 2×2 neighbourhood's four
/// tokens one after another (<see cref="MergeOrder"/>). Backward scatters dy back through the permutation (+=): each dx row
/// receives exactly one dy row, so the kernel needs no atomics.
/// </summary>
public static class TokenGather
{
    /// <summary>Swin's patch merging order of an h×w grid (row-major tokens, h and w even): for each cell (i, j) of the h/2 × w/2
    /// grid, row-major, the tokens (2i, 2j), (2i + 1, 2j), (2i, 2j + 1), (2i + 1, 2j + 1) — torchvision's x0, x1, x2, x3.</summary>
    public static float[] MergeOrder(int gridHeight, int gridWidth)
    {
        if (gridHeight < 2 || gridWidth < 2 || gridHeight % 2 != 0 || gridWidth % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(gridHeight), $"Patch merging needs an even grid of at least 2×2, not {gridHeight}×{gridWidth}.");
        var order = new float[gridHeight * gridWidth];
        int at = 0;
        for (int i = 0; i < gridHeight / 2; i++)
            for (int j = 0; j < gridWidth / 2; j++)
                for (int k = 0; k < 4; k++)
                    order[at++] = (2 * i + k % 2) * gridWidth + 2 * j + k / 2;   // (0, 0), (1, 0), (0, 1), (1, 1)
        return order;
    }

    public static void Forward(float[] y, float[] x, float[] order, int batch, int tokens, int width)
    {
        Check(order, tokens);
        Workers.For(batch, b =>
        {
            for (int t = 0; t < tokens; t++)
                x.AsSpan((b * tokens + (int)order[t]) * width, width).CopyTo(y.AsSpan((b * tokens + t) * width, width));
        });
    }

    /// <summary>dx[b, order[t]] += dy[b, t].</summary>
    public static void Backward(float[] dx, float[] dy, float[] order, int batch, int tokens, int width)
    {
        Check(order, tokens);
        Workers.For(batch, b =>
        {
            for (int t = 0; t < tokens; t++)
            {
                var d = dx.AsSpan((b * tokens + (int)order[t]) * width, width);
                System.Numerics.Tensors.TensorPrimitives.Add(d, dy.AsSpan((b * tokens + t) * width, width), d);
            }
        });
    }

    static void Check(float[] order, int tokens)
    {
        if (order.Length != tokens) throw new ArgumentException($"The order lists {order.Length} tokens but the sequence has {tokens}.", nameof(order));
    }

    /// <summary>Extent: batch·tokens·width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> order, int batch, int tokens, int width)
    {
        if (i >= (long)batch * tokens * width) return;
        int e = (int)(i % width);
        long row = i / width;
        int t = (int)(row % tokens);
        long b = row / tokens;
        y[i] = x[(b * tokens + (int)order[t]) * width + e];
    }

    /// <summary>Extent: batch·tokens·width; a thread per dy element, each writing its own dx element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> order, int batch, int tokens, int width)
    {
        if (i >= (long)batch * tokens * width) return;
        int e = (int)(i % width);
        long row = i / width;
        int t = (int)(row % tokens);
        long b = row / tokens;
        dx[(b * tokens + (int)order[t]) * width + e] += dy[i];
    }
}
