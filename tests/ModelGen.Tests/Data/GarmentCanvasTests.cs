using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using ModelGen.Data;
using ModelGen.Tests.Support;
using Xunit;
using Xunit.Sdk;

namespace ModelGen.Tests.Data;

public sealed class GarmentCanvasTests : IDisposable
{
    static readonly Lazy<FashionMnist> s_embedded = new(FashionMnist.LoadEmbedded);
    static readonly Lazy<SegmentationSet> s_train = new(() => GarmentCanvas.Create(s_embedded.Value.Train, 2000, seed: 0));

    readonly TempDirectory _temp = new("modelgen-canvas-");

    public void Dispose() => _temp.Dispose();

    static Dataset Train => s_embedded.Value.Train;

    [Fact]
    public void SameSeed_SameCanvases_AndEachCanvasIsIndependentOfTheSetSize()
    {
        var a = GarmentCanvas.Create(Train, 40, seed: 5);
        var b = GarmentCanvas.Create(Train, 40, seed: 5);
        Assert.Equal(a.Images, b.Images);
        Assert.Equal(a.Masks, b.Masks);

        var prefix = GarmentCanvas.Create(Train, 7, seed: 5);
        Assert.True(a.Images.AsSpan(0, prefix.Images.Length).SequenceEqual(prefix.Images));
        Assert.True(a.Masks.AsSpan(0, prefix.Masks.Length).SequenceEqual(prefix.Masks));

        var image = new byte[64 * 64];
        var mask = new byte[64 * 64];
        Array.Fill(image, (byte)77); // Render overwrites whatever was there
        var garments = GarmentCanvas.Render(Train, 5, 31, image, mask);
        Assert.True(a.Images.AsSpan(31 * 4096, 4096).SequenceEqual(image));
        Assert.True(a.Masks.AsSpan(31 * 4096, 4096).SequenceEqual(mask));
        Assert.Equal(a.Garments(31), garments);
        Assert.Equal(GarmentCanvas.Layout(5, 31, Train.Count), a.Garments(31));

        var other = GarmentCanvas.Create(Train, 40, seed: 6);
        int same = 0;
        for (int i = 0; i < 40; i++)
            if (a.Images.AsSpan(i * 4096, 4096).SequenceEqual(other.Images.AsSpan(i * 4096, 4096))) same++;
        Assert.Equal(0, same);
    }

    [Fact]
    public void Layout_IsSplitMix64_KeyedBySeedAndIndex()
    {
        // SplitMix64 from state 0 gives 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC
        // (the published test vector); seed 0, index 0 gives state mix(mix(0) ^ 0) = 0.
        var g = GarmentCanvas.Layout(seed: 0, index: 0, sourceCount: 6000);
        Assert.Equal(2 + (int)(0xE220A8397B1DCDAFUL % 3), g.Length);
        Assert.Equal((int)(0x6E789E6AA1B965F4UL % 6000), g[0].SourceIndex);
        Assert.Equal((int)(0x06C45D188009454FUL % 37), g[0].Top);
        Assert.Equal((int)(0xF88BB8A8724C81ECUL % 37), g[0].Left);
        Assert.NotEqual(GarmentCanvas.Layout(0, 1, 6000), g);
        Assert.NotEqual(GarmentCanvas.Layout(1, 0, 6000), g);
        Assert.Equal(-8, GarmentCanvas.TestSeed(7));
    }

    [Fact]
    public void GarmentCountsAndPositions_StayInRange_AndCoverIt()
    {
        var counts = new int[5];
        int maxTop = 0, maxLeft = 0, minTop = int.MaxValue;
        for (int i = 0; i < 3000; i++)
        {
            var g = GarmentCanvas.Layout(3, i, Train.Count);
            counts[g.Length]++;
            foreach (var p in g)
            {
                Assert.InRange(p.SourceIndex, 0, Train.Count - 1);
                Assert.InRange(p.Top, 0, 64 - 28);
                Assert.InRange(p.Left, 0, 64 - 28);
                maxTop = Math.Max(maxTop, p.Top);
                maxLeft = Math.Max(maxLeft, p.Left);
                minTop = Math.Min(minTop, p.Top);
            }
        }
        Assert.Equal(0, counts[0] + counts[1]);
        for (int n = 2; n <= 4; n++) Assert.InRange(counts[n], 900, 1100); // uniform: 1000 each
        Assert.Equal(36, maxTop);
        Assert.Equal(36, maxLeft);
        Assert.Equal(0, minTop);

        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(3, GarmentCanvas.Layout(1, i, 10, size: 30, minGarments: 3, maxGarments: 3).Length);
            Assert.All(GarmentCanvas.Layout(1, i, 10, size: 28), p => Assert.Equal((0, 0), (p.Top, p.Left)));
        }
    }

    [Fact]
    public void MasksAndImages_AreTheGarmentsPaintedInOrder()
    {
        var set = GarmentCanvas.Create(Train, 300, seed: 11, size: 48, minGarments: 1, maxGarments: 5);
        int size = set.Size, covered = 0, faint = 0, overlapped = 0;
        for (int i = 0; i < set.Count; i++)
        {
            var garments = set.Garments(i);
            for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                // Independently: the last garment whose foreground covers (y, x) owns it; else the brightest faint pixel.
                int owner = -1, faintMax = 0, foregrounds = 0;
                for (int g = 0; g < garments.Count; g++)
                {
                    var p = garments[g];
                    int r = y - p.Top, c = x - p.Left;
                    if (r < 0 || r >= 28 || c < 0 || c >= 28) continue;
                    byte v = Train.Images[p.SourceIndex * 784 + r * 28 + c];
                    if (v > 25) { owner = g; foregrounds++; }
                    else faintMax = Math.Max(faintMax, v);
                }
                byte image = set.Images[i * size * size + y * size + x];
                byte mask = set.Masks[i * size * size + y * size + x];
                if (owner < 0)
                {
                    Assert.Equal(0, mask);
                    Assert.Equal(faintMax, image);
                    if (image > 0) faint++;
                }
                else
                {
                    var p = garments[owner];
                    Assert.Equal(1 + Train.Labels[p.SourceIndex], mask);
                    Assert.Equal(Train.Images[p.SourceIndex * 784 + (y - p.Top) * 28 + (x - p.Left)], image);
                    covered++;
                    if (foregrounds > 1) overlapped++;
                }
                Assert.Equal(mask != 0, image > GarmentCanvas.ForegroundThreshold);
            }
        }
        Assert.True(covered > 0 && faint > 0 && overlapped > 0, $"covered {covered}, faint {faint}, overlapped {overlapped}");
    }

    [Fact]
    public void Objects_AreTheVisibleGarments_InTightBoxes()
    {
        var set = GarmentCanvas.Create(Train, 300, seed: 12, size: 48, minGarments: 1, maxGarments: 6);
        int size = set.Size, hidden = 0;
        for (int i = 0; i < set.Count; i++)
        {
            var garments = set.Garments(i);
            // Independently: which garment shows last at each pixel, then each garment's extent.
            var owner = new int[size * size];
            Array.Fill(owner, -1);
            for (int g = 0; g < garments.Count; g++)
                for (int r = 0; r < 28; r++)
                    for (int c = 0; c < 28; c++)
                        if (Train.Images[garments[g].SourceIndex * 784 + r * 28 + c] > 25) owner[(garments[g].Top + r) * size + garments[g].Left + c] = g;
            var expected = new List<CanvasObject>();
            for (int g = 0; g < garments.Count; g++)
            {
                var at = Enumerable.Range(0, size * size).Where(k => owner[k] == g).ToList();
                if (at.Count == 0) { hidden++; continue; }
                expected.Add(new CanvasObject(Train.Labels[garments[g].SourceIndex], at.Min(k => k % size), at.Min(k => k / size), at.Max(k => k % size) + 1,
                    at.Max(k => k / size) + 1));
            }
            Assert.Equal(expected, set.Objects(i));
            Assert.Equal(expected, GarmentCanvas.Objects(Train, 12, i, size, 1, 6));
        }
        Assert.True(hidden > 0, "some garment is covered entirely");
        var targets = set.Targets(new[] { 3, 0 });
        var first = set.Objects(3)[0];
        Assert.Equal(first.Label, targets[0].Labels[0]);
        Assert.Equal(new[] { (first.Left + first.Right) / 2f / size, (first.Top + first.Bottom) / 2f / size, (first.Right - first.Left) / (float)size,
            (first.Bottom - first.Top) / (float)size }, targets[0].Boxes.Take(4));
        Assert.Equal(set.Objects(0).Count, targets[1].Count);
    }

    [Fact]
    public void ClassFrequencies_AreSane()
    {
        var set = s_train.Value;
        long[] pixels = set.ClassPixelCounts();
        double total = pixels.Sum();
        Assert.Equal(set.Count * 4096L, (long)total);
        // Three garments of ~784·0.5 foreground pixels on 4096: about 22% garment, 78% background.
        Assert.InRange(pixels[0] / total, 0.72, 0.84);
        for (int c = 1; c < GarmentCanvas.Classes; c++)
            Assert.InRange(pixels[c] / total, 0.008, 0.045); // every class present; the largest (pullover, coat) ~3%
        // Trousers are thin and sandals sparse: both have fewer pixels than pullovers and coats.
        Assert.True(pixels[2] < pixels[3] && pixels[2] < pixels[5], string.Join(",", pixels));
        Assert.True(pixels[6] < pixels[3] && pixels[6] < pixels[5], string.Join(",", pixels));

        // Garments come from the whole split, each class about a tenth.
        var labels = Enumerable.Range(0, set.Count).SelectMany(i => set.Garments(i)).Select(g => Train.Labels[g.SourceIndex]).ToArray();
        Assert.InRange(labels.Length, 5700, 6300); // 2000 canvases × 3 garments on average
        Assert.All(Enumerable.Range(0, 10), c => Assert.InRange(labels.Count(l => l == c) / (double)labels.Length, 0.07, 0.13));
    }

    [Fact]
    public void ClassNames_AreBackgroundThenFashionMnist()
    {
        Assert.Equal(11, GarmentCanvas.Classes);
        Assert.Equal(new[] { "background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" },
            GarmentCanvas.ClassNames);
    }

    [Fact]
    public void PixelStatistics_OfEmbeddedCanvases_AreNearTheConstants()
    {
        var (mean, std) = s_train.Value.PixelStatistics();
        Assert.Equal(GarmentCanvas.Mean, mean, 0.004);
        Assert.Equal(GarmentCanvas.Std, std, 0.004);
    }

    [SkippableFact]
    public void MeanAndStd_AreThoseOf20000FullSetCanvases()
    {
        Skip.IfNot(FashionMnist.HasFullSet(FashionMnist.DebianDirectory), "Debian's dataset-fashion-mnist is not installed.");
        var full = FashionMnist.Load();
        var (mean, std) = GarmentCanvas.Create(full.Train, 20000, seed: 0).PixelStatistics();
        Assert.Equal(GarmentCanvas.Mean, mean, 5e-5);
        Assert.Equal(GarmentCanvas.Std, std, 5e-5);
    }

    [Fact]
    public void CreateSplits_UsesTrainForTrainingAndTestWithTheComplementSeed()
    {
        var data = s_embedded.Value;
        var (train, test) = GarmentCanvas.CreateSplits(data, 12, 9, seed: 4, size: 40);
        Assert.Equal(GarmentCanvas.Create(data.Train, 12, 4, 40).Images, train.Images);
        Assert.Equal(GarmentCanvas.Create(data.Test, 9, ~4, 40).Images, test.Images);
        Assert.Equal(GarmentCanvas.Create(data.Test, 9, ~4, 40).Masks, test.Masks);
        Assert.Equal((12, 40, 4), (train.Count, train.Size, train.Seed));
        Assert.Equal((9, 40, -5), (test.Count, test.Size, test.Seed));
        Assert.All(Enumerable.Range(0, 9).SelectMany(i => test.Garments(i)), g => Assert.InRange(g.SourceIndex, 0, data.Test.Count - 1));
    }

    [Fact]
    public void Normalize_AndMasks_CopyInBatchOrder()
    {
        var set = GarmentCanvas.Create(Train, 5, seed: 2, size: 32);
        var indices = new[] { 4, 0, 4 };
        var x = new float[3 * 1024];
        set.Normalize(indices, x);
        var bytes = new byte[3 * 1024];
        var ints = new int[3 * 1024];
        set.CopyMasks(indices, bytes);
        set.CopyMasks(indices, ints);
        for (int b = 0; b < 3; b++)
        for (int k = 0; k < 1024; k++)
        {
            int src = indices[b] * 1024 + k;
            Assert.Equal((set.Images[src] / 255.0 - 0.1369) / 0.2829, x[b * 1024 + k], 1e-5);
            Assert.Equal(set.Masks[src], bytes[b * 1024 + k]);
            Assert.Equal(set.Masks[src], ints[b * 1024 + k]);
        }
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => set.Normalize(new[] { 0, 5 }, x));
        Assert.Contains("Index 5 at batch position 1", e.Message);
        Assert.Contains("5 canvases", e.Message);
        var shortBuffer = Assert.Throws<ArgumentException>(() => set.CopyMasks(indices, new int[3000]));
        Assert.Contains("3000", shortBuffer.Message);
        Assert.Contains("3072", shortBuffer.Message);
        Assert.Throws<ArgumentException>(() => set.Normalize(indices, new float[1024]));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Garments(5));

        var batches = set.Batches(2, shuffle: true, seed: 1, epoch: 0).ToList();
        Assert.Equal(new[] { 2, 2, 1 }, batches.Select(b => b.Length));
        Assert.Equal(Enumerable.Range(0, 5), batches.SelectMany(b => b).OrderBy(i => i));
        Assert.Equal(FashionMnist.Batches(5, 2, true, 1, 0).SelectMany(b => b), batches.SelectMany(b => b));
    }

    [Fact]
    public void BadArguments_Throw_NamingTheNumbers()
    {
        var small = Assert.Throws<ArgumentOutOfRangeException>(() => GarmentCanvas.Create(Train, 10, 0, size: 27));
        Assert.Contains("size 27", small.Message);
        Assert.Contains("28×28", small.Message);
        var order = Assert.Throws<ArgumentOutOfRangeException>(() => GarmentCanvas.Create(Train, 10, 0, minGarments: 5, maxGarments: 3));
        Assert.Contains("minGarments 5", order.Message);
        Assert.Contains("maxGarments 3", order.Message);
        var none = Assert.Throws<ArgumentOutOfRangeException>(() => GarmentCanvas.Create(Train, 10, 0, minGarments: 0, maxGarments: 3));
        Assert.Contains("minGarments 0", none.Message);
        foreach (int count in new[] { 0, -3 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => GarmentCanvas.Create(Train, count, 0));
            Assert.Contains($"count {count}", e.Message);
        }
        var empty = Assert.Throws<ArgumentException>(() => GarmentCanvas.Create(new Dataset(0, Array.Empty<byte>(), Array.Empty<byte>()), 10, 0));
        Assert.Contains("0 images", empty.Message);
        var huge = Assert.Throws<ArgumentException>(() => GarmentCanvas.Create(Train, 1_000_000, 0, size: 64));
        Assert.Contains("1000000 canvases of 64×64", huge.Message);
        Assert.Contains("4096000000", huge.Message);
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => GarmentCanvas.Layout(0, -1, 10));
        Assert.Contains("-1", negative.Message);
        var shortImage = Assert.Throws<ArgumentException>(() => GarmentCanvas.Render(Train, 0, 0, new byte[100], new byte[4096]));
        Assert.Contains("100 bytes", shortImage.Message);
        Assert.Contains("4096", shortImage.Message);
    }

    // ---- Python parity: Peers/garment_canvas.py (also the PyTorch peer's generator) gives the same bytes. ----

    static void RequirePython()
    {
        if (File.Exists(Torch.Python)) return;
        if (Environment.GetEnvironmentVariable("MODELGEN_REQUIRE_TORCH") == "1")
            throw new XunitException($"MODELGEN_REQUIRE_TORCH=1 but {Torch.Python} does not exist.");
        Skip.If(true, $"{Torch.Python} is not available.");
    }

    /// <summary>Runs the Python generator and returns, per index, its image and mask bytes and its garments.</summary>
    (byte[] Image, byte[] Mask, int[][] Garments, int[][] Objects)[] RunPython(string dataDir, string split, int seed, int size, int min, int max, int[] indices)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "Peers", "garment_canvas.py");
        string output = _temp.File($"canvases-{split}-{seed}-{size}.bin");
        var (code, text) = Torch.Run(new[]
        {
            script, "--data", dataDir, "--split", split, "--seed", seed.ToString(CultureInfo.InvariantCulture),
            "--size", size.ToString(CultureInfo.InvariantCulture), "--min", min.ToString(CultureInfo.InvariantCulture),
            "--max", max.ToString(CultureInfo.InvariantCulture), "--indices", string.Join(",", indices), "--out", output,
        }, TimeSpan.FromMinutes(3));
        if (code != 0) throw new XunitException($"garment_canvas.py failed (exit {code}):\n{text}");
        var bytes = File.ReadAllBytes(output);
        Assert.Equal(indices.Length * 2 * size * size, bytes.Length);
        using var doc = JsonDocument.Parse(text[text.IndexOf('{')..]);
        var garments = doc.RootElement.GetProperty("garments");
        var objects = doc.RootElement.GetProperty("objects");
        var result = new (byte[], byte[], int[][], int[][])[indices.Length];
        for (int k = 0; k < indices.Length; k++)
        {
            int n = size * size;
            var g = garments.GetProperty(indices[k].ToString(CultureInfo.InvariantCulture)).EnumerateArray()
                .Select(e => e.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
            var o = objects.GetProperty(indices[k].ToString(CultureInfo.InvariantCulture)).EnumerateArray()
                .Select(e => e.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
            result[k] = (bytes.AsSpan(2 * k * n, n).ToArray(), bytes.AsSpan((2 * k + 1) * n, n).ToArray(), g, o);
        }
        return result;
    }

    void AssertSameAsPython(Dataset source, string dataDir, string split, int seed, int size, int min, int max, int[] indices)
    {
        var python = RunPython(dataDir, split, seed, size, min, max, indices);
        var image = new byte[size * size];
        var mask = new byte[size * size];
        for (int k = 0; k < indices.Length; k++)
        {
            var garments = GarmentCanvas.Render(source, seed, indices[k], image, mask, size, min, max);
            string where = $"{split} seed {seed} size {size} canvas {indices[k]}";
            Assert.True(garments.Length > 0, where);
            Assert.Equal(garments.Select(g => new[] { g.SourceIndex, source.Labels[g.SourceIndex], g.Top, g.Left }), python[k].Garments);
            int firstImage = image.AsSpan().CommonPrefixLength(python[k].Image);
            int firstMask = mask.AsSpan().CommonPrefixLength(python[k].Mask);
            Assert.True(firstImage == image.Length, $"{where}: image differs first at pixel {firstImage}");
            Assert.True(firstMask == mask.Length, $"{where}: mask differs first at pixel {firstMask}");
            Assert.Contains(mask, m => m != 0);
            Assert.Equal(GarmentCanvas.Objects(source, seed, indices[k], size, min, max).Select(b => new[] { b.Label, b.Left, b.Top, b.Right, b.Bottom }),
                python[k].Objects);
        }
    }

    [SkippableFact]
    public void Python_MakesTheSameCanvases_FromTheEmbeddedSubset()
    {
        RequirePython();
        // The embedded files, extracted as the IDX files Python reads.
        var asm = System.Reflection.Assembly.Load(FashionMnist.DatasetsAssembly);
        foreach (var f in new[] { FashionMnist.TrainImagesFile, FashionMnist.TrainLabelsFile, FashionMnist.TestImagesFile, FashionMnist.TestLabelsFile })
        {
            using var s = asm.GetManifestResourceStream("ModelGen.Data.Embedded." + f)!;
            using var o = File.Create(_temp.File(f));
            s.CopyTo(o);
        }
        var data = s_embedded.Value;
        AssertSameAsPython(data.Train, _temp.Path, "train", 0, 64, 2, 4, new[] { 0, 1, 2, 17, 999, 5999, 123456 });
        AssertSameAsPython(data.Test, _temp.Path, "test", GarmentCanvas.TestSeed(0), 64, 2, 4, new[] { 0, 3, 998 });
        AssertSameAsPython(data.Train, _temp.Path, "train", -123456789, 45, 1, 6, new[] { 0, 7, 42 });
        AssertSameAsPython(data.Train, _temp.Path, "train", int.MaxValue, 28, 3, 3, new[] { 5, int.MaxValue });
    }

    [SkippableFact]
    public void Python_MakesTheSameCanvases_FromTheFullSet()
    {
        RequirePython();
        Skip.IfNot(FashionMnist.HasFullSet(FashionMnist.DebianDirectory), "Debian's dataset-fashion-mnist is not installed.");
        var full = FashionMnist.Load();
        AssertSameAsPython(full.Train, FashionMnist.DebianDirectory, "train", 0, 64, 2, 4, new[] { 0, 4242, 59999 });
        AssertSameAsPython(full.Test, FashionMnist.DebianDirectory, "test", GarmentCanvas.TestSeed(0), 64, 2, 4, new[] { 0, 9999 });
    }
}
