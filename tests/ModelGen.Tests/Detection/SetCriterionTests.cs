using System;
using System.Collections.Generic;
using System.Linq;
using ModelGen.Detection;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Detection;

/// <summary>Boxes and DETR's set loss: generalized IoU against torchvision's and its gradient against finite differences; the
/// matching, the loss's parts and its gradients against a PyTorch twin of DETR's matcher and criterion (scipy's assignment,
/// torchvision's box ops); finite differences of the whole loss; bad targets refused.</summary>
public class SetCriterionTests
{
    /// <summary>Random (cx, cy, w, h) boxes inside the unit square, as a sigmoid head gives them.</summary>
    static float[] RandomBoxes(Random random, int count)
    {
        var boxes = new float[count * 4];
        for (int i = 0; i < count; i++)
        {
            float w = 0.05f + 0.5f * (float)random.NextDouble(), h = 0.05f + 0.5f * (float)random.NextDouble();
            boxes[i * 4] = w / 2 + (1 - w) * (float)random.NextDouble();
            boxes[i * 4 + 1] = h / 2 + (1 - h) * (float)random.NextDouble();
            boxes[i * 4 + 2] = w;
            boxes[i * 4 + 3] = h;
        }
        return boxes;
    }

    static float[] Corners(float[] boxes)
    {
        var c = new float[boxes.Length];
        Boxes.ToCorners(boxes, c);
        return c;
    }

    [SkippableFact]
    public void GeneralizedIoU_MatchesTorchvision()
    {
        var random = new Random(3);
        float[] a = Corners(RandomBoxes(random, 9)), b = Corners(RandomBoxes(random, 7));
        // One pair disjoint, one identical, one nested.
        Array.Copy(new float[] { 0.8f, 0.8f, 0.9f, 0.95f }, 0, a, 0, 4);
        Array.Copy(new float[] { 0.05f, 0.1f, 0.2f, 0.3f }, 0, b, 0, 4);
        Array.Copy(b, 4, a, 4, 4);
        Array.Copy(new float[] { 0.1f, 0.1f, 0.9f, 0.9f }, 0, a, 8, 4);
        Array.Copy(new float[] { 0.3f, 0.2f, 0.5f, 0.6f }, 0, b, 8, 4);
        var reference = TorchOps.RunScript("detection_reference.py", new { op = "giou" }, new SafeTensor("a", new[] { 9, 4 }, a), new SafeTensor("b", new[] { 7, 4 }, b));
        double[] D(float[] x, int i) => x.Skip(i * 4).Take(4).Select(v => (double)v).ToArray();
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 7; j++)
            {
                Assert.True(Math.Abs(reference["giou"].Data[i * 7 + j] - Boxes.GeneralizedIoU(D(a, i), D(b, j))) < 1e-6, $"giou ({i}, {j})");
                Assert.True(Math.Abs(reference["iou"].Data[i * 7 + j] - Boxes.IoU(D(a, i), D(b, j))) < 1e-6, $"iou ({i}, {j})");
            }
        Assert.Equal(1, Boxes.GeneralizedIoU(D(a, 1), D(b, 1)), 12);
    }

    [Fact]
    public void GeneralizedIoUGradient_MatchesFiniteDifferences()
    {
        var random = new Random(4);
        for (int trial = 0; trial < 50; trial++)
        {
            var p = Corners(RandomBoxes(random, 1)).Select(v => (double)v).ToArray();
            var t = Corners(RandomBoxes(random, 1)).Select(v => (double)v).ToArray();
            var dp = new double[4];
            Boxes.GeneralizedIoU(p, t, dp);
            for (int e = 0; e < 4; e++)
            {
                double keep = p[e];
                p[e] = keep + 1e-7;
                double plus = Boxes.GeneralizedIoU(p, t);
                p[e] = keep - 1e-7;
                double minus = Boxes.GeneralizedIoU(p, t);
                p[e] = keep;
                Assert.Equal((plus - minus) / 2e-7, dp[e], 5);
            }
        }
    }

    sealed record Batch(float[] Logits, float[] Boxes, DetectionTarget[] Targets, int Images, int Queries);

    static Batch RandomBatch(int seed, int images, int queries, int classes)
    {
        var random = new Random(seed);
        var logits = Rng.Floats(images * queries * (classes + 1), seed, 2f);
        var boxes = RandomBoxes(random, images * queries);
        var targets = Enumerable.Range(0, images).Select(b =>
        {
            int count = b == images - 1 ? 0 : 1 + random.Next(Math.Min(queries, 5));   // the last image has no objects
            return new DetectionTarget(Enumerable.Range(0, count).Select(_ => random.Next(classes)).ToArray(), RandomBoxes(random, count));
        }).ToArray();
        return new Batch(logits, boxes, targets, images, queries);
    }

    [SkippableFact]
    public void TheMatchLossAndGradients_MatchDetrsCriterion()
    {
        const int classes = 4, queries = 8, images = 3;
        var batch = RandomBatch(5, images, queries, classes);
        var criterion = new SetCriterion(classes);
        var dLogits = new float[batch.Logits.Length];
        var dBoxes = new float[batch.Boxes.Length];
        var loss = criterion.Loss(batch.Logits, batch.Boxes, images, queries, batch.Targets, dLogits, dBoxes);
        var inputs = new List<SafeTensor>
        {
            new("logits", new[] { images, queries, classes + 1 }, batch.Logits), new("boxes", new[] { images, queries, 4 }, batch.Boxes),
        };
        for (int b = 0; b < images; b++)
        {
            inputs.Add(new($"labels.{b}", new[] { batch.Targets[b].Count }, batch.Targets[b].Labels.Select(l => (float)l).ToArray()));
            inputs.Add(new($"targets.{b}", new[] { batch.Targets[b].Count, 4 }, batch.Targets[b].Boxes));
        }
        var reference = TorchOps.RunScript("detection_reference.py", new
        {
            op = "set_criterion", classes, no_object = 0.1, class_weight = 1.0, l1_weight = 5.0, giou_weight = 2.0, match_class = 1.0, match_l1 = 5.0, match_giou = 2.0,
        }, inputs.ToArray());
        for (int b = 0; b < images; b++) Assert.Equal(reference[$"match.{b}"].Data.Select(q => (int)q), loss.QueryOfTarget[b]);
        Assert.Equal(reference["loss"].Data[0], loss.Loss, 5);
        Assert.Equal(reference["ce"].Data[0], loss.ClassLoss, 5);
        Assert.Equal(reference["l1"].Data[0], loss.BoxL1, 5);
        Assert.Equal(reference["giou"].Data[0], loss.GeneralizedIoULoss, 5);
        TorchOps.Close(reference, "grad.logits", dLogits);
        TorchOps.Close(reference, "grad.boxes", dBoxes);
    }

    [Fact]
    public void TheGradients_MatchFiniteDifferencesOfTheLoss()
    {
        const int classes = 3, queries = 6, images = 2;
        var batch = RandomBatch(6, images, queries, classes);
        var criterion = new SetCriterion(classes) { NoObjectWeight = 0.25 };
        var dLogits = new float[batch.Logits.Length];
        var dBoxes = new float[batch.Boxes.Length];
        var loss = criterion.Loss(batch.Logits, batch.Boxes, images, queries, batch.Targets, dLogits, dBoxes);
        int checkedCount = 0, total = 0;
        foreach (var (input, grad, name) in new[] { (batch.Logits, dLogits, "logits"), (batch.Boxes, dBoxes, "boxes") })
            for (int i = 0; i < input.Length; i++)
            {
                total++;
                float keep = input[i];
                double Slope(float h)
                {
                    input[i] = keep + h;
                    var plus = criterion.Loss(batch.Logits, batch.Boxes, images, queries, batch.Targets);
                    input[i] = keep - h;
                    var minus = criterion.Loss(batch.Logits, batch.Boxes, images, queries, batch.Targets);
                    input[i] = keep;
                    // A step that changes the match leaves the smooth piece: NaN, proving nothing.
                    if (!plus.QueryOfTarget.Zip(minus.QueryOfTarget).All(m => m.First.SequenceEqual(m.Second))) return double.NaN;
                    return (plus.Loss - minus.Loss) / ((double)(keep + h) - (keep - h));
                }
                double coarse = Slope(2e-3f), fine = Slope(1e-3f);
                // Where the two steps disagree, a kink lies within them (an edge of the box meets its target's, a min or max
                // switches): inconclusive, as is a change of the match.
                if (double.IsNaN(coarse) || double.IsNaN(fine) || Math.Abs(coarse - fine) > 1e-3 * Math.Max(1, Math.Abs(fine))) continue;
                checkedCount++;
                Assert.True(Math.Abs(fine - grad[i]) <= 2e-3 * Math.Max(1, Math.Abs(fine)), $"d{name}[{i}]: {grad[i]} against {fine}");
            }
        Assert.True(checkedCount >= 0.9 * total, $"only {checkedCount} of {total} elements away from kinks");
        Assert.True(loss.Loss > 0);
    }

    [Fact]
    public void BadTargets_AreRefused_NamingTheImageAndTheObject()
    {
        var criterion = new SetCriterion(3);
        var logits = new float[2 * 4];
        var boxes = RandomBoxes(new Random(7), 2);
        DetectionTarget One(int label, float w) => new(new[] { label }, new[] { 0.5f, 0.5f, w, 0.2f });
        var label = Assert.Throws<ArgumentOutOfRangeException>(() => criterion.Loss(logits, boxes, 1, 2, new[] { One(3, 0.2f) }));
        Assert.Contains("Object 0 of image 0 is class 3, outside the 3 classes", label.Message);
        var size = Assert.Throws<ArgumentException>(() => criterion.Loss(logits, boxes, 1, 2, new[] { One(1, 0f) }));
        Assert.Contains("Box 0 of image 0 is 0 × 0.2; a box must have a positive width and height", size.Message);
        var many = new DetectionTarget(new[] { 0, 1, 2 }, RandomBoxes(new Random(8), 3));
        var crowd = Assert.Throws<ArgumentException>(() => criterion.Loss(logits, boxes, 1, 2, new[] { many }));
        Assert.Contains("Image 0 has 3 objects but the model predicts 2", crowd.Message);
        var shape = Assert.Throws<ArgumentException>(() => criterion.Loss(new float[7], boxes, 1, 2, new[] { One(0, 0.2f) }));
        Assert.Contains("logits hold 7 values but batch 1 × 2 queries × 4 classes (with no object) = 8", shape.Message);
    }
}
