using System;
using System.Linq;
using ModelGen.Detection;
using Xunit;

namespace ModelGen.Tests.Detection;

/// <summary>COCO's mean average precision on cases worked by hand: the 101-point interpolation, greedy matching by score, the
/// IoU thresholds, classes without ground truth, the per-image detection limit.</summary>
public class MeanAveragePrecisionTests
{
    static TruthBox Truth(int image, int label, double x0, double y0, double x1, double y1) => new(image, label, x0, y0, x1, y1);
    static ScoredBox Det(int image, int label, double score, double x0, double y0, double x1, double y1) => new(image, label, score, x0, y0, x1, y1);

    [Fact]
    public void PerfectDetections_ScoreOne()
    {
        var truths = new[] { Truth(0, 0, 0, 0, 10, 10), Truth(0, 1, 20, 20, 30, 40), Truth(1, 0, 5, 5, 15, 15) };
        var dets = truths.Select((t, i) => Det(t.Image, t.Label, 0.9 - 0.1 * i, t.X0, t.Y0, t.X1, t.Y1)).ToArray();
        var s = MeanAveragePrecision.Evaluate(dets, truths, 3);
        Assert.Equal(1, s.Map, 12);
        Assert.Equal(1, s.Map50, 12);
        Assert.Equal(new[] { 1.0, 1.0 }, s.PerClass.Take(2));
        Assert.True(double.IsNaN(s.PerClass[2]), "a class without ground truth has no AP and does not count");
    }

    [Fact]
    public void AFalsePositiveScoredAboveTheTruePositive_HalvesThePrecision()
    {
        // Ranked: a miss (IoU 0), then the hit: precision 0 then 1/2, made non-increasing: 1/2 at every recall up to 1.
        var truths = new[] { Truth(0, 0, 0, 0, 10, 10) };
        var dets = new[] { Det(0, 0, 0.9, 50, 50, 60, 60), Det(0, 0, 0.8, 0, 0, 10, 10) };
        Assert.Equal(0.5, MeanAveragePrecision.Evaluate(dets, truths, 1).Map, 12);
        // Below it instead, it costs nothing: precision 1 up to recall 1.
        var below = new[] { Det(0, 0, 0.7, 50, 50, 60, 60), Det(0, 0, 0.8, 0, 0, 10, 10) };
        Assert.Equal(1, MeanAveragePrecision.Evaluate(below, truths, 1).Map, 12);
    }

    [Fact]
    public void HalfTheRecall_Scores51Of101Points()
    {
        // Two objects, one found: precision 1 at recalls 0 … 0.50 (51 of the 101 points), 0 beyond.
        var truths = new[] { Truth(0, 0, 0, 0, 10, 10), Truth(1, 0, 0, 0, 10, 10) };
        var dets = new[] { Det(0, 0, 0.9, 0, 0, 10, 10) };
        Assert.Equal(51.0 / 101, MeanAveragePrecision.Evaluate(dets, truths, 1).Map, 12);
    }

    [Fact]
    public void TheThresholds_CountABoxByItsIoU()
    {
        // IoU 72/100 = 0.72: a hit at 0.50 … 0.70 (5 thresholds), a miss at 0.75 … 0.95.
        var truths = new[] { Truth(0, 0, 0, 0, 10, 10) };
        var dets = new[] { Det(0, 0, 0.9, 0, 0, 10, 7.2) };
        var s = MeanAveragePrecision.Evaluate(dets, truths, 1);
        Assert.Equal(0.5, s.Map, 12);
        Assert.Equal(1, s.Map50, 12);
        Assert.Equal(0, s.Map75, 12);
    }

    [Fact]
    public void Matching_IsGreedyByScore_ToTheBestUnmatchedTruth()
    {
        // Objects A (0, 0, 10, 10) and B (2, 0, 12, 10). The best detection overlaps A by 0.83 and B by 0.57; the next is B
        // exactly, the last A exactly. Up to IoU 0.80 the first takes A, the second B, the last finds both taken: hit, hit,
        // miss, AP 1. From 0.85 the first misses and the others hit: precision 0, 1/2, 2/3, non-increasing 2/3, AP 2/3.
        // mAP = (7·1 + 3·2/3) / 10.
        var truths = new[] { Truth(0, 0, 0, 0, 10, 10), Truth(0, 0, 2, 0, 12, 10) };
        var dets = new[] { Det(0, 0, 0.9, 0, 0, 10, 8.3), Det(0, 0, 0.8, 2, 0, 12, 10), Det(0, 0, 0.7, 0, 0, 10, 10) };
        var s = MeanAveragePrecision.Evaluate(dets, truths, 1);
        Assert.Equal(1, s.Map50, 12);
        Assert.Equal(1, s.Map75, 12);
        Assert.Equal(0.9, s.Map, 12);
    }

    [Fact]
    public void ThePerImageLimit_DropsTheLowestScores()
    {
        var truths = new[] { Truth(0, 0, 0, 0, 10, 10), Truth(0, 0, 20, 0, 30, 10) };
        var dets = new[] { Det(0, 0, 0.9, 0, 0, 10, 10), Det(0, 0, 0.5, 20, 0, 30, 10) };
        Assert.Equal(1, MeanAveragePrecision.Evaluate(dets, truths, 1, maxDetections: 2).Map, 12);
        Assert.Equal(51.0 / 101, MeanAveragePrecision.Evaluate(dets, truths, 1, maxDetections: 1).Map, 12);
    }

    [Fact]
    public void DetectionsOfAClassWithoutTruth_DoNotCount_AndBadInputIsRefused()
    {
        var truths = new[] { Truth(0, 1, 0, 0, 10, 10) };
        var dets = new[] { Det(0, 0, 0.99, 0, 0, 10, 10), Det(0, 1, 0.5, 0, 0, 10, 10) };
        var s = MeanAveragePrecision.Evaluate(dets, truths, 2);
        Assert.Equal(1, s.Map, 12);
        Assert.True(double.IsNaN(s.PerClass[0]));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MeanAveragePrecision.Evaluate(new[] { Det(3, 5, 0.5, 0, 0, 1, 1) }, truths, 2));
        Assert.Contains("A detection of image 3 is class 5, outside the 2 classes", e.Message);
        Assert.True(double.IsNaN(MeanAveragePrecision.Evaluate(dets, Array.Empty<TruthBox>(), 2).Map), "no ground truth at all: no mAP");
    }
}
