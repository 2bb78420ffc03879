using System;
using System.Linq;
using ModelGen.Data;
using Xunit;

namespace ModelGen.Tests.Data;

public class AugmentationTests
{
    /// <summary>A 3×4 image with distinct pixels 1..12.</summary>
    static readonly byte[] Small = Enumerable.Range(1, 12).Select(v => (byte)v).ToArray();

    [Fact]
    public void Transform_ShiftsDownAndRight_FillingWithBackground()
    {
        var dst = new byte[12];
        Augmentation.Transform(Small, dst, 3, 4, dy: 1, dx: 2, flip: false);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 5, 6 }, dst);
    }

    [Fact]
    public void Transform_ShiftsUpAndLeft()
    {
        var dst = new byte[12];
        Augmentation.Transform(Small, dst, 3, 4, dy: -1, dx: -1, flip: false);
        Assert.Equal(new byte[] { 6, 7, 8, 0, 10, 11, 12, 0, 0, 0, 0, 0 }, dst);
    }

    [Fact]
    public void Transform_Flip_MirrorsEachRow_ThenShifts()
    {
        var dst = new byte[12];
        Augmentation.Transform(Small, dst, 3, 4, 0, 0, flip: true);
        Assert.Equal(new byte[] { 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9 }, dst);
        Augmentation.Transform(Small, dst, 3, 4, 0, 1, flip: true);
        Assert.Equal(new byte[] { 0, 4, 3, 2, 0, 8, 7, 6, 0, 12, 11, 10 }, dst);
    }

    [Fact]
    public void Draws_CoverEveryShiftAndFlipHalfTheTime_AndRepeatForTheSameSeed()
    {
        var aug = Augmentation.FlipAndShift;
        var counts = new int[5, 5];
        int flips = 0, n = 25000;
        for (int i = 0; i < n; i++)
        {
            var (dy, dx, flip) = aug.Draw(seed: 7, i);
            Assert.InRange(dy, -2, 2);
            Assert.InRange(dx, -2, 2);
            counts[dy + 2, dx + 2]++;
            if (flip) flips++;
            Assert.Equal((dy, dx, flip), aug.Draw(7, i));
        }
        // Each of the 25 cells expects 1000 ± 31 (5 sigma ≈ 157).
        foreach (int c in counts) Assert.InRange(c, 1000 - 157, 1000 + 157);
        Assert.InRange(flips, n / 2 - 400, n / 2 + 400);
        int changed = Enumerable.Range(0, 1000).Count(i => aug.Draw(7, i) != aug.Draw(8, i));
        Assert.True(changed > 900, $"seeds 7 and 8 agree on {1000 - changed} of 1000 draws");
    }

    [Fact]
    public void Normalize_WithNone_EqualsPlainNormalize_AndWithAugmentationMovesPixels()
    {
        var images = new byte[2 * 784];
        for (int i = 0; i < images.Length; i++) images[i] = (byte)(i * 7 % 251);
        var ds = new Dataset(2, images, new byte[] { 0, 1 });
        var plain = new float[2 * 784];
        var none = new float[2 * 784];
        var augmented = new float[2 * 784];
        FashionMnist.Normalize(ds, new[] { 1, 0 }, plain);
        FashionMnist.Normalize(ds, new[] { 1, 0 }, none, Augmentation.None, seed: 3);
        Assert.Equal(plain, none);

        var aug = new Augmentation(2, horizontalFlip: true);
        FashionMnist.Normalize(ds, new[] { 1, 0 }, augmented, aug, seed: 3);
        var expectedBytes = new byte[784];
        var (dy, dx, flip) = aug.Draw(3, 1);
        Augmentation.Transform(images.AsSpan(784, 784), expectedBytes, 28, 28, dy, dx, flip);
        for (int k = 0; k < 784; k++) Assert.Equal((expectedBytes[k] / 255f - FashionMnist.Mean) / FashionMnist.Std, augmented[k], 1e-6f);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Mirror_ReversesEveryRowOfEveryImage_AlsoInPlace(bool inPlace)
    {
        // Two 3×5 images (odd width: the middle column stays) with distinct values; the same as Transform's flip.
        var images = Enumerable.Range(1, 30).Select(v => (float)v).ToArray();
        var dst = inPlace ? images : new float[30];
        var expected = new float[30];
        for (int i = 0; i < 2; i++)
        {
            var flipped = new byte[15];
            Augmentation.Transform(Enumerable.Range(1 + 15 * i, 15).Select(v => (byte)v).ToArray(), flipped, 3, 5, 0, 0, flip: true);
            for (int k = 0; k < 15; k++) expected[15 * i + k] = flipped[k];
        }
        Augmentation.Mirror(images, dst, 3, 5);
        Assert.Equal(expected, dst);
    }

    [Fact]
    public void Mirror_OfPartImages_IsRejectedWithTheNumbers()
    {
        var e = Assert.Throws<ArgumentException>(() => Augmentation.Mirror(new float[20], new float[20], 3, 5));
        Assert.Contains("got 20 in and 20 out", e.Message);
        Assert.Contains("15-float", e.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(9)]
    public void OutOfRangeShift_IsRejectedWithTheNumber(int shift)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Augmentation(shift, false));
        Assert.Contains(shift.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }
}
