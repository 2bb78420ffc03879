using System;
using ModelGen.Cpu;
using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Training;

/// <summary>
/// Per-pixel softmax cross-entropy for segmentation, as PyTorch's <c>F.cross_entropy(logits, targets, weight=w,
/// ignore_index=i)</c> with mean reduction on logits (B, K, H, W) in NCHW layout and targets (B, H, W): the softmax
/// runs over the K class logits of each pixel, whose stride is H·W.
/// </summary>
/// <remarks>
/// Unweighted, the loss is the mean over pixels of <c>−log softmax(x)[target]</c>. With class weights w it is PyTorch's
/// weighted mean <c>Σ w[t]·nll / Σ w[t]</c> over the counted pixels. Pixels whose target equals the ignore index count
/// for nothing (loss, denominator, gradient). Where nothing is counted (every pixel ignored, or all their weights
/// zero) PyTorch returns NaN; this returns 0 with a zero gradient, so one empty batch cannot poison the weights.
/// </remarks>
public static class PixelCrossEntropy
{
    /// <summary>
    /// Returns the mean loss and, when <paramref name="gradLogits"/> is given, writes (not accumulates) dLoss/dlogits
    /// into it: <c>w[t]·(softmax − onehot(t)) / Σ w[t]</c> per pixel (w = 1 unweighted), 0 at ignored pixels. Each
    /// pixel's logits are shifted by their maximum before the exponential, so large logits do not overflow; the
    /// element-wise work is SIMD float, the logarithms and the sum over pixels double.
    /// </summary>
    /// <param name="logits">B·K·H·W floats, NCHW.</param>
    /// <param name="targets">B·H·W class indices in [0, K) (or the ignore index).</param>
    /// <param name="batch">B.</param>
    /// <param name="classes">K.</param>
    /// <param name="height">H.</param>
    /// <param name="width">W.</param>
    /// <param name="classWeights">K non-negative finite weights, or null for 1 each.</param>
    /// <param name="ignoreIndex">A target value to skip (e.g. 255), or null.</param>
    /// <param name="gradLogits">B·K·H·W floats, or null for the loss only. May be <paramref name="logits"/> itself.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or a target is outside [0, K) and not ignored.</exception>
    /// <exception cref="ArgumentException">A buffer is too short, or a class weight is negative or not finite.</exception>
    public static float Forward(float[] logits, byte[] targets, int batch, int classes, int height, int width,
        float[]? classWeights = null, int? ignoreIndex = null, float[]? gradLogits = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var t = new int[CheckTargets(targets.Length, batch, height, width)];
        for (int i = 0; i < t.Length; i++) t[i] = targets[i];
        return Compute(logits, t, batch, classes, height, width, classWeights, ignoreIndex, gradLogits);
    }

    /// <inheritdoc cref="Forward(float[], byte[], int, int, int, int, float[], int?, float[])"/>
    public static float Forward(float[] logits, int[] targets, int batch, int classes, int height, int width,
        float[]? classWeights = null, int? ignoreIndex = null, float[]? gradLogits = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        CheckTargets(targets.Length, batch, height, width);
        return Compute(logits, targets, batch, classes, height, width, classWeights, ignoreIndex, gradLogits);
    }

    static int CheckTargets(int length, int batch, int height, int width)
    {
        CheckSizes(batch, 1, height, width);
        long needed = (long)batch * height * width;
        if (length < needed)
            throw new ArgumentException($"targets holds {length} values but {batch}×{height}×{width} = {needed} are needed.", "targets");
        return (int)needed;
    }

    static void CheckSizes(int batch, int classes, int height, int width)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, $"Batch {batch}: there must be at least one image.");
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"Classes {classes}: there must be at least one class.");
        if (height <= 0) throw new ArgumentOutOfRangeException(nameof(height), height, $"Height {height} must be positive.");
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, $"Width {width} must be positive.");
    }

    static float Compute(float[] logits, int[] targets, int batch, int classes, int height, int width,
        float[]? classWeights, int? ignoreIndex, float[]? gradLogits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        CheckSizes(batch, classes, height, width);
        long total = (long)batch * classes * height * width;
        if (total > Array.MaxLength)
            throw new ArgumentException($"{batch}×{classes}×{height}×{width} = {total} logits exceed the largest array.", nameof(logits));
        if (logits.Length < total)
            throw new ArgumentException($"logits holds {logits.Length} floats but {batch}×{classes}×{height}×{width} = {total} are needed.", nameof(logits));
        if (gradLogits is not null && gradLogits.Length < total)
            throw new ArgumentException($"gradLogits holds {gradLogits.Length} floats but {batch}×{classes}×{height}×{width} = {total} are needed.", nameof(gradLogits));
        CheckWeightsAndTargets(targets, batch, classes, height, width, classWeights, ignoreIndex);
        int plane = height * width;
        int ignore = ignoreIndex ?? int.MinValue;

        // Pass 1, per image: e = exp(x − max) for every logit (into gradLogits when given, else a scratch plane), the
        // per-pixel sums of e, and each pixel's nll and weight. Element-wise work is SIMD float (TensorPrimitives); the
        // logarithms and the loss sums are double. Images run in parallel; their sums are added in order afterwards,
        // so the result does not depend on the scheduling.
        var sums = new float[batch * plane];
        var lossSums = new double[batch];
        var weightSums = new double[batch];
        Workers.For(batch, b =>
        {
            int baseIndex = b * classes * plane;
            var pixelTargets = targets.AsSpan(b * plane, plane);
            var max = new float[plane];
            var targetLogit = new float[plane];
            var sumExp = sums.AsSpan(b * plane, plane);
            var scratch = gradLogits is null ? new float[plane] : null;
            logits.AsSpan(baseIndex, plane).CopyTo(max);
            for (int k = 1; k < classes; k++)
                TensorPrimitives.Max(max, logits.AsSpan(baseIndex + k * plane, plane), max);
            for (int p = 0; p < plane; p++)
            {
                int t = pixelTargets[p];
                targetLogit[p] = t == ignore ? 0f : logits[baseIndex + t * plane + p]; // read before gradLogits may overwrite it
            }
            for (int k = 0; k < classes; k++)
            {
                var e = scratch ?? gradLogits.AsSpan(baseIndex + k * plane, plane);
                TensorPrimitives.Subtract(logits.AsSpan(baseIndex + k * plane, plane), max, e);
                TensorPrimitives.Exp(e, e);
                TensorPrimitives.Add(sumExp, e, sumExp);
            }
            double loss = 0, weight = 0;
            for (int p = 0; p < plane; p++)
            {
                int t = pixelTargets[p];
                if (t == ignore) continue;
                double w = classWeights is null ? 1.0 : classWeights[t];
                loss += w * ((double)max[p] + Math.Log(sumExp[p]) - targetLogit[p]);
                weight += w;
            }
            lossSums[b] = loss;
            weightSums[b] = weight;
        });
        double lossTotal = 0, weightTotal = 0;
        for (int b = 0; b < batch; b++)
        {
            lossTotal += lossSums[b];
            weightTotal += weightSums[b];
        }
        if (weightTotal == 0)
        {
            if (gradLogits is not null) Array.Clear(gradLogits, 0, (int)total);
            return 0f;
        }

        if (gradLogits is not null)
        {
            // Pass 2: gradLogits holds e; each pixel's column becomes s·e/Σe − s·onehot(t) with s = w[t]/Σw.
            double scale = 1.0 / weightTotal;
            Workers.For(batch, b =>
            {
                int baseIndex = b * classes * plane;
                var pixelTargets = targets.AsSpan(b * plane, plane);
                var sumExp = sums.AsSpan(b * plane, plane);
                var pixelScale = new float[plane];
                var factor = new float[plane];
                bool anyZero = false;
                for (int p = 0; p < plane; p++)
                {
                    int t = pixelTargets[p];
                    double sp = t == ignore ? 0.0 : scale * (classWeights is null ? 1.0 : classWeights[t]);
                    pixelScale[p] = (float)sp;
                    factor[p] = (float)(sp / sumExp[p]);
                    anyZero |= sp == 0.0;
                }
                for (int k = 0; k < classes; k++)
                {
                    var g = gradLogits.AsSpan(baseIndex + k * plane, plane);
                    TensorPrimitives.Multiply(g, factor, g);
                }
                for (int p = 0; p < plane; p++)
                {
                    if (pixelScale[p] != 0f) gradLogits[baseIndex + pixelTargets[p] * plane + p] -= pixelScale[p];
                }
                if (!anyZero) return;
                // An ignored (or zero-weight) pixel gets no gradient, even where its logits are not finite.
                for (int p = 0; p < plane; p++)
                {
                    if (pixelScale[p] != 0f) continue;
                    for (int k = 0; k < classes; k++) gradLogits[baseIndex + k * plane + p] = 0f;
                }
            });
        }
        return (float)(lossTotal / weightTotal);
    }

    /// <summary>Every target a class or the ignore index, every class weight finite and non-negative; the error names the first
    /// that is not (with its pixel).</summary>
    internal static void CheckWeightsAndTargets(int[] targets, int batch, int classes, int height, int width, float[]? classWeights, int? ignoreIndex)
    {
        if (classWeights is not null)
        {
            if (classWeights.Length != classes)
                throw new ArgumentException($"classWeights holds {classWeights.Length} weights but there are {classes} classes.", nameof(classWeights));
            for (int c = 0; c < classes; c++)
            {
                if (!(classWeights[c] >= 0f) || float.IsInfinity(classWeights[c]))
                    throw new ArgumentException($"Class weight {classWeights[c]} of class {c} must be finite and non-negative.", nameof(classWeights));
            }
        }
        int plane = height * width;
        int ignore = ignoreIndex ?? int.MinValue;
        for (int i = 0; i < batch * plane; i++)
        {
            int t = targets[i];
            if (t != ignore && (uint)t >= (uint)classes)
            {
                int b = i / plane, r = i % plane / width, c = i % width;
                throw new ArgumentOutOfRangeException("targets", t,
                    $"Target {t} at (batch {b}, row {r}, col {c}) is outside the {classes} classes (0 to {classes - 1})"
                    + (ignoreIndex is null ? "." : $" and is not the ignore index {ignoreIndex}."));
            }
        }
    }

    /// <summary>Checks the targets of a training step (B·H·W of them) before anything runs.</summary>
    internal static void CheckStep(int[] targets, int batch, int classes, int height, int width, float[]? classWeights, int? ignoreIndex)
    {
        ArgumentNullException.ThrowIfNull(targets);
        CheckTargets(targets.Length, batch, height, width);
        CheckWeightsAndTargets(targets, batch, classes, height, width, classWeights, ignoreIndex);
    }

    /// <summary>The counted (not ignored) pixels whose first argmax over the classes is their target.</summary>
    public static int Correct(float[] logits, int[] targets, int batch, int classes, int height, int width, int? ignoreIndex = null)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        CheckSizes(batch, classes, height, width);
        CheckTargets(targets.Length, batch, height, width);
        int plane = height * width, ignore = ignoreIndex ?? int.MinValue, correct = 0;
        for (int i = 0; i < batch * plane; i++)
        {
            int t = targets[i];
            if (t == ignore) continue;
            int b = i / plane;
            if (FirstArgMax(logits, (long)b * classes * plane + i - b * plane, classes, plane) == t) correct++;
        }
        return correct;
    }

    /// <summary>The first class at a pixel's largest logit (strictly larger replaces), as the device kernel takes it.</summary>
    static int FirstArgMax(float[] logits, long at, int classes, int plane)
    {
        int first = 0;
        float max = logits[at];
        for (int k = 1; k < classes; k++)
        {
            float v = logits[at + (long)k * plane];
            if (v > max) { max = v; first = k; }
        }
        return first;
    }

    // Device kernels of a segmentation training step: a thread per pixel (its K logits a plane apart, so a warp's reads are
    // consecutive), sums in the step's fixed-order reduction, then the gradient once the total weight is known.

    /// <summary>Extent: B·H·W. Pixel i's weighted loss w[t]·(−log softmax(x)[t]), its weight w[t] (0 when ignored) and whether its
    /// first argmax is t. When <paramref name="hasWeights"/> is false, weights is an unused dummy.</summary>
    public static void PixelsKernel(Index1D i, ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> weights, ArrayView<float> pixelLoss,
        ArrayView<float> pixelWeight, ArrayView<float> pixelCorrect, int pixels, int classes, int plane, int ignore, int hasWeights)
    {
        if (i >= pixels) return;
        int t = targets[i];
        if (t == ignore)
        {
            pixelLoss[i] = 0f;
            pixelWeight[i] = 0f;
            pixelCorrect[i] = 0f;
            return;
        }
        int b = i / plane;
        long at = (long)b * classes * plane + i - b * plane;
        float max = logits[at];
        int first = 0;
        for (int k = 1; k < classes; k++)
        {
            float v = logits[at + (long)k * plane];
            if (v > max) { max = v; first = k; }
        }
        float sum = 0f;
        for (int k = 0; k < classes; k++) sum += MathF.Exp(logits[at + (long)k * plane] - max);
        float w = hasWeights != 0 ? weights[t] : 1f;
        pixelLoss[i] = w * (max + MathF.Log(sum) - logits[at + (long)t * plane]);
        pixelWeight[i] = w;
        pixelCorrect[i] = first == t ? 1f : 0f;
    }

    /// <summary>Extent: B·H·W. dlogits (written) = s·softmax − s·onehot(t) with s = w[t]/Σw, where total[0] = Σw over the
    /// counted pixels; 0 at ignored or zero-weight pixels, and everywhere when nothing was counted.</summary>
    public static void GradientKernel(Index1D i, ArrayView<float> logits, ArrayView<float> dlogits, ArrayView<int> targets, ArrayView<float> weights,
        ArrayView<float> total, int pixels, int classes, int plane, int ignore, int hasWeights)
    {
        if (i >= pixels) return;
        int t = targets[i], b = i / plane;
        long at = (long)b * classes * plane + i - b * plane;
        float all = total[0];
        float scale = t == ignore || all == 0f ? 0f : (hasWeights != 0 ? weights[t] : 1f) / all;
        if (scale == 0f)
        {
            for (int k = 0; k < classes; k++) dlogits[at + (long)k * plane] = 0f;
            return;
        }
        float max = logits[at];
        for (int k = 1; k < classes; k++) max = MathF.Max(max, logits[at + (long)k * plane]);
        float sum = 0f;
        for (int k = 0; k < classes; k++) sum += MathF.Exp(logits[at + (long)k * plane] - max);
        float factor = scale / sum;
        for (int k = 0; k < classes; k++)
        {
            long j = at + (long)k * plane;
            dlogits[j] = MathF.Exp(logits[j] - max) * factor - (k == t ? scale : 0f);
        }
    }
}
