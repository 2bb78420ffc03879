using System;

namespace ModelGen.Data;

/// <summary>
/// Training-time image augmentation: a random translation of up to <see cref="MaxShift"/> pixels along each axis
/// (uncovered pixels become 0, the background) and, with <see cref="HorizontalFlip"/>, a left-right mirror half of the
/// time. The draw for an image is a fixed hash of (seed, image index), so a run is reproducible and a different
/// seed per epoch (<see cref="FashionMnist.EpochSeed"/>) gives different views each epoch.
/// </summary>
public sealed record Augmentation
{
    public Augmentation(int maxShift, bool horizontalFlip)
    {
        if (maxShift < 0 || maxShift > 8)
            throw new ArgumentOutOfRangeException(nameof(maxShift), maxShift, $"The largest shift must be 0 to 8 pixels but was {maxShift}.");
        MaxShift = maxShift;
        HorizontalFlip = horizontalFlip;
    }

    /// <summary>No change: every image is copied as it is.</summary>
    public static Augmentation None { get; } = new(0, false);

    /// <summary>Shifts of up to 2 pixels and horizontal flips: the usual recipe for 28×28 garments.</summary>
    public static Augmentation FlipAndShift { get; } = new(2, true);

    /// <summary>Horizontal flips only: the mildest change, for models that underfit under shifts.</summary>
    public static Augmentation Flip { get; } = new(0, true);

    public int MaxShift { get; }

    public bool HorizontalFlip { get; }

    public bool IsIdentity => MaxShift == 0 && !HorizontalFlip;

    /// <summary>The shift (each in [−MaxShift, MaxShift]) and flip for image <paramref name="index"/> under <paramref name="seed"/>.</summary>
    public (int Dy, int Dx, bool Flip) Draw(int seed, int index)
    {
        uint h = Mix(Mix((uint)index * 0x9E3779B9u + (uint)seed) ^ 0x5BD1E995u);
        int span = 2 * MaxShift + 1;
        int dy = (int)(h % (uint)span) - MaxShift;
        int dx = (int)((h >> 8) % (uint)span) - MaxShift;
        bool flip = HorizontalFlip && (h >> 31) != 0;
        return (dy, dx, flip);
    }

    /// <summary>
    /// The image mirrored left-right when <paramref name="flip"/> is set, then moved by (dy, dx): dst[r, c] = m[r − dy, c − dx]
    /// with m the (mirrored) source; 0 where that falls outside the image.
    /// Both spans hold one rows×cols image, row-major.
    /// </summary>
    public static void Transform(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols, int dy, int dx, bool flip)
    {
        if (src.Length < rows * cols || dst.Length < rows * cols)
            throw new ArgumentException($"A {rows}×{cols} image needs {rows * cols} bytes; got {src.Length} in and {dst.Length} out.");
        for (int r = 0; r < rows; r++)
        {
            int sr = r - dy;
            var row = dst.Slice(r * cols, cols);
            if ((uint)sr >= (uint)rows) { row.Clear(); continue; }
            for (int c = 0; c < cols; c++)
            {
                int sc = c - dx;
                row[c] = (uint)sc < (uint)cols ? src[sr * cols + (flip ? cols - 1 - sc : sc)] : (byte)0;
            }
        }
    }

    /// <summary>
    /// Every rows×cols image of <paramref name="images"/> mirrored left-right into <paramref name="destination"/> (which
    /// may be the same span): the second view of test-time flip averaging.
    /// </summary>
    public static void Mirror(ReadOnlySpan<float> images, Span<float> destination, int rows, int cols)
    {
        int size = rows * cols;
        if (rows <= 0 || cols <= 0 || images.Length % size != 0 || destination.Length != images.Length)
            throw new ArgumentException(
                $"Mirroring {rows}×{cols} images needs a whole number of {size}-float images in and the same number of floats out; got {images.Length} in and {destination.Length} out.");
        for (int r = 0; r < images.Length; r += cols)
        {
            var src = images.Slice(r, cols);
            var dst = destination.Slice(r, cols);
            for (int c = 0, m = cols - 1; c <= m; c++, m--) (dst[c], dst[m]) = (src[m], src[c]);
        }
    }

    static uint Mix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }
}
