using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// A table lookup, PyTorch's <c>nn.Embedding</c>: token ids t (batch, n), carried as whole floats, and a table w (vocab, d) give
/// y[b, i] = w[t[b, i]]. Backward adds dy[b, i] into dw[t[b, i]]; a padding id (when not −1) gets no gradient. On the CPU
/// backend the rows are added in position order; the device kernel adds them with atomics, so two positions of one id may sum
/// in either order (a difference in the last bit).
/// </summary>
public static class Embedding
{
    /// <summary>Fills a table with N(0, std²) (1: nn.Embedding's) and zeros the padding row (when <paramref name="paddingIndex"/> ≥ 0).</summary>
    public static void Draw(Parameter table, int paddingIndex, double std, Random random)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Shape.Length != 2)
            throw new ArgumentException($"An embedding table is (vocab, dim); '{table.Name}' is {Tensor.Format(table.Shape)}.", nameof(table));
        if (paddingIndex < -1 || paddingIndex >= table.Shape[0])
            throw new ArgumentOutOfRangeException(nameof(paddingIndex), paddingIndex, $"The padding id must be -1 (none) or in [0, {table.Shape[0]}).");
        if (!(std > 0) || double.IsInfinity(std)) throw new ArgumentOutOfRangeException(nameof(std), std, "The standard deviation must be positive and finite.");
        Init.Normal(table, std, random);
        if (paddingIndex >= 0) table.Value.AsSpan(paddingIndex * table.Shape[1], table.Shape[1]).Clear();
        table.MarkChanged();
    }

    /// <summary>Refuses ids that are not whole numbers in [0, <paramref name="vocab"/>), naming the sample, the position and the id.</summary>
    public static void CheckTokens(float[] tokens, string input, int tokensPerSample, int vocab)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        for (int i = 0; i < tokens.Length; i++)
        {
            float t = tokens[i];
            if (t >= 0f && t < vocab && MathF.Floor(t) == t) continue;
            throw new ArgumentOutOfRangeException(input, t,
                $"Input '{input}' sample {i / tokensPerSample}, position {i % tokensPerSample}: token id {t.ToString(System.Globalization.CultureInfo.InvariantCulture)} " +
                $"is not a whole number in [0, {vocab}) (the embedding's vocabulary).");
        }
    }

    public static void Forward(float[] y, float[] tokens, float[] table, int batch, int n, int vocab, int d, int paddingIndex)
    {
        for (int p = 0; p < batch * n; p++)
            table.AsSpan((int)tokens[p] * d, d).CopyTo(y.AsSpan(p * d, d));
    }

    /// <summary>dtable += the output gradient of every position into its id's row, in position order; the padding id's row is left.</summary>
    public static void Backward(float[] dtable, float[] dy, float[] tokens, int batch, int n, int vocab, int d, int paddingIndex)
    {
        for (int p = 0; p < batch * n; p++)
        {
            int id = (int)tokens[p];
            if (id == paddingIndex) continue;
            var row = dtable.AsSpan(id * d, d);
            TensorPrimitives.Add(row, dy.AsSpan(p * d, d), row);
        }
    }

    /// <summary>Extent: batch · n · d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> tokens, ArrayView<float> table, int batch, int n, int vocab, int d,
        int paddingIndex)
    {
        if (i >= (long)batch * n * d) return;
        long p = i / d;
        y[i] = table[(long)(int)tokens[p] * d + i % d];
    }

    /// <summary>Extent: batch · n · d, each element added atomically into its id's row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dtable, ArrayView<float> dy, ArrayView<float> tokens, int batch, int n, int vocab, int d,
        int paddingIndex)
    {
        if (i >= (long)batch * n * d) return;
        int id = (int)tokens[i / d];
        if (id == paddingIndex) return;
        Atomic.Add(ref dtable[(long)id * d + i % d], dy[i]);
    }
}
