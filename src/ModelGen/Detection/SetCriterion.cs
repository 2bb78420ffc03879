using System;
using System.Collections.Generic;
using System.Linq;

namespace ModelGen.Detection;

/// <summary>The objects of one image: a class index (0 … K − 1) and a box (cx, cy, w, h), normalised to the image, per object.</summary>
public sealed record DetectionTarget(int[] Labels, float[] Boxes)
{
    /// <summary>How many objects.</summary>
    public int Count => Labels.Length;
}

/// <summary>A set loss and its parts, and the match that produced it: for each image, the query of each target.</summary>
public sealed record SetLoss(double Loss, double ClassLoss, double BoxL1, double GeneralizedIoULoss, int[][] QueryOfTarget);

/// <summary>
/// DETR's set prediction loss (Carion et al.). Each image's queries are matched one-to-one to its targets by the Hungarian
/// method on the cost λ_class·(−p̂(c)) + λ_L1·‖b − b̂‖₁ + λ_giou·(−GIoU(b, b̂)); then the loss is
/// λ_class·CE + λ_L1·L1 + λ_giou·(1 − GIoU): cross-entropy of every query's K + 1 logits against its matched class or "no object"
/// (the last class), each weighted by its class (no object: <see cref="NoObjectWeight"/>) and averaged by the weights, as
/// PyTorch's weighted <c>cross_entropy</c>; the L1 and GIoU losses summed over the matched pairs and divided by the number of
/// targets in the batch (at least 1). Boxes are (cx, cy, w, h) after the box head's sigmoid; the L1 is on them, GIoU on their
/// corners. For the auxiliary losses, apply it to each decoder layer's predictions (each matches on its own) and add them.
/// </summary>
public sealed class SetCriterion
{
    /// <param name="classes">K, the object classes; the logits hold K + 1 per query, the last "no object".</param>
    public SetCriterion(int classes)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "There must be at least one object class.");
        Classes = classes;
    }

    public int Classes { get; }

    /// <summary>The weight of "no object" in the cross-entropy (DETR's eos_coef).</summary>
    public double NoObjectWeight { get; init; } = 0.1;

    /// <summary>λ_class, λ_L1, λ_giou: the weights of the loss's parts.</summary>
    public double ClassWeight { get; init; } = 1;
    public double L1Weight { get; init; } = 5;
    public double GeneralizedIoUWeight { get; init; } = 2;

    /// <summary>The matcher's weights of −p̂(c), the L1 distance and −GIoU.</summary>
    public double MatchClass { get; init; } = 1;
    public double MatchL1 { get; init; } = 5;
    public double MatchGeneralizedIoU { get; init; } = 2;

    /// <summary>For each image, the query matched to each of its targets.</summary>
    /// <param name="logits">(batch, queries, K + 1).</param>
    /// <param name="boxes">(batch, queries, 4): (cx, cy, w, h).</param>
    /// <param name="batch">Images.</param>
    /// <param name="queries">Predictions per image.</param>
    /// <param name="targets">The objects of each image.</param>
    public int[][] Match(float[] logits, float[] boxes, int batch, int queries, IReadOnlyList<DetectionTarget> targets)
    {
        Check(logits, boxes, batch, queries, targets);
        var matches = new int[batch][];
        int width = Classes + 1;
        var probabilities = new double[width];
        Span<double> p = stackalloc double[4], t = stackalloc double[4];
        for (int b = 0; b < batch; b++)
        {
            var target = targets[b];
            int count = target.Count;
            var cost = new double[queries * count];
            for (int q = 0; q < queries; q++)
            {
                Softmax(logits.AsSpan((b * queries + q) * width, width), probabilities);
                var box = boxes.AsSpan((b * queries + q) * 4, 4);
                Corners(box, p);
                for (int k = 0; k < count; k++)
                {
                    var tb = target.Boxes.AsSpan(k * 4, 4);
                    Corners(tb, t);
                    double l1 = 0;
                    for (int e = 0; e < 4; e++) l1 += Math.Abs((double)box[e] - tb[e]);
                    cost[q * count + k] = -MatchClass * probabilities[target.Labels[k]] + MatchL1 * l1 - MatchGeneralizedIoU * Boxes.GeneralizedIoU(p, t);
                }
            }
            var (rows, cols) = Hungarian.Pairs(cost, queries, count);
            var queryOf = new int[count];
            for (int i = 0; i < rows.Length; i++) queryOf[cols[i]] = rows[i];
            matches[b] = queryOf;
        }
        return matches;
    }

    /// <summary>The loss of a batch of predictions; when given, its gradients with respect to the logits and the boxes are
    /// written into <paramref name="dLogits"/> and <paramref name="dBoxes"/> (the shapes of the inputs).</summary>
    public SetLoss Loss(float[] logits, float[] boxes, int batch, int queries, IReadOnlyList<DetectionTarget> targets, float[]? dLogits = null, float[]? dBoxes = null)
    {
        var matches = Match(logits, boxes, batch, queries, targets);
        int width = Classes + 1;
        if (dLogits is not null && dLogits.Length != logits.Length)
            throw new ArgumentException($"dLogits holds {dLogits.Length} values but the logits {logits.Length}.", nameof(dLogits));
        if (dBoxes is not null && dBoxes.Length != boxes.Length)
            throw new ArgumentException($"dBoxes holds {dBoxes.Length} values but the boxes {boxes.Length}.", nameof(dBoxes));
        // The class of every query: its target's, or no object.
        var labels = new int[batch * queries];
        Array.Fill(labels, Classes);
        for (int b = 0; b < batch; b++)
            for (int k = 0; k < matches[b].Length; k++) labels[b * queries + matches[b][k]] = targets[b].Labels[k];
        double weightSum = 0, ce = 0;
        var probabilities = new double[width];
        for (int i = 0; i < labels.Length; i++) weightSum += Weight(labels[i]);
        for (int i = 0; i < labels.Length; i++)
        {
            var row = logits.AsSpan(i * width, width);
            double lse = Softmax(row, probabilities);
            double w = Weight(labels[i]);
            ce += w * (lse - row[labels[i]]);
            if (dLogits is null) continue;
            for (int c = 0; c < width; c++)
                dLogits[i * width + c] = (float)(ClassWeight * w / weightSum * (probabilities[c] - (c == labels[i] ? 1 : 0)));
        }
        ce /= weightSum;
        int boxCount = Math.Max(1, targets.Sum(t => t.Count));
        double l1 = 0, giou = 0;
        if (dBoxes is not null) Array.Clear(dBoxes);
        Span<double> p = stackalloc double[4], t = stackalloc double[4], dp = stackalloc double[4];
        for (int b = 0; b < batch; b++)
            for (int k = 0; k < matches[b].Length; k++)
            {
                int q = matches[b][k];
                var box = boxes.AsSpan((b * queries + q) * 4, 4);
                var tb = targets[b].Boxes.AsSpan(k * 4, 4);
                Corners(box, p);
                Corners(tb, t);
                for (int e = 0; e < 4; e++) l1 += Math.Abs((double)box[e] - tb[e]);
                giou += 1 - Boxes.GeneralizedIoU(p, t, dBoxes is null ? default : dp);
                if (dBoxes is null) continue;
                var d = dBoxes.AsSpan((b * queries + q) * 4, 4);
                // L1 on (cx, cy, w, h); −GIoU through the corners: x0 = cx − w/2, x1 = cx + w/2.
                double scale = GeneralizedIoUWeight / boxCount;
                for (int e = 0; e < 4; e++) d[e] = (float)(L1Weight / boxCount * Math.Sign((double)box[e] - tb[e]));
                d[0] += (float)(-scale * (dp[0] + dp[2]));
                d[1] += (float)(-scale * (dp[1] + dp[3]));
                d[2] += (float)(-scale * 0.5 * (dp[2] - dp[0]));
                d[3] += (float)(-scale * 0.5 * (dp[3] - dp[1]));
            }
        l1 /= boxCount;
        giou /= boxCount;
        return new SetLoss(ClassWeight * ce + L1Weight * l1 + GeneralizedIoUWeight * giou, ce, l1, giou, matches);
    }

    double Weight(int label) => label == Classes ? NoObjectWeight : 1;

    static void Corners(ReadOnlySpan<float> box, Span<double> corners)
    {
        double cx = box[0], cy = box[1], w = box[2], h = box[3];
        corners[0] = cx - 0.5 * w;
        corners[1] = cy - 0.5 * h;
        corners[2] = cx + 0.5 * w;
        corners[3] = cy + 0.5 * h;
    }

    /// <summary>Softmax of a row into <paramref name="probabilities"/>; returns its log-sum-exp.</summary>
    static double Softmax(ReadOnlySpan<float> row, double[] probabilities)
    {
        double max = double.NegativeInfinity;
        foreach (float x in row) max = Math.Max(max, x);
        double sum = 0;
        for (int c = 0; c < row.Length; c++) sum += probabilities[c] = Math.Exp(row[c] - max);
        for (int c = 0; c < row.Length; c++) probabilities[c] /= sum;
        return max + Math.Log(sum);
    }

    void Check(float[] logits, float[] boxes, int batch, int queries, IReadOnlyList<DetectionTarget> targets)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(boxes);
        ArgumentNullException.ThrowIfNull(targets);
        if (batch < 1 || queries < 1) throw new ArgumentOutOfRangeException(batch < 1 ? nameof(batch) : nameof(queries), "The batch and the queries must be positive.");
        if (logits.Length != (long)batch * queries * (Classes + 1))
            throw new ArgumentException($"logits hold {logits.Length} values but batch {batch} × {queries} queries × {Classes + 1} classes (with no object) = {(long)batch * queries * (Classes + 1)} are needed.", nameof(logits));
        if (boxes.Length != (long)batch * queries * 4)
            throw new ArgumentException($"boxes hold {boxes.Length} values but batch {batch} × {queries} queries × 4 = {(long)batch * queries * 4} are needed.", nameof(boxes));
        if (targets.Count != batch) throw new ArgumentException($"{targets.Count} targets for a batch of {batch} images.", nameof(targets));
        for (int b = 0; b < batch; b++)
        {
            var t = targets[b] ?? throw new ArgumentException($"The targets of image {b} are null.", nameof(targets));
            if (t.Boxes.Length != t.Labels.Length * 4)
                throw new ArgumentException($"Image {b} has {t.Labels.Length} labels but {t.Boxes.Length} box values ({t.Labels.Length * 4} needed).", nameof(targets));
            if (t.Count > queries)
                throw new ArgumentException($"Image {b} has {t.Count} objects but the model predicts {queries}: each object needs a query of its own.", nameof(targets));
            for (int k = 0; k < t.Count; k++)
            {
                if ((uint)t.Labels[k] >= (uint)Classes)
                    throw new ArgumentOutOfRangeException(nameof(targets), t.Labels[k], $"Object {k} of image {b} is class {t.Labels[k]}, outside the {Classes} classes.");
                for (int e = 0; e < 4; e++)
                    if (!float.IsFinite(t.Boxes[k * 4 + e]))
                        throw new ArgumentException($"Box {k} of image {b} holds {t.Boxes[k * 4 + e]}.", nameof(targets));
                if (!(t.Boxes[k * 4 + 2] > 0 && t.Boxes[k * 4 + 3] > 0))
                    throw new ArgumentException($"Box {k} of image {b} is {t.Boxes[k * 4 + 2]} × {t.Boxes[k * 4 + 3]}; a box must have a positive width and height.", nameof(targets));
            }
        }
    }
}
