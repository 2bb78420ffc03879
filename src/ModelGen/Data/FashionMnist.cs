using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;

namespace ModelGen.Data;

/// <summary>
/// Fashion-MNIST (28×28 greyscale clothing images in 10 classes). <see cref="Load"/> reads the full set
/// (60,000 train / 10,000 test) from Debian's dataset-fashion-mnist package when it is installed, and otherwise the
/// subset embedded in this assembly (the first 6,000 training and first 1,000 test images).
/// </summary>
public sealed class FashionMnist
{
    public const int ImageRows = 28;
    public const int ImageCols = 28;
    public const int Pixels = ImageRows * ImageCols;
    public const int Classes = 10;

    /// <summary>Mean and standard deviation of the full training set's pixels scaled to [0, 1].</summary>
    public const float Mean = 0.2860f;
    public const float Std = 0.3530f;

    /// <summary>Where Debian's dataset-fashion-mnist package puts the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist/";

    public const string TrainImagesFile = "train-images-idx3-ubyte.gz";
    public const string TrainLabelsFile = "train-labels-idx1-ubyte.gz";
    public const string TestImagesFile = "t10k-images-idx3-ubyte.gz";
    public const string TestLabelsFile = "t10k-labels-idx1-ubyte.gz";

    const string ResourcePrefix = "ModelGen.Data.Embedded.";

    public static readonly string[] ClassNames =
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    };

    FashionMnist(Dataset train, Dataset test, bool isFullSet, string source)
    {
        Train = train;
        Test = test;
        IsFullSet = isFullSet;
        Source = source;
    }

    public Dataset Train { get; }

    public Dataset Test { get; }

    /// <summary>True when the full 60,000/10,000 set was read, false for the embedded subset.</summary>
    public bool IsFullSet { get; }

    /// <summary>The directory the files were read from, or "embedded subset (…)".</summary>
    public string Source { get; }

    public override string ToString() => $"Fashion-MNIST {Train.Count} train / {Test.Count} test from {Source}";

    /// <summary>
    /// Reads the four gzipped IDX files from <paramref name="directory"/> when given (they must exist there), else from
    /// <see cref="DebianDirectory"/> when all four exist, else the embedded subset (<see cref="LoadEmbedded"/>).
    /// </summary>
    /// <exception cref="FileNotFoundException">A file is missing from an explicitly named directory, or nothing is installed and
    /// the ModelGen.Datasets assembly (the embedded subset) is not deployed with the program.</exception>
    /// <exception cref="ModelGen.InvalidDataException">A file is damaged or the files do not agree.</exception>
    public static FashionMnist Load(string? directory = null)
    {
        if (directory is not null)
        {
            foreach (var f in new[] { TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile })
            {
                string p = Path.Combine(directory, f);
                if (!File.Exists(p)) throw new FileNotFoundException($"Fashion-MNIST file '{p}' does not exist.", p);
            }
            return LoadDirectory(directory);
        }
        if (HasFullSet(DebianDirectory)) return LoadDirectory(DebianDirectory);
        return LoadEmbedded();
    }

    /// <summary>Whether all four files exist in <paramref name="directory"/>.</summary>
    public static bool HasFullSet(string directory) =>
        File.Exists(Path.Combine(directory, TrainImagesFile)) && File.Exists(Path.Combine(directory, TrainLabelsFile)) &&
        File.Exists(Path.Combine(directory, TestImagesFile)) && File.Exists(Path.Combine(directory, TestLabelsFile));

    /// <summary>The assembly that carries the embedded subset, a package of its own so the runtime stays small.</summary>
    public const string DatasetsAssembly = "ModelGen.Datasets";

    /// <summary>Reads only the subset embedded in the ModelGen.Datasets assembly (the first 6,000 training and 1,000 test images),
    /// whatever is installed.</summary>
    /// <exception cref="FileNotFoundException">The program was deployed without ModelGen.Datasets.</exception>
    public static FashionMnist LoadEmbedded()
    {
        Assembly asm;
        try
        {
            asm = Assembly.Load(new AssemblyName(DatasetsAssembly));
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"Fashion-MNIST is not installed ({DebianDirectory} lacks it) and the embedded subset is not " +
                $"deployed: add the {DatasetsAssembly} package (dotnet add package {DatasetsAssembly}), install Debian's dataset-fashion-mnist, " +
                "or pass the directory that holds the four IDX files.", DatasetsAssembly + ".dll", e);
        }
        var train = MakeDataset(ReadResource(asm, TrainImagesFile), ReadResource(asm, TrainLabelsFile));
        var test = MakeDataset(ReadResource(asm, TestImagesFile), ReadResource(asm, TestLabelsFile));
        return new FashionMnist(train, test, isFullSet: false,
            $"embedded subset (first {train.Count} train / first {test.Count} test images)");
    }

    static FashionMnist LoadDirectory(string directory)
    {
        var train = MakeDataset(
            Read(Path.Combine(directory, TrainImagesFile)), Read(Path.Combine(directory, TrainLabelsFile)));
        var test = MakeDataset(
            Read(Path.Combine(directory, TestImagesFile)), Read(Path.Combine(directory, TestLabelsFile)));
        bool full = train.Count == 60000 && test.Count == 10000;
        return new FashionMnist(train, test, full, Path.GetFullPath(directory));
    }

    static (IdxData Data, string Name) Read(string path) => (Idx.Read(path), path);

    static (IdxData Data, string Name) ReadResource(Assembly asm, string file)
    {
        string name = ResourcePrefix + file;
        using var s = asm.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Resource '{name}' is not embedded in {asm.GetName().Name}.");
        return (Idx.Read(s, "embedded " + file, gzip: true), "embedded " + file);
    }

    static Dataset MakeDataset((IdxData Data, string Name) images, (IdxData Data, string Name) labels)
    {
        var (img, imgName) = images;
        var (lab, labName) = labels;
        if (!img.IsImages)
            throw new InvalidDataException($"'{imgName}' holds labels (magic {img.Magic}) where images were expected.");
        if (lab.IsImages)
            throw new InvalidDataException($"'{labName}' holds images (magic {lab.Magic}) where labels were expected.");
        if (img.Rows != ImageRows || img.Cols != ImageCols)
            throw new InvalidDataException($"'{imgName}' holds {img.Rows}×{img.Cols} images; Fashion-MNIST's are {ImageRows}×{ImageCols}.");
        if (img.Count != lab.Count)
            throw new InvalidDataException($"'{imgName}' holds {img.Count} images but '{labName}' holds {lab.Count} labels.");
        for (int i = 0; i < lab.Data.Length; i++)
        {
            if (lab.Data[i] >= Classes)
                throw new InvalidDataException($"'{labName}' gives label {lab.Data[i]} at index {i}; labels are 0 to {Classes - 1}.");
        }
        return new Dataset(img.Count, img.Data, lab.Data);
    }

    /// <summary>
    /// Writes the normalised pixels <c>(x/255 − 0.2860)/0.3530</c> of the images at <paramref name="indices"/> into
    /// <paramref name="destination"/>, one 784-float row per index (batch-major, NCHW with C = 1).
    /// </summary>
    public static void Normalize(Dataset dataset, int[] indices, float[] destination) =>
        Normalize(dataset, indices, destination, Augmentation.None, seed: 0);

    /// <summary>
    /// <see cref="Normalize(Dataset, int[], float[])"/> of each image after <paramref name="augmentation"/>'s shift and
    /// flip for (<paramref name="seed"/>, its index in the dataset).
    /// </summary>
    public static void Normalize(Dataset dataset, int[] indices, float[] destination, Augmentation augmentation, int seed)
    {
        ArgumentNullException.ThrowIfNull(augmentation);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.Length < (long)indices.Length * Pixels)
            throw new ArgumentException(
                $"Destination holds {destination.Length} floats but {indices.Length} images need {(long)indices.Length * Pixels}.", nameof(destination));
        var table = new float[256];
        for (int v = 0; v < 256; v++) table[v] = (v / 255f - Mean) / Std;
        var view = new byte[Pixels];
        for (int b = 0; b < indices.Length; b++)
        {
            int i = indices[b];
            if ((uint)i >= (uint)dataset.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"Index {i} at batch position {b} is outside the dataset's {dataset.Count} images.");
            ReadOnlySpan<byte> src = dataset.Images.AsSpan(i * Pixels, Pixels);
            if (!augmentation.IsIdentity)
            {
                var (dy, dx, flip) = augmentation.Draw(seed, i);
                Augmentation.Transform(src, view, ImageRows, ImageCols, dy, dx, flip);
                src = view;
            }
            var dst = destination.AsSpan(b * Pixels, Pixels);
            for (int k = 0; k < Pixels; k++) dst[k] = table[src[k]];
        }
    }

    /// <summary>Copies the labels at <paramref name="indices"/> into <paramref name="destination"/>.</summary>
    public static void Labels(Dataset dataset, int[] indices, int[] destination)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.Length < indices.Length)
            throw new ArgumentException($"Destination holds {destination.Length} labels but the batch has {indices.Length}.", nameof(destination));
        for (int b = 0; b < indices.Length; b++)
        {
            int i = indices[b];
            if ((uint)i >= (uint)dataset.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"Index {i} at batch position {b} is outside the dataset's {dataset.Count} images.");
            destination[b] = dataset.Labels[i];
        }
    }

    /// <summary>
    /// One epoch of mini-batches as arrays of indices into a dataset of <paramref name="count"/> items; the last batch
    /// may be smaller. With <paramref name="shuffle"/> the order is a Fisher–Yates shuffle by
    /// <c>new Random(seed)</c>, so the same seed gives the same batches; mix the epoch number into the seed with
    /// <see cref="EpochSeed"/> (or use the overload taking an epoch) for a different order each epoch.
    /// </summary>
    public static IEnumerable<int[]> Batches(int count, int batchSize, bool shuffle, int seed)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The item count cannot be negative.");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be positive.");
        return BatchesIterator(count, batchSize, shuffle, seed);
    }

    /// <summary><see cref="Batches(int, int, bool, int)"/> for epoch <paramref name="epoch"/>: the seed is <see cref="EpochSeed"/>(seed, epoch).</summary>
    public static IEnumerable<int[]> Batches(int count, int batchSize, bool shuffle, int seed, int epoch) =>
        Batches(count, batchSize, shuffle, EpochSeed(seed, epoch));

    /// <summary>Mixes an epoch number into a seed (a fixed integer hash, the same on every run and platform).</summary>
    public static int EpochSeed(int seed, int epoch)
    {
        unchecked
        {
            uint h = (uint)seed * 0x9E3779B1u ^ (uint)epoch * 0x85EBCA77u;
            h ^= h >> 15;
            h *= 0x2C1B3C6Du;
            h ^= h >> 12;
            return (int)(h & 0x7FFFFFFF);
        }
    }

    static IEnumerable<int[]> BatchesIterator(int count, int batchSize, bool shuffle, int seed)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        if (shuffle) Shuffle(order, seed);
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            var batch = new int[n];
            Array.Copy(order, start, batch, 0, n);
            yield return batch;
        }
    }

    /// <summary>Fisher–Yates shuffle in place by <c>new Random(seed)</c>.</summary>
    public static void Shuffle(int[] items, int seed)
    {
        ArgumentNullException.ThrowIfNull(items);
        var rng = new Random(seed);
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}

/// <summary>Images (Count·784 bytes, row-major 28×28) and labels (0–9) of one split.</summary>
public sealed class Dataset
{
    public Dataset(int count, byte[] images, byte[] labels)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The count cannot be negative.");
        if (images.Length != (long)count * FashionMnist.Pixels)
            throw new ArgumentException($"{count} images need {(long)count * FashionMnist.Pixels} bytes but {images.Length} were given.", nameof(images));
        if (labels.Length != count)
            throw new ArgumentException($"{count} images need {count} labels but {labels.Length} were given.", nameof(labels));
        Count = count;
        Images = images;
        Labels = labels;
    }

    public int Count { get; }

    public byte[] Images { get; }

    public byte[] Labels { get; }

    public override string ToString() => $"Dataset of {Count} images";
}
