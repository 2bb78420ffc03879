using System;

namespace ModelGen.Training;

/// <summary>
/// A confusion matrix over pixels (row = target class, column = predicted class), accumulated batch by batch, and the
/// usual segmentation scores computed from it: pixel accuracy, per-class IoU, mean IoU and per-class accuracy.
/// </summary>
/// <remarks>
/// Scores are over everything added since construction or <see cref="Reset"/>, so a test set's mIoU is that of its
/// summed confusion matrix (as torchmetrics and mmseg compute it), not a mean of per-batch scores. Pixels whose target
/// is the ignore index are not counted.
/// </remarks>
public sealed class SegmentationMetrics
{
    readonly long[] _confusion;

    /// <param name="classes">K, the number of classes (background included).</param>
    /// <param name="ignoreIndex">A target value whose pixels are not counted (e.g. 255), or null.</param>
    public SegmentationMetrics(int classes, int? ignoreIndex = null)
    {
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"Classes {classes}: there must be at least one class.");
        if (classes > 46340) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"Classes {classes}: a {classes}×{classes} confusion matrix is too large.");
        Classes = classes;
        IgnoreIndex = ignoreIndex;
        _confusion = new long[classes * classes];
    }

    public int Classes { get; }

    public int? IgnoreIndex { get; }

    /// <summary>Pixels counted so far.</summary>
    public long Total { get; private set; }

    /// <summary>Pixels of target class <paramref name="target"/> predicted as <paramref name="predicted"/>.</summary>
    public long this[int target, int predicted]
    {
        get
        {
            CheckClass(target, nameof(target));
            CheckClass(predicted, nameof(predicted));
            return _confusion[target * Classes + predicted];
        }
    }

    /// <summary>A copy of the confusion matrix, Classes×Classes row-major (row = target, column = predicted).</summary>
    public long[] Confusion() => (long[])_confusion.Clone();

    /// <summary>Forgets everything added.</summary>
    public void Reset()
    {
        Array.Clear(_confusion);
        Total = 0;
    }

    /// <summary>
    /// Counts each pixel of logits (B, K, H, W) in NCHW layout as predicted class argmax over K (the first on ties, NaN
    /// counting as largest, as torch.argmax) against targets (B, H, W).
    /// </summary>
    public void AddLogits(float[] logits, byte[] targets, int batch, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var predicted = new int[CheckPixels(targets.Length, "targets", batch, height, width)];
        ArgMax(logits, batch, Classes, height, width, predicted);
        Accumulate(Widen(targets, predicted.Length), predicted, height, width);
    }

    /// <inheritdoc cref="AddLogits(float[], byte[], int, int, int)"/>
    public void AddLogits(float[] logits, int[] targets, int batch, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var predicted = new int[CheckPixels(targets.Length, "targets", batch, height, width)];
        ArgMax(logits, batch, Classes, height, width, predicted);
        Accumulate(targets.AsSpan(0, predicted.Length), predicted, height, width);
    }

    /// <summary>Counts predicted labels against targets, pixel by pixel (both B·H·W values).</summary>
    public void AddPredictions(byte[] predicted, byte[] targets, int batch, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(targets);
        CheckPixels(predicted.Length, nameof(predicted), batch, height, width);
        int n = CheckPixels(targets.Length, nameof(targets), batch, height, width);
        Accumulate(Widen(targets, n), Widen(predicted, n), height, width);
    }

    /// <inheritdoc cref="AddPredictions(byte[], byte[], int, int, int)"/>
    public void AddPredictions(int[] predicted, int[] targets, int batch, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(targets);
        CheckPixels(predicted.Length, nameof(predicted), batch, height, width);
        int n = CheckPixels(targets.Length, nameof(targets), batch, height, width);
        Accumulate(targets.AsSpan(0, n), predicted.AsSpan(0, n), height, width);
    }

    /// <summary>Adds another accumulator's counts (same class count and ignore index) to this one.</summary>
    public void Merge(SegmentationMetrics other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Classes != Classes || other.IgnoreIndex != IgnoreIndex)
            throw new ArgumentException(
                $"Cannot merge metrics over {other.Classes} classes (ignore {other.IgnoreIndex?.ToString() ?? "none"}) into metrics over {Classes} (ignore {IgnoreIndex?.ToString() ?? "none"}).", nameof(other));
        for (int i = 0; i < _confusion.Length; i++) _confusion[i] += other._confusion[i];
        Total += other.Total;
    }

    /// <summary>Correct pixels / counted pixels; NaN when nothing was counted.</summary>
    public double PixelAccuracy
    {
        get
        {
            long correct = 0;
            for (int c = 0; c < Classes; c++) correct += _confusion[c * Classes + c];
            return Total == 0 ? double.NaN : (double)correct / Total;
        }
    }

    /// <summary>
    /// Intersection over union of class <paramref name="c"/>: TP / (TP + FP + FN). NaN where the union is 0 (the class
    /// is neither in the targets nor predicted).
    /// </summary>
    public double IoU(int c)
    {
        CheckClass(c, nameof(c));
        long tp = _confusion[c * Classes + c];
        long union = TargetCount(c) + PredictedCount(c) - tp;
        return union == 0 ? double.NaN : (double)tp / union;
    }

    /// <summary>IoU of every class (NaN where its union is 0).</summary>
    public double[] PerClassIoU()
    {
        var iou = new double[Classes];
        for (int c = 0; c < Classes; c++) iou[c] = IoU(c);
        return iou;
    }

    /// <summary>
    /// Mean IoU over the classes present: those with a union of 0 (neither in the targets nor predicted) are left out,
    /// as is common (torchmetrics' and mmseg's nan-mean). NaN when no class is present.
    /// </summary>
    public double MeanIoU => NanMean(PerClassIoU());

    /// <summary>Accuracy (recall) of class <paramref name="c"/>: TP / pixels whose target is c. NaN where none is.</summary>
    public double ClassAccuracy(int c)
    {
        CheckClass(c, nameof(c));
        long n = TargetCount(c);
        return n == 0 ? double.NaN : (double)_confusion[c * Classes + c] / n;
    }

    /// <summary>Accuracy of every class (NaN where it is not among the targets).</summary>
    public double[] PerClassAccuracy()
    {
        var acc = new double[Classes];
        for (int c = 0; c < Classes; c++) acc[c] = ClassAccuracy(c);
        return acc;
    }

    /// <summary>Mean of the per-class accuracies over the classes among the targets; NaN when there are none.</summary>
    public double MeanClassAccuracy => NanMean(PerClassAccuracy());

    /// <summary>
    /// Writes argmax over K of each pixel of logits (B, K, H, W), NCHW, into <paramref name="predicted"/> (B·H·W): the
    /// first maximum on ties; a NaN counts as largest (the first NaN wins), as torch.argmax.
    /// </summary>
    public static void ArgMax(float[] logits, int batch, int classes, int height, int width, int[] predicted)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(predicted);
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"Classes {classes}: there must be at least one class.");
        int pixels = CheckPixels(predicted.Length, nameof(predicted), batch, height, width);
        long needed = (long)pixels * classes;
        if (logits.Length < needed)
            throw new ArgumentException($"logits holds {logits.Length} floats but {batch}×{classes}×{height}×{width} = {needed} are needed.", nameof(logits));
        int plane = height * width;
        var best = new float[plane];
        for (int b = 0; b < batch; b++)
        {
            int baseIndex = b * classes * plane;
            var labels = predicted.AsSpan(b * plane, plane);
            logits.AsSpan(baseIndex, plane).CopyTo(best);
            labels.Clear();
            for (int k = 1; k < classes; k++)
            {
                var x = logits.AsSpan(baseIndex + k * plane, plane);
                for (int p = 0; p < plane; p++)
                {
                    float v = x[p];
                    if (!float.IsNaN(best[p]) && (v > best[p] || float.IsNaN(v)))
                    {
                        best[p] = v;
                        labels[p] = k;
                    }
                }
            }
        }
    }

    /// <summary>Checks every pixel first, so a bad value leaves the counts as they were.</summary>
    void Accumulate(ReadOnlySpan<int> targets, ReadOnlySpan<int> predicted, int height, int width)
    {
        int ignore = IgnoreIndex ?? int.MinValue;
        for (int i = 0; i < targets.Length; i++)
        {
            if (targets[i] == ignore) continue;
            if ((uint)targets[i] >= (uint)Classes) throw OutOfRange("Target", targets[i], i, height, width, "targets");
            if ((uint)predicted[i] >= (uint)Classes) throw OutOfRange("Prediction", predicted[i], i, height, width, "predicted");
        }
        long counted = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            if (targets[i] == ignore) continue;
            _confusion[targets[i] * Classes + predicted[i]]++;
            counted++;
        }
        Total += counted;
    }

    static int[] Widen(byte[] values, int count)
    {
        var wide = new int[count];
        for (int i = 0; i < count; i++) wide[i] = values[i];
        return wide;
    }

    ArgumentOutOfRangeException OutOfRange(string what, int value, int position, int height, int width, string name)
    {
        int plane = height * width;
        return new ArgumentOutOfRangeException(name, value,
            $"{what} {value} at (batch {position / plane}, row {position % plane / width}, col {position % width}) is outside the {Classes} classes (0 to {Classes - 1})"
            + (IgnoreIndex is null || what != "Target" ? "." : $" and is not the ignore index {IgnoreIndex}."));
    }

    long TargetCount(int c)
    {
        long n = 0;
        for (int p = 0; p < Classes; p++) n += _confusion[c * Classes + p];
        return n;
    }

    long PredictedCount(int c)
    {
        long n = 0;
        for (int t = 0; t < Classes; t++) n += _confusion[t * Classes + c];
        return n;
    }

    void CheckClass(int c, string name)
    {
        if ((uint)c >= (uint)Classes)
            throw new ArgumentOutOfRangeException(name, c, $"Class {c} is outside the {Classes} classes (0 to {Classes - 1}).");
    }

    static int CheckPixels(int length, string name, int batch, int height, int width)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"Batch {batch}: there must be at least one image.");
        if (height <= 0) throw new ArgumentOutOfRangeException(nameof(height), height, $"Height {height} must be positive.");
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, $"Width {width} must be positive.");
        long needed = (long)batch * height * width;
        if (needed > Array.MaxLength)
            throw new ArgumentException($"{batch}×{height}×{width} = {needed} pixels exceed the largest array.", name);
        if (length < needed)
            throw new ArgumentException($"{name} holds {length} values but {batch}×{height}×{width} = {needed} are needed.", name);
        return (int)needed;
    }

    static double NanMean(double[] values)
    {
        double sum = 0;
        int n = 0;
        foreach (double v in values)
        {
            if (double.IsNaN(v)) continue;
            sum += v;
            n++;
        }
        return n == 0 ? double.NaN : sum / n;
    }
}
