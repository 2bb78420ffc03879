using System;

namespace ModelGen.Ops;

/// <summary>Splits element-wise work into chunks big enough to be worth a thread.</summary>
public static class Chunks
{
    public const int Size = 1 << 15;

    public static int Count(int n) => Math.Max(1, (n + Size - 1) / Size);

    public static (int Start, int End) Range(int chunk, int n)
    {
        int start = chunk * Size;
        return (start, Math.Min(n, start + Size));
    }
}
