using System;
using System.Linq;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

public class SegmentationMetricsTests
{
    // One 2×3 image, 3 classes:   targets  0 0 1      predicted  0 1 1
    //                                      1 2 2                 1 2 0
    static readonly byte[] Targets = { 0, 0, 1, 1, 2, 2 };
    static readonly byte[] Predicted = { 0, 1, 1, 1, 2, 0 };

    [Fact]
    public void HandComputedCase()
    {
        var m = new SegmentationMetrics(3);
        m.AddPredictions(Predicted, Targets, 1, 2, 3);
        // Confusion (row target, column predicted): [1 1 0; 0 2 0; 1 0 1].
        Assert.Equal(new long[] { 1, 1, 0, 0, 2, 0, 1, 0, 1 }, m.Confusion());
        Assert.Equal(1, m[2, 0]);
        Assert.Equal(6, m.Total);
        Assert.Equal(4.0 / 6, m.PixelAccuracy, 1e-12);
        // IoU_c = TP / (targets_c + predicted_c − TP): 1/(2+2−1), 2/(2+3−2), 1/(2+1−1).
        Assert.Equal(new[] { 1.0 / 3, 2.0 / 3, 1.0 / 2 }, m.PerClassIoU(), new ToleranceComparer(1e-12));
        Assert.Equal((1.0 / 3 + 2.0 / 3 + 0.5) / 3, m.MeanIoU, 1e-12);
        Assert.Equal(new[] { 0.5, 1.0, 0.5 }, m.PerClassAccuracy(), new ToleranceComparer(1e-12));
        Assert.Equal(2.0 / 3, m.MeanClassAccuracy, 1e-12);
    }

    [Fact]
    public void ClassesWithEmptyUnion_AreLeftOutOfTheMeans_ButPredictedOnlyClassesCountAsZero()
    {
        var absent = new SegmentationMetrics(5);
        absent.AddPredictions(Predicted, Targets, 1, 2, 3);
        Assert.True(double.IsNaN(absent.IoU(3)));
        Assert.True(double.IsNaN(absent.IoU(4)));
        Assert.True(double.IsNaN(absent.ClassAccuracy(4)));
        Assert.Equal(0.5, absent.MeanIoU, 1e-12); // as with 3 classes
        Assert.Equal(2.0 / 3, absent.MeanClassAccuracy, 1e-12);

        // Class 4 predicted once where the target is 2: IoU_4 = 0 joins the mean; class 2 loses a true positive.
        var predicted = (byte[])Predicted.Clone();
        predicted[4] = 4;
        var wrong = new SegmentationMetrics(5);
        wrong.AddPredictions(predicted, Targets, 1, 2, 3);
        Assert.Equal(0.0, wrong.IoU(4));
        Assert.Equal(0.0, wrong.IoU(2));
        Assert.True(double.IsNaN(wrong.ClassAccuracy(4)));
        Assert.Equal((1.0 / 3 + 2.0 / 3 + 0 + 0) / 4, wrong.MeanIoU, 1e-12);
        Assert.Equal((0.5 + 1 + 0) / 3, wrong.MeanClassAccuracy, 1e-12);

        var empty = new SegmentationMetrics(3);
        Assert.True(double.IsNaN(empty.PixelAccuracy));
        Assert.True(double.IsNaN(empty.MeanIoU));
    }

    [Fact]
    public void Logits_AreArgmaxedOverTheClassPlane_FirstMaxOnTies_NaNLargest()
    {
        // B = 2, K = 3, H = 1, W = 3; logits[b, k, 0, w].
        var logits = new float[]
        {
            // image 0: pixel 0 → 2, pixel 1 → tie of 0 and 1 → 0, pixel 2 → NaN at class 1 → 1
            0f, 5f, -1f,   // k = 0
            1f, 5f, float.NaN, // k = 1
            3f, 4f, 9f,    // k = 2
            // image 1: pixel 0 → 1, pixel 1 → all equal → 0, pixel 2 → NaN at class 0 → 0
            0f, 2f, float.NaN,
            1f, 2f, 7f,
            -1f, 2f, 8f,
        };
        var predicted = new int[6];
        SegmentationMetrics.ArgMax(logits, 2, 3, 1, 3, predicted);
        Assert.Equal(new[] { 2, 0, 1, 1, 0, 0 }, predicted);

        var m = new SegmentationMetrics(3);
        m.AddLogits(logits, new byte[] { 2, 0, 2, 1, 1, 0 }, 2, 1, 3);
        Assert.Equal(6, m.Total);
        Assert.Equal(4.0 / 6, m.PixelAccuracy, 1e-12);
        Assert.Equal(1, m[2, 1]);
        Assert.Equal(1, m[1, 0]);
        var fromInts = new SegmentationMetrics(3);
        fromInts.AddLogits(logits, new[] { 2, 0, 2, 1, 1, 0 }, 2, 1, 3);
        Assert.Equal(m.Confusion(), fromInts.Confusion());
    }

    [Fact]
    public void Batches_Accumulate_LikeOneBigBatch_AndMergeAndResetWork()
    {
        const int B = 6, K = 5, H = 4, W = 7;
        var logits = Rng.Floats(B * K * H * W, 3, scale: 2f);
        var r = new Random(4);
        var targets = Enumerable.Range(0, B * H * W).Select(_ => r.Next(K)).ToArray();
        var whole = new SegmentationMetrics(K);
        whole.AddLogits(logits, targets, B, H, W);

        var parts = new SegmentationMetrics(K);
        var second = new SegmentationMetrics(K);
        for (int b = 0; b < B; b++)
        {
            var l = logits.AsSpan(b * K * H * W, K * H * W).ToArray();
            var t = targets.AsSpan(b * H * W, H * W).ToArray();
            (b < 4 ? parts : second).AddLogits(l, t, 1, H, W);
        }
        parts.Merge(second);
        Assert.Equal(whole.Confusion(), parts.Confusion());
        Assert.Equal(whole.MeanIoU, parts.MeanIoU);
        Assert.Equal(B * H * W, whole.Total);

        // Independent count of correct pixels.
        var predicted = new int[B * H * W];
        SegmentationMetrics.ArgMax(logits, B, K, H, W, predicted);
        int correct = 0;
        for (int i = 0; i < predicted.Length; i++)
        {
            int b = i / (H * W), p = i % (H * W);
            var column = Enumerable.Range(0, K).Select(k => logits[(b * K + k) * H * W + p]).ToArray();
            Assert.Equal(Array.IndexOf(column, column.Max()), predicted[i]);
            if (predicted[i] == targets[i]) correct++;
        }
        Assert.Equal((double)correct / predicted.Length, whole.PixelAccuracy, 1e-12);

        parts.Reset();
        Assert.Equal(0, parts.Total);
        Assert.All(parts.Confusion(), c => Assert.Equal(0, c));
        Assert.Throws<ArgumentException>(() => parts.Merge(new SegmentationMetrics(K + 1)));
    }

    [Fact]
    public void IgnoredPixels_AreNotCounted()
    {
        var m = new SegmentationMetrics(3, ignoreIndex: 255);
        m.AddPredictions(new byte[] { 0, 1, 2, 2 }, new byte[] { 0, 255, 255, 2 }, 1, 2, 2);
        Assert.Equal(2, m.Total);
        Assert.Equal(1.0, m.PixelAccuracy);
        Assert.True(double.IsNaN(m.IoU(1)));
        Assert.Equal(1.0, m.MeanIoU);
    }

    [Fact]
    public void BadInput_Throws_NamingTheNumbers_AndCountsNothing()
    {
        var m = new SegmentationMetrics(3);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            m.AddPredictions(new byte[] { 0, 1, 2, 0, 1, 2 }, new byte[] { 0, 1, 2, 0, 3, 0 }, 2, 1, 3));
        Assert.Contains("Target 3 at (batch 1, row 0, col 1)", e.Message);
        Assert.Contains("3 classes (0 to 2)", e.Message);
        Assert.Equal(0, m.Total); // the good pixels before the bad one were not counted either
        var p = Assert.Throws<ArgumentOutOfRangeException>(() => m.AddPredictions(new[] { 0, 7 }, new[] { 0, 0 }, 1, 1, 2));
        Assert.Contains("Prediction 7 at (batch 0, row 0, col 1)", p.Message);
        var shortLogits = Assert.Throws<ArgumentException>(() => m.AddLogits(new float[17], new byte[6], 1, 2, 3));
        Assert.Contains("17", shortLogits.Message);
        Assert.Contains("1×3×2×3 = 18", shortLogits.Message);
        var shortTargets = Assert.Throws<ArgumentException>(() => m.AddPredictions(new byte[6], new byte[5], 1, 2, 3));
        Assert.Contains("5 values", shortTargets.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.IoU(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SegmentationMetrics(0));
        Assert.Equal(0, m.Total);
    }

    sealed class ToleranceComparer : System.Collections.Generic.IEqualityComparer<double>
    {
        readonly double _tolerance;
        public ToleranceComparer(double tolerance) => _tolerance = tolerance;
        public bool Equals(double x, double y) => Math.Abs(x - y) <= _tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
