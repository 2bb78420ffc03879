using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ModelGen.Data;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Data;

public sealed class FashionMnistTests : IDisposable
{
    static readonly Lazy<FashionMnist> s_embedded = new(FashionMnist.LoadEmbedded);

    readonly TempDirectory _temp = new("modelgen-fmnist-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void EmbeddedSubset_HasTheFirstImagesOfTheRealSet()
    {
        var f = s_embedded.Value;
        Assert.False(f.IsFullSet);
        Assert.Contains("embedded", f.Source);
        Assert.Equal(6000, f.Train.Count);
        Assert.Equal(1000, f.Test.Count);
        Assert.Equal(6000 * 784, f.Train.Images.Length);
        Assert.Equal(1000 * 784, f.Test.Images.Length);
        Assert.All(f.Train.Labels, l => Assert.InRange(l, 0, 9));
        Assert.All(f.Test.Labels, l => Assert.InRange(l, 0, 9));
        // Known facts of Fashion-MNIST: the first training image is an ankle boot, then two T-shirts, a dress, ...
        Assert.Equal(new byte[] { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5 }, f.Train.Labels.Take(10).ToArray());
        Assert.Equal(new byte[] { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 }, f.Test.Labels.Take(10).ToArray());
        Assert.Equal("Ankle boot", FashionMnist.ClassNames[f.Train.Labels[0]]);
        Assert.Equal(76247, f.Train.Images.Take(784).Sum(b => b));
        Assert.Equal(33456, f.Test.Images.Take(784).Sum(b => b));
        // Every class is well represented.
        var counts = f.Train.Labels.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(10, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 500, 700));
    }

    [Fact]
    public void ClassNames()
    {
        Assert.Equal(new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" },
            FashionMnist.ClassNames);
    }

    [SkippableFact]
    public void Load_PrefersTheInstalledFullSet_WhichStartsWithTheEmbeddedSubset()
    {
        Skip.IfNot(FashionMnist.HasFullSet(FashionMnist.DebianDirectory), "Debian's dataset-fashion-mnist is not installed.");
        var full = FashionMnist.Load();
        Assert.True(full.IsFullSet);
        Assert.Equal(60000, full.Train.Count);
        Assert.Equal(10000, full.Test.Count);
        var sub = s_embedded.Value;
        Assert.True(full.Train.Images.AsSpan(0, sub.Train.Images.Length).SequenceEqual(sub.Train.Images));
        Assert.True(full.Train.Labels.AsSpan(0, sub.Train.Count).SequenceEqual(sub.Train.Labels));
        Assert.True(full.Test.Images.AsSpan(0, sub.Test.Images.Length).SequenceEqual(sub.Test.Images));
        Assert.True(full.Test.Labels.AsSpan(0, sub.Test.Count).SequenceEqual(sub.Test.Labels));
        // The normalisation constants are the full training set's pixel statistics.
        double mean = full.Train.Images.Average(b => b / 255.0);
        double std = Math.Sqrt(full.Train.Images.Average(b => Math.Pow(b / 255.0 - mean, 2)));
        Assert.Equal(FashionMnist.Mean, mean, 1e-4);
        Assert.Equal(FashionMnist.Std, std, 1e-4);
    }

    void WriteSet(int trainImages, int trainLabels, byte label = 1)
    {
        void W(string name, byte[] raw) => File.WriteAllBytes(_temp.File(name), IdxTests.Gzip(raw));
        W(FashionMnist.TrainImagesFile, IdxTests.Concat(IdxTests.Header(2051, trainImages, 28, 28), new byte[trainImages * 784]));
        W(FashionMnist.TrainLabelsFile, IdxTests.Concat(IdxTests.Header(2049, trainLabels), Enumerable.Repeat(label, trainLabels).ToArray()));
        W(FashionMnist.TestImagesFile, IdxTests.Concat(IdxTests.Header(2051, 2, 28, 28), new byte[2 * 784]));
        W(FashionMnist.TestLabelsFile, IdxTests.Concat(IdxTests.Header(2049, 2), new byte[] { 0, 9 }));
    }

    [Fact]
    public void Load_FromDirectory()
    {
        WriteSet(3, 3);
        var f = FashionMnist.Load(_temp.Path);
        Assert.False(f.IsFullSet);
        Assert.Equal(3, f.Train.Count);
        Assert.Equal(2, f.Test.Count);
        Assert.Equal(new byte[] { 0, 9 }, f.Test.Labels);
    }

    [Fact]
    public void Load_CountMismatch_NamesBothFilesAndCounts()
    {
        WriteSet(3, 2);
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => FashionMnist.Load(_temp.Path));
        Assert.Contains("3 images", e.Message);
        Assert.Contains("2 labels", e.Message);
        Assert.Contains(FashionMnist.TrainImagesFile, e.Message);
        Assert.Contains(FashionMnist.TrainLabelsFile, e.Message);
    }

    [Fact]
    public void Load_LabelOutOfRange_Throws()
    {
        WriteSet(2, 2, label: 10);
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => FashionMnist.Load(_temp.Path));
        Assert.Contains("label 10", e.Message);
    }

    [Fact]
    public void Load_MissingFile_InNamedDirectory_Throws()
    {
        WriteSet(1, 1);
        File.Delete(_temp.File(FashionMnist.TestLabelsFile));
        Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(_temp.Path));
    }

    [Fact]
    public void Normalize_WritesStandardisedPixelsInBatchOrder()
    {
        var images = new byte[3 * 784];
        for (int i = 0; i < images.Length; i++) images[i] = (byte)(i * 13 + i / 784);
        var ds = new Dataset(3, images, new byte[] { 0, 1, 2 });
        var indices = new[] { 2, 0, 2 };
        var dest = new float[3 * 784];
        FashionMnist.Normalize(ds, indices, dest);
        for (int b = 0; b < indices.Length; b++)
        for (int k = 0; k < 784; k++)
        {
            double expected = (images[indices[b] * 784 + k] / 255.0 - 0.2860) / 0.3530;
            Assert.Equal(expected, dest[b * 784 + k], 1e-6);
        }
        Assert.Equal(-0.2860 / 0.3530, (double)EdgeValue(0), 1e-6);
        Assert.Equal((1 - 0.2860) / 0.3530, (double)EdgeValue(255), 1e-6);
        Assert.Throws<ArgumentOutOfRangeException>(() => FashionMnist.Normalize(ds, new[] { 3 }, dest));
        Assert.Throws<ArgumentException>(() => FashionMnist.Normalize(ds, new[] { 0, 1 }, new float[784]));
    }

    static float EdgeValue(byte pixel)
    {
        var ds = new Dataset(1, Enumerable.Repeat(pixel, 784).ToArray(), new byte[] { 0 });
        var dest = new float[784];
        FashionMnist.Normalize(ds, new[] { 0 }, dest);
        return dest[783];
    }

    [Fact]
    public void Labels_CopiesInBatchOrder()
    {
        var ds = new Dataset(3, new byte[3 * 784], new byte[] { 7, 8, 9 });
        var dest = new int[3];
        FashionMnist.Labels(ds, new[] { 2, 0, 1 }, dest);
        Assert.Equal(new[] { 9, 7, 8 }, dest);
    }

    [Theory]
    [InlineData(100, 32, true)]
    [InlineData(100, 32, false)]
    [InlineData(6000, 128, true)]
    [InlineData(7, 7, true)]
    [InlineData(5, 64, true)]
    [InlineData(0, 8, true)]
    public void Batches_CoverEveryIndexOncePerEpoch(int count, int batchSize, bool shuffle)
    {
        var batches = FashionMnist.Batches(count, batchSize, shuffle, seed: 42).ToList();
        Assert.Equal((count + batchSize - 1) / batchSize, batches.Count);
        Assert.All(batches.Take(batches.Count - 1), b => Assert.Equal(batchSize, b.Length));
        var all = batches.SelectMany(b => b).ToArray();
        Assert.Equal(Enumerable.Range(0, count), all.OrderBy(i => i));
        if (!shuffle) Assert.Equal(Enumerable.Range(0, count), all);
        else if (count > 10) Assert.NotEqual(Enumerable.Range(0, count), all);
    }

    [Fact]
    public void Batches_AreDeterministicPerSeed_AndDifferAcrossSeedsAndEpochs()
    {
        static int[] Order(int seed) => FashionMnist.Batches(500, 50, true, seed).SelectMany(b => b).ToArray();
        static int[] EpochOrder(int seed, int epoch) => FashionMnist.Batches(500, 50, true, seed, epoch).SelectMany(b => b).ToArray();
        Assert.Equal(Order(7), Order(7));
        Assert.NotEqual(Order(7), Order(8));
        Assert.Equal(EpochOrder(7, 3), EpochOrder(7, 3));
        Assert.NotEqual(EpochOrder(7, 0), EpochOrder(7, 1));
        Assert.NotEqual(EpochOrder(7, 1), EpochOrder(8, 1));
        Assert.Equal(Order(FashionMnist.EpochSeed(7, 2)), EpochOrder(7, 2));
        // Fisher–Yates by System.Random(seed), as documented.
        var expected = Enumerable.Range(0, 500).ToArray();
        var rng = new Random(7);
        for (int i = expected.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (expected[i], expected[j]) = (expected[j], expected[i]);
        }
        Assert.Equal(expected, Order(7));
    }

    [Fact]
    public void EpochSeeds_AreDistinctAndNonNegative()
    {
        var seeds = new HashSet<int>();
        for (int epoch = 0; epoch < 1000; epoch++)
        {
            int s = FashionMnist.EpochSeed(123, epoch);
            Assert.True(s >= 0);
            seeds.Add(s);
        }
        Assert.Equal(1000, seeds.Count);
    }

    [Fact]
    public void Batches_RejectBadArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FashionMnist.Batches(10, 0, true, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => FashionMnist.Batches(-1, 4, true, 1));
    }
}
