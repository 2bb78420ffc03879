using System;
using System.Globalization;
using System.Linq;

namespace ModelGen;

/// <summary>A dense float32 tensor in host memory, row-major. The first dimension of a model's input or output is the batch.</summary>
public sealed class Tensor
{
    public Tensor(int[] shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long n = ElementCount(shape);
        if (n != data.Length)
            throw new ArgumentException($"Shape {Format(shape)} holds {n} elements but the data has {data.Length}.", nameof(data));
        Shape = (int[])shape.Clone();
        Data = data;
    }

    public int[] Shape { get; }

    public float[] Data { get; }

    public int Rank => Shape.Length;

    public static Tensor Zeros(params int[] shape) => new(shape, new float[checked((int)ElementCount(shape))]);

    /// <summary>Token ids for an input declared with <c>InputKind.Tokens</c>, e.g. <c>Tensor.FromTokens(ids, batch, tokens)</c>. Ids are
    /// carried as floats, which hold every whole number below 2²⁴ exactly; a negative id, or one past that, is refused here (an id
    /// past the vocabulary is refused by the model's Forward, which knows it).</summary>
    public static Tensor FromTokens(int[] ids, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var data = new float[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            if (ids[i] < 0 || ids[i] > MaxTokenId)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"Token {i} is {ids[i]}; ids must lie in [0, {MaxTokenId}].");
            data[i] = ids[i];
        }
        return new Tensor(shape, data);
    }

    /// <summary>The largest token id a float carries exactly (2²⁴).</summary>
    public const int MaxTokenId = 1 << 24;

    public float this[params int[] index]
    {
        get => Data[Offset(index)];
        set => Data[Offset(index)] = value;
    }

    public override string ToString() => $"Tensor{Format(Shape)}";

    /// <summary>Formats a shape the way messages show it: (8, 16, 64).</summary>
    public static string Format(ReadOnlySpan<int> shape)
    {
        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++) parts[i] = shape[i].ToString(CultureInfo.InvariantCulture);
        return "(" + string.Join(", ", parts) + ")";
    }

    public static long ElementCount(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Shape {Format(shape)} has a negative dimension.");
            n = checked(n * d);
        }
        return n;
    }

    int Offset(int[] index)
    {
        if (index.Length != Shape.Length)
            throw new ArgumentException($"Index of rank {index.Length} into a tensor of shape {Format(Shape)}.");
        int offset = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i])
                throw new IndexOutOfRangeException($"Index {Format(index)} is outside shape {Format(Shape)}.");
            offset = offset * Shape[i] + index[i];
        }
        return offset;
    }

    internal bool SameShape(int[] other) => Shape.SequenceEqual(other);
}

/// <summary>A tensor given to a model has a shape other than the one it was compiled for.</summary>
public sealed class ShapeMismatchException : ArgumentException
{
    public ShapeMismatchException(string input, string expected, int[] actual)
        : base($"Input '{input}' expects {expected} but was given {Tensor.Format(actual)}.", input)
    {
        Expected = expected;
        Actual = (int[])actual.Clone();
    }

    public string Expected { get; }

    public int[] Actual { get; }
}
