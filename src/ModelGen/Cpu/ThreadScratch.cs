using System;

namespace ModelGen.Cpu;

/// <summary>
/// Scratch buffers that live as long as their thread: a kernel keeps one <c>[ThreadStatic]</c> slot per buffer it needs
/// and asks here for at least the length of this call. A slot grows by half again when it must grow, so a model whose
/// calls need slightly more each time allocates a few times, not every call, and never shrinks (the next step needs the
/// same sizes).
/// </summary>
static class ThreadScratch
{
    /// <summary>The buffer in <paramref name="slot"/>, replaced by a larger one when it holds fewer than
    /// <paramref name="length"/> elements. Its contents are whatever the thread left there.</summary>
    public static T[] AtLeast<T>(ref T[]? slot, long length)
    {
        if (length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"A scratch buffer of {length} elements is more than an array holds ({Array.MaxLength}).");
        var s = slot;
        if (s == null || s.Length < length) slot = s = new T[Math.Max(length, Math.Min(Array.MaxLength, (s?.Length ?? 0) * 3L / 2))];
        return s;
    }
}
