using System;
using System.Collections.Generic;
using System.Linq;

namespace ModelGen.Detection;

/// <summary>A predicted box of an image: its class, its score and its corners.</summary>
public sealed record ScoredBox(int Image, int Label, double Score, double X0, double Y0, double X1, double Y1);

/// <summary>A ground-truth box of an image: its class and its corners.</summary>
public sealed record TruthBox(int Image, int Label, double X0, double Y0, double X1, double Y1);

/// <summary>COCO's summary of a detector: AP averaged over the IoU thresholds 0.50, 0.55 … 0.95 and the classes that have
/// ground truth (mAP), AP at IoU 0.50 and 0.75, and each class's AP over the thresholds (NaN for a class without ground truth).</summary>
public sealed record DetectionScores(double Map, double Map50, double Map75, double[] PerClass)
{
    public override string ToString() => $"mAP@[.5:.95] {Map:F4}, mAP@.5 {Map50:F4}, mAP@.75 {Map75:F4}";
}

/// <summary>
/// Mean average precision by COCO's rules (pycocotools' COCOeval, bounding boxes, area "all", no crowd annotations): per
/// image and class the detections, best score first and at most <c>maxDetections</c>, are matched greedily, each to the
/// unmatched ground truth of highest IoU at or above the threshold; per class the detections of all images, by score, give
/// the precision–recall curve, made non-increasing from the right and read at the 101 recalls 0, 0.01 … 1 (0 beyond the
/// last recall reached); AP is their mean.
/// </summary>
public static class MeanAveragePrecision
{
    /// <summary>The IoU thresholds 0.50, 0.55 … 0.95.</summary>
    public static readonly double[] Thresholds = Enumerable.Range(0, 10).Select(i => 0.5 + 0.05 * i).ToArray();

    public static DetectionScores Evaluate(IReadOnlyList<ScoredBox> detections, IReadOnlyList<TruthBox> truths, int classes, int maxDetections = 100)
    {
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(truths);
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "There must be at least one class.");
        if (maxDetections < 1) throw new ArgumentOutOfRangeException(nameof(maxDetections), maxDetections, "At least one detection per image must count.");
        foreach (var d in detections)
        {
            if ((uint)d.Label >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(detections), d.Label, $"A detection of image {d.Image} is class {d.Label}, outside the {classes} classes.");
            if (!double.IsFinite(d.Score)) throw new ArgumentException($"A detection of image {d.Image} scores {d.Score}.", nameof(detections));
        }
        foreach (var t in truths)
            if ((uint)t.Label >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(truths), t.Label, $"A ground truth of image {t.Image} is class {t.Label}, outside the {classes} classes.");
        // ap[c, t]: class c at threshold t; NaN without ground truth.
        var ap = new double[classes, Thresholds.Length];
        var perClass = new double[classes];
        for (int c = 0; c < classes; c++)
        {
            var gts = truths.Where(t => t.Label == c).GroupBy(t => t.Image).ToDictionary(g => g.Key, g => g.ToArray());
            int positives = gts.Values.Sum(g => g.Length);
            // Per image: its detections of the class, best first (stable), at most maxDetections, and their IoUs with the
            // image's truths, computed once for every threshold.
            var images = detections.Where(d => d.Label == c).GroupBy(d => d.Image).OrderBy(g => g.Key).Select(g =>
            {
                var dets = g.OrderByDescending(d => d.Score).Take(maxDetections).ToArray();
                var truth = gts.TryGetValue(g.Key, out var t) ? t : Array.Empty<TruthBox>();
                var iou = new double[dets.Length, truth.Length];
                for (int i = 0; i < dets.Length; i++)
                    for (int k = 0; k < truth.Length; k++)
                        iou[i, k] = Boxes.IoU(new[] { dets[i].X0, dets[i].Y0, dets[i].X1, dets[i].Y1 }, new[] { truth[k].X0, truth[k].Y0, truth[k].X1, truth[k].Y1 });
                return (Dets: dets, Iou: iou);
            }).ToArray();
            for (int ti = 0; ti < Thresholds.Length; ti++)
            {
                if (positives == 0) { ap[c, ti] = double.NaN; continue; }
                var scored = new List<(double Score, bool True)>();
                foreach (var (dets, iou) in images)
                {
                    var taken = new bool[iou.GetLength(1)];
                    for (int i = 0; i < dets.Length; i++)
                    {
                        double best = Math.Min(Thresholds[ti], 1 - 1e-10);
                        int match = -1;
                        for (int k = 0; k < taken.Length; k++)
                        {
                            if (taken[k] || iou[i, k] < best) continue;
                            best = iou[i, k];
                            match = k;
                        }
                        if (match >= 0) taken[match] = true;
                        scored.Add((dets[i].Score, match >= 0));
                    }
                }
                ap[c, ti] = Average(scored, positives);
            }
            perClass[c] = positives == 0 ? double.NaN : Enumerable.Range(0, Thresholds.Length).Average(t => ap[c, t]);
        }
        double Mean(Func<int, bool> threshold)
        {
            var values = new List<double>();
            for (int c = 0; c < classes; c++)
                for (int t = 0; t < Thresholds.Length; t++)
                    if (threshold(t) && !double.IsNaN(ap[c, t])) values.Add(ap[c, t]);
            return values.Count == 0 ? double.NaN : values.Average();
        }
        return new DetectionScores(Mean(_ => true), Mean(t => t == 0), Mean(t => t == 5), perClass);
    }

    /// <summary>AP of one class at one threshold: its detections of every image merged by score (stable), the cumulative
    /// precision made non-increasing from the right, read at the 101 recall points.</summary>
    static double Average(List<(double Score, bool True)> scored, int positives)
    {
        var ordered = scored.Select((s, i) => (s.Score, s.True, i)).OrderByDescending(s => s.Score).ThenBy(s => s.i).ToArray();
        int n = ordered.Length;
        var recall = new double[n];
        var precision = new double[n];
        int tp = 0, fp = 0;
        for (int i = 0; i < n; i++)
        {
            if (ordered[i].True) tp++;
            else fp++;
            recall[i] = (double)tp / positives;
            precision[i] = (double)tp / (tp + fp);
        }
        for (int i = n - 2; i >= 0; i--) precision[i] = Math.Max(precision[i], precision[i + 1]);
        double sum = 0;
        for (int r = 0; r <= 100; r++)
        {
            double at = r / 100.0;
            // The first detection whose recall reaches this point (numpy's searchsorted, side "left").
            int lo = 0, hi = n;
            while (lo < hi)
            {
                int mid = (lo + hi) / 2;
                if (recall[mid] < at) lo = mid + 1;
                else hi = mid;
            }
            if (lo < n) sum += precision[lo];
        }
        return sum / 101;
    }
}
