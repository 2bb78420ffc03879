using System;
using System.Collections.Generic;

namespace ModelGen.Data;

/// <summary>
/// Segmentation data made from real Fashion-MNIST images: each sample is a Size×Size canvas with 2 to 4 garments
/// pasted at random positions, and a per-pixel class mask (0 = background, 1 + the Fashion-MNIST label elsewhere).
/// </summary>
/// <remarks>
/// <para>
/// Canvas <c>i</c> of a set is a pure function of (seed, i, source split), drawn from a counter-based stream that
/// tests/ModelGen.Tests/Peers/garment_canvas.py re-implements byte for byte (the PyTorch peer trains on its output):
/// </para>
/// <code>
/// mix(z)     = SplitMix64's finaliser: z = (z ^ z>>30)·0xBF58476D1CE4E5B9; z = (z ^ z>>27)·0x94D049BB133111EB; z ^ z>>31
/// state      = mix(mix((ulong)(long)seed) ^ (ulong)i)
/// next()     : state += 0x9E3779B97F4A7C15; return mix(state)            (all mod 2^64)
/// below(n)   = next() mod n                                              (bias below n/2^64)
/// garments   = minGarments + below(maxGarments − minGarments + 1)
/// each garment, bottom first: source = below(N), top = below(Size − 27), left = below(Size − 27)
/// </code>
/// <para>
/// Pasting starts from an all-zero canvas. A source pixel brighter than <see cref="ForegroundThreshold"/> is
/// foreground: it replaces the canvas pixel and sets the mask to its garment's class, so a later garment covers an
/// earlier one. A fainter pixel only raises the canvas pixel to its value (max) and leaves the mask alone, so
/// anti-aliased edges survive but never cover a garment. Hence mask ≠ 0 exactly where the image is above the
/// threshold, and the mask's class is that of the last garment whose foreground covers the pixel.
/// </para>
/// <para>
/// The objects of a canvas (for detection) are its garments that stay visible: a garment's box is the tight box of the
/// pixels where it is the last foreground, [left, right) × [top, bottom) in pixels, and its label is the Fashion-MNIST
/// label; a garment covered entirely has none. They are listed bottom first.
/// </para>
/// <para>
/// <see cref="CreateSplits"/> makes training canvases from the training split with <c>seed</c> and test canvases
/// from the test split with <c>~seed</c>, so no test canvas contains a training image.
/// </para>
/// </remarks>
public static class GarmentCanvas
{
    /// <summary>The default canvas side, in pixels.</summary>
    public const int DefaultSize = 64;

    /// <summary>The side of a pasted garment (a Fashion-MNIST image).</summary>
    public const int GarmentSize = FashionMnist.ImageRows;

    /// <summary>Background plus the 10 Fashion-MNIST classes.</summary>
    public const int Classes = FashionMnist.Classes + 1;

    /// <summary>The mask value of pixels no garment's foreground covers.</summary>
    public const byte Background = 0;

    /// <summary>Source pixels above this intensity (of 255) are a garment's foreground.</summary>
    public const byte ForegroundThreshold = 25;

    /// <summary>
    /// Mean and standard deviation of the pixels, scaled to [0, 1], of 20,000 default canvases (64×64, 2 to 4
    /// garments, seed 0) made from the full training split. They differ from <see cref="FashionMnist.Mean"/> because
    /// most of a canvas is background. For other sizes or garment counts compute them with
    /// <see cref="SegmentationSet.PixelStatistics"/>.
    /// </summary>
    public const float Mean = 0.1369f;

    /// <inheritdoc cref="Mean"/>
    public const float Std = 0.2829f;

    const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>"background", then the Fashion-MNIST class names in label order (mask value = index).</summary>
    public static readonly string[] ClassNames = BuildClassNames();

    static string[] BuildClassNames()
    {
        var names = new string[Classes];
        names[0] = "background";
        Array.Copy(FashionMnist.ClassNames, 0, names, 1, FashionMnist.Classes);
        return names;
    }

    /// <summary>
    /// Makes canvases 0 to <paramref name="count"/> − 1 from the images of <paramref name="source"/> (see the type's
    /// remarks for the exact definition).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">count ≤ 0, size &lt; 28, minGarments &lt; 1 or minGarments &gt; maxGarments.</exception>
    /// <exception cref="ArgumentException">The source holds no images, or the set would exceed the largest array.</exception>
    public static SegmentationSet Create(Dataset source, int count, int seed, int size = DefaultSize, int minGarments = 2, int maxGarments = 4)
    {
        ArgumentNullException.ThrowIfNull(source);
        Validate(source.Count, size, minGarments, maxGarments, nameof(source));
        if (count <= 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"count {count}: at least one canvas is needed.");
        long bytes = (long)count * size * size;
        if (bytes > Array.MaxLength)
            throw new ArgumentException(
                $"{count} canvases of {size}×{size} need {bytes} bytes, more than the largest array ({Array.MaxLength}).", nameof(count));

        int pixels = size * size;
        var images = new byte[bytes];
        var masks = new byte[bytes];
        var garments = new GarmentPlacement[count][];
        var objects = new CanvasObject[count][];
        var owner = new byte[pixels];
        for (int i = 0; i < count; i++)
        {
            garments[i] = Layout(seed, i, source.Count, size, minGarments, maxGarments);
            objects[i] = Paint(source, garments[i], size, images.AsSpan(i * pixels, pixels), masks.AsSpan(i * pixels, pixels), owner);
        }
        return new SegmentationSet(count, size, seed, images, masks, garments, objects);
    }

    /// <summary>
    /// Training canvases from <c>data.Train</c> with <paramref name="seed"/> and test canvases from <c>data.Test</c>
    /// with <see cref="TestSeed"/>(seed).
    /// </summary>
    public static (SegmentationSet Train, SegmentationSet Test) CreateSplits(
        FashionMnist data, int trainCount, int testCount, int seed, int size = DefaultSize, int minGarments = 2, int maxGarments = 4)
    {
        ArgumentNullException.ThrowIfNull(data);
        return (Create(data.Train, trainCount, seed, size, minGarments, maxGarments),
                Create(data.Test, testCount, TestSeed(seed), size, minGarments, maxGarments));
    }

    /// <summary>The seed of the test canvases when the training canvases use <paramref name="seed"/>: <c>~seed</c>.</summary>
    public static int TestSeed(int seed) => ~seed;

    /// <summary>
    /// The garments of canvas <paramref name="index"/>, bottom first: which source image and where its top-left corner
    /// lies. A pure function of its arguments; <see cref="Create"/> paints exactly these.
    /// </summary>
    public static GarmentPlacement[] Layout(int seed, int index, int sourceCount, int size = DefaultSize, int minGarments = 2, int maxGarments = 4)
    {
        Validate(sourceCount, size, minGarments, maxGarments, nameof(sourceCount));
        if (index < 0) throw new ArgumentOutOfRangeException(nameof(index), index, $"Canvas index {index} cannot be negative.");
        ulong state = Mix(Mix((ulong)(long)seed) ^ (ulong)index);
        int count = minGarments + (int)Below(ref state, (uint)(maxGarments - minGarments + 1));
        uint span = (uint)(size - GarmentSize + 1);
        var placements = new GarmentPlacement[count];
        for (int g = 0; g < count; g++)
        {
            int src = (int)Below(ref state, (uint)sourceCount);
            int top = (int)Below(ref state, span);
            int left = (int)Below(ref state, span);
            placements[g] = new GarmentPlacement(src, top, left);
        }
        return placements;
    }

    /// <summary>
    /// Paints canvas <paramref name="index"/> alone into <paramref name="image"/> and <paramref name="mask"/> (Size²
    /// bytes each, overwritten) and returns its garments: the same bytes <see cref="Create"/> gives for that index, for
    /// making canvases on the fly instead of holding a whole set.
    /// </summary>
    public static GarmentPlacement[] Render(Dataset source, int seed, int index, Span<byte> image, Span<byte> mask,
        int size = DefaultSize, int minGarments = 2, int maxGarments = 4)
    {
        ArgumentNullException.ThrowIfNull(source);
        var garments = Layout(seed, index, source.Count, size, minGarments, maxGarments);
        if (image.Length != size * size)
            throw new ArgumentException($"image holds {image.Length} bytes but a {size}×{size} canvas has {size * size}.", nameof(image));
        if (mask.Length != size * size)
            throw new ArgumentException($"mask holds {mask.Length} bytes but a {size}×{size} canvas has {size * size}.", nameof(mask));
        Paint(source, garments, size, image, mask, new byte[size * size]);
        return garments;
    }

    /// <summary>The visible garments of canvas <paramref name="index"/> and their boxes (see the type's remarks), bottom first.</summary>
    public static CanvasObject[] Objects(Dataset source, int seed, int index, int size = DefaultSize, int minGarments = 2, int maxGarments = 4)
    {
        ArgumentNullException.ThrowIfNull(source);
        var garments = Layout(seed, index, source.Count, size, minGarments, maxGarments);
        return Paint(source, garments, size, new byte[size * size], new byte[size * size], new byte[size * size]);
    }

    /// <summary>Paints the garments; <paramref name="owner"/> (scratch) records which garment's foreground a pixel shows last,
    /// and the boxes of the visible ones are returned.</summary>
    static CanvasObject[] Paint(Dataset source, GarmentPlacement[] garments, int size, Span<byte> image, Span<byte> mask, Span<byte> owner)
    {
        image.Clear();
        mask.Clear();
        owner.Clear();
        for (int k = 0; k < garments.Length; k++)
        {
            var g = garments[k];
            byte cls = (byte)(1 + source.Labels[g.SourceIndex]);
            var pixels = source.Images.AsSpan(g.SourceIndex * FashionMnist.Pixels, FashionMnist.Pixels);
            for (int r = 0; r < GarmentSize; r++)
            {
                int o = (g.Top + r) * size + g.Left;
                for (int c = 0; c < GarmentSize; c++)
                {
                    byte v = pixels[r * GarmentSize + c];
                    if (v > ForegroundThreshold)
                    {
                        image[o + c] = v;
                        mask[o + c] = cls;
                        owner[o + c] = (byte)(k + 1);
                    }
                    else if (v > image[o + c])
                    {
                        image[o + c] = v;
                    }
                }
            }
        }
        var objects = new List<CanvasObject>(garments.Length);
        for (int k = 0; k < garments.Length; k++)
        {
            var g = garments[k];
            int left = int.MaxValue, top = int.MaxValue, right = -1, bottom = -1;
            for (int r = g.Top; r < g.Top + GarmentSize; r++)
                for (int c = g.Left; c < g.Left + GarmentSize; c++)
                {
                    if (owner[r * size + c] != k + 1) continue;
                    left = Math.Min(left, c);
                    right = Math.Max(right, c + 1);
                    top = Math.Min(top, r);
                    bottom = Math.Max(bottom, r + 1);
                }
            if (right > 0) objects.Add(new CanvasObject(source.Labels[g.SourceIndex], left, top, right, bottom));
        }
        return objects.ToArray();
    }

    static void Validate(int sourceCount, int size, int minGarments, int maxGarments, string sourceName)
    {
        if (size < GarmentSize)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"Canvas size {size} is smaller than a {GarmentSize}×{GarmentSize} garment.");
        if (minGarments < 1)
            throw new ArgumentOutOfRangeException(nameof(minGarments), minGarments, $"minGarments {minGarments} must be at least 1.");
        if (minGarments > maxGarments)
            throw new ArgumentOutOfRangeException(nameof(minGarments), minGarments, $"minGarments {minGarments} is greater than maxGarments {maxGarments}.");
        if (sourceCount <= 0)
            throw new ArgumentException($"The source dataset holds {sourceCount} images; at least one is needed.", sourceName);
    }

    /// <summary>SplitMix64's output function.</summary>
    static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    static ulong Below(ref ulong state, uint n)
    {
        unchecked { state += Golden; }
        return Mix(state) % n;
    }
}

/// <summary>One garment of a canvas: the index of its image in the source split and its top-left corner.</summary>
public readonly record struct GarmentPlacement(int SourceIndex, int Top, int Left);

/// <summary>A visible garment of a canvas: its Fashion-MNIST label (0 … 9) and the tight box of its visible pixels,
/// [Left, Right) × [Top, Bottom).</summary>
public readonly record struct CanvasObject(int Label, int Left, int Top, int Right, int Bottom)
{
    /// <summary>The box as DETR predicts it: (cx, cy, w, h) as fractions of a canvas of side <paramref name="size"/>.</summary>
    public (float Cx, float Cy, float W, float H) Normalized(int size) =>
        ((Left + Right) * 0.5f / size, (Top + Bottom) * 0.5f / size, (float)(Right - Left) / size, (float)(Bottom - Top) / size);
}

/// <summary>
/// Canvases made by <see cref="GarmentCanvas"/>: <see cref="Count"/> greyscale images and their class masks, each
/// <see cref="Size"/>×<see cref="Size"/> bytes row-major, one after another.
/// </summary>
public sealed class SegmentationSet
{
    readonly GarmentPlacement[][] _garments;
    readonly CanvasObject[][] _objects;

    internal SegmentationSet(int count, int size, int seed, byte[] images, byte[] masks, GarmentPlacement[][] garments, CanvasObject[][] objects)
    {
        _objects = objects;
        Count = count;
        Size = size;
        Seed = seed;
        Images = images;
        Masks = masks;
        _garments = garments;
    }

    public int Count { get; }

    /// <summary>The canvas side, in pixels.</summary>
    public int Size { get; }

    /// <summary>Pixels per canvas (Size²).</summary>
    public int Pixels => Size * Size;

    /// <summary>The seed the canvases were made with.</summary>
    public int Seed { get; }

    /// <summary>Canvas pixels, Count·Size·Size bytes (0–255).</summary>
    public byte[] Images { get; }

    /// <summary>Class per pixel, Count·Size·Size bytes: 0 background, 1 + Fashion-MNIST label (see <see cref="GarmentCanvas.ClassNames"/>).</summary>
    public byte[] Masks { get; }

    /// <summary>The garments pasted on canvas <paramref name="index"/>, bottom first.</summary>
    public IReadOnlyList<GarmentPlacement> Garments(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Canvas {index} is outside the set's {Count} canvases.");
        return _garments[index];
    }

    /// <summary>The visible garments of canvas <paramref name="index"/> and their boxes, bottom first.</summary>
    public IReadOnlyList<CanvasObject> Objects(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Canvas {index} is outside the set's {Count} canvases.");
        return _objects[index];
    }

    /// <summary>The detection targets of the canvases at <paramref name="indices"/>: labels 0 … 9 and normalised (cx, cy, w, h)
    /// boxes, what <see cref="ModelGen.Detection.SetCriterion"/> takes.</summary>
    public ModelGen.Detection.DetectionTarget[] Targets(int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var targets = new ModelGen.Detection.DetectionTarget[indices.Length];
        for (int b = 0; b < indices.Length; b++)
        {
            var objects = Objects(indices[b]);
            var labels = new int[objects.Count];
            var boxes = new float[objects.Count * 4];
            for (int k = 0; k < objects.Count; k++)
            {
                labels[k] = objects[k].Label;
                (boxes[k * 4], boxes[k * 4 + 1], boxes[k * 4 + 2], boxes[k * 4 + 3]) = objects[k].Normalized(Size);
            }
            targets[b] = new ModelGen.Detection.DetectionTarget(labels, boxes);
        }
        return targets;
    }

    public override string ToString() => $"{Count} garment canvases of {Size}×{Size} (seed {Seed})";

    /// <summary>
    /// Writes the normalised pixels <c>(x/255 − <see cref="GarmentCanvas.Mean"/>)/<see cref="GarmentCanvas.Std"/></c>
    /// of the canvases at <paramref name="indices"/> into <paramref name="destination"/>, one Size² row per index
    /// (batch-major, NCHW with C = 1).
    /// </summary>
    public void Normalize(int[] indices, float[] destination)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        int pixels = Pixels;
        if (destination.Length < (long)indices.Length * pixels)
            throw new ArgumentException(
                $"Destination holds {destination.Length} floats but {indices.Length} canvases of {Size}×{Size} need {(long)indices.Length * pixels}.", nameof(destination));
        var table = new float[256];
        for (int v = 0; v < 256; v++) table[v] = (v / 255f - GarmentCanvas.Mean) / GarmentCanvas.Std;
        for (int b = 0; b < indices.Length; b++)
        {
            var src = Images.AsSpan(Offset(indices, b), pixels);
            var dst = destination.AsSpan(b * pixels, pixels);
            for (int k = 0; k < pixels; k++) dst[k] = table[src[k]];
        }
    }

    /// <summary>Copies the masks of the canvases at <paramref name="indices"/> into <paramref name="destination"/>, one Size² row per index.</summary>
    public void CopyMasks(int[] indices, byte[] destination)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        CheckTargetLength(indices.Length, destination.Length);
        for (int b = 0; b < indices.Length; b++)
            Masks.AsSpan(Offset(indices, b), Pixels).CopyTo(destination.AsSpan(b * Pixels, Pixels));
    }

    /// <summary>Copies the masks of the canvases at <paramref name="indices"/> into <paramref name="destination"/> as ints, one Size² row per index.</summary>
    public void CopyMasks(int[] indices, int[] destination)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        CheckTargetLength(indices.Length, destination.Length);
        int pixels = Pixels;
        for (int b = 0; b < indices.Length; b++)
        {
            var src = Masks.AsSpan(Offset(indices, b), pixels);
            var dst = destination.AsSpan(b * pixels, pixels);
            for (int k = 0; k < pixels; k++) dst[k] = src[k];
        }
    }

    /// <summary>One epoch of mini-batches of canvas indices, as <see cref="FashionMnist.Batches(int, int, bool, int, int)"/>.</summary>
    public IEnumerable<int[]> Batches(int batchSize, bool shuffle, int seed, int epoch) =>
        FashionMnist.Batches(Count, batchSize, shuffle, seed, epoch);

    /// <summary>Pixels per class over all masks: element c counts the pixels of class c.</summary>
    public long[] ClassPixelCounts()
    {
        var counts = new long[GarmentCanvas.Classes];
        foreach (byte m in Masks) counts[m]++;
        return counts;
    }

    /// <summary>Mean and (population) standard deviation of all pixels scaled to [0, 1].</summary>
    public (double Mean, double Std) PixelStatistics()
    {
        var histogram = new long[256];
        foreach (byte v in Images) histogram[v]++;
        double n = Images.Length, sum = 0, sumSquares = 0;
        for (int v = 0; v < 256; v++)
        {
            double x = v / 255.0;
            sum += histogram[v] * x;
            sumSquares += histogram[v] * x * x;
        }
        double mean = sum / n;
        return (mean, Math.Sqrt(Math.Max(0, sumSquares / n - mean * mean)));
    }

    int Offset(int[] indices, int position)
    {
        int i = indices[position];
        if ((uint)i >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(indices), i, $"Index {i} at batch position {position} is outside the set's {Count} canvases.");
        return i * Pixels;
    }

    void CheckTargetLength(int batch, int length)
    {
        if (length < (long)batch * Pixels)
            throw new ArgumentException(
                $"Destination holds {length} values but {batch} masks of {Size}×{Size} need {(long)batch * Pixels}.", "destination");
    }
}
