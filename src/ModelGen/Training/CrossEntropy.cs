using System;

using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Training;

/// <summary>
/// Softmax cross-entropy over rows of logits, as PyTorch's <c>F.cross_entropy(logits, labels, label_smoothing=ε)</c>
/// with mean reduction: the target of a row is <c>(1−ε)·onehot(label) + ε/classes</c>.
/// </summary>
public static class CrossEntropy
{
    /// <summary>
    /// Returns the mean loss over <paramref name="rows"/> and, when <paramref name="gradLogits"/> is given, writes (not
    /// accumulates) dLoss/dlogits into it: <c>(softmax − target)/rows</c>. The log-softmax subtracts each row's maximum,
    /// and sums are taken in double, so large logits neither overflow nor lose the small terms.
    /// </summary>
    /// <param name="logits">rows × classes, row-major.</param>
    /// <param name="labels">One class index per row.</param>
    /// <param name="rows">Number of rows (the batch); the loss is their mean.</param>
    /// <param name="classes">Logits per row.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="gradLogits">rows × classes, or null to compute only the loss. May be <paramref name="logits"/> itself.</param>
    /// <exception cref="ArgumentOutOfRangeException">A label is outside [0, classes).</exception>
    public static float Forward(float[] logits, int[] labels, int rows, int classes, float labelSmoothing, float[]? gradLogits)
    {
        Validate(logits, labels, rows, classes);
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must lie in [0, 1].");
        if (gradLogits is not null && gradLogits.Length < (long)rows * classes)
            throw new ArgumentException($"gradLogits holds {gradLogits.Length} floats but {rows}×{classes} = {(long)rows * classes} are needed.", nameof(gradLogits));

        double eps = labelSmoothing;
        double offTarget = eps / classes;
        double onTarget = 1 - eps + offTarget;
        double invRows = 1.0 / rows;
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            int label = labels[r];
            if ((uint)label >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), label,
                    $"Label {label} of row {r} is outside the {classes} classes (0 to {classes - 1}).");
            var x = logits.AsSpan(r * classes, classes);
            float max = float.NegativeInfinity;
            for (int c = 0; c < classes; c++) if (x[c] > max) max = x[c];
            double sumExp = 0, sumShifted = 0;
            for (int c = 0; c < classes; c++)
            {
                double s = (double)x[c] - max;
                sumExp += Math.Exp(s);
                sumShifted += s;
            }
            double logSumExp = Math.Log(sumExp);
            // -Σ target_c·log p_c with log p_c = s_c − logSumExp and Σ target_c = 1.
            double nllLabel = logSumExp - ((double)x[label] - max);
            double loss = (1 - eps) * nllLabel;
            if (eps != 0) loss += offTarget * (classes * logSumExp - sumShifted);
            total += loss;

            if (gradLogits is not null)
            {
                var g = gradLogits.AsSpan(r * classes, classes);
                double invSum = 1.0 / sumExp;
                for (int c = 0; c < classes; c++)
                {
                    double p = Math.Exp((double)x[c] - max) * invSum;
                    double target = c == label ? onTarget : offTarget;
                    g[c] = (float)((p - target) * invRows);
                }
            }
        }
        return (float)(total * invRows);
    }

    /// <summary>How many rows' argmax (the first, on ties) equals the label.</summary>
    public static int Correct(float[] logits, int[] labels, int rows, int classes)
    {
        Validate(logits, labels, rows, classes);
        int correct = 0;
        for (int r = 0; r < rows; r++)
        {
            int label = labels[r];
            if ((uint)label >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), label,
                    $"Label {label} of row {r} is outside the {classes} classes (0 to {classes - 1}).");
            if (ArgMax(logits.AsSpan(r * classes, classes)) == label) correct++;
        }
        return correct;
    }

    /// <summary>Index of the largest value (the first on ties; NaN counts as largest, as in torch.argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int c = 1; c < values.Length; c++)
        {
            if (float.IsNaN(values[best])) break;
            if (values[c] > values[best] || float.IsNaN(values[c])) best = c;
        }
        return best;
    }

    static void Validate(float[] logits, int[] labels, int rows, int classes)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "There must be at least one row.");
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "There must be at least one class.");
        if (logits.Length < (long)rows * classes)
            throw new ArgumentException($"logits holds {logits.Length} floats but {rows}×{classes} = {(long)rows * classes} are needed.", nameof(logits));
        if (labels.Length < rows)
            throw new ArgumentException($"labels holds {labels.Length} values but there are {rows} rows.", nameof(labels));
    }

    /// <summary>Checks labels before they go to the device (a kernel cannot throw): every one inside [0, classes).</summary>
    internal static void CheckLabels(int[] labels, int rows, int classes)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != rows)
            throw new ArgumentException($"labels holds {labels.Length} values but the batch has {rows} rows.", nameof(labels));
        for (int r = 0; r < rows; r++)
            if ((uint)labels[r] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), labels[r],
                    $"Label {labels[r]} of row {r} is outside the {classes} classes (0 to {classes - 1}).");
    }

    public const int RowsPerGroup = 8;

    public static KernelConfig RowsKernelConfig(int rows) =>
        new(new Index3D((rows + RowsPerGroup - 1) / RowsPerGroup, 1, 1), new Index3D(32 * RowsPerGroup, 1, 1));

    /// <summary>The device twin of <see cref="Forward"/> and <see cref="Correct"/>, a warp per row: rowLoss[r] is row r's loss,
    /// rowCorrect[r] 1 where its first argmax is the label, and dlogits (written, not accumulated) is (softmax − target)/rows; the mean is the sum of rowLoss over rows (<see cref="Ops.ColumnSums"/>-style
    /// fixed-order reduction in the step). Sums are in float (the host twin's are in double).</summary>
    public static void RowsKernel(ArrayView<float> logits, ArrayView<float> dlogits, ArrayView<int> labels, ArrayView<float> rowLoss,
        ArrayView<float> rowCorrect, int rows, int classes, float labelSmoothing)
    {
        int row = Grid.IdxX * RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * classes;
        float max = float.NegativeInfinity;
        for (int c = lane; c < classes; c += 32) max = MathF.Max(max, logits[o + c]);
        max = Ops.WarpReduce.Max(max);
        // The first class at the maximum, as Correct takes it.
        int first = int.MaxValue;
        for (int c = lane; c < classes; c += 32) if (logits[o + c] == max && c < first) first = c;
        first = Ops.WarpReduce.Min(first);
        float sumExp = 0f, sumShifted = 0f;
        for (int c = lane; c < classes; c += 32)
        {
            float sh = logits[o + c] - max;
            sumExp += MathF.Exp(sh);
            sumShifted += sh;
        }
        sumExp = Ops.WarpReduce.Sum(sumExp);
        sumShifted = Ops.WarpReduce.Sum(sumShifted);
        float logSumExp = MathF.Log(sumExp);
        int label = labels[row];
        float offTarget = labelSmoothing / classes, onTarget = 1f - labelSmoothing + offTarget, invRows = 1f / rows;
        if (lane == 0)
        {
            float loss = (1f - labelSmoothing) * (logSumExp - (logits[o + label] - max));
            if (labelSmoothing != 0f) loss += offTarget * (classes * logSumExp - sumShifted);
            rowLoss[row] = loss;
            rowCorrect[row] = first == label ? 1f : 0f;
        }
        float invSum = 1f / sumExp;
        for (int c = lane; c < classes; c += 32)
            dlogits[o + c] = (MathF.Exp(logits[o + c] - max) * invSum - (c == label ? onTarget : offTarget)) * invRows;
    }
}
