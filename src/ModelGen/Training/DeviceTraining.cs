using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Training;

/// <summary>
/// A classification training step that stays on the device: the inputs and labels go up, the loss comes down, and nothing
/// else crosses — no synchronization inside the step. Forward, softmax cross-entropy with its gradient (a warp per row),
/// the loss summed in a fixed order, backward into the flat gradient buffer, the global gradient norm (two fixed-order
/// passes) and clipping folded into the optimizer's single launch over the flat parameter buffer.
/// </summary>
internal sealed class DeviceTraining : IDisposable
{
    const int Threads = Ops.ColumnSums.GroupThreads, NormGroups = 128;

    readonly ModelRuntime _runtime;
    readonly Dictionary<string, Delegate> _kernels = new(StringComparer.Ordinal);
    /// <summary>What a step returns, in one buffer so one copy brings it: the mean loss, the count of rows whose argmax is the
    /// label, the clipping scale and the gradient norm.</summary>
    readonly MemoryBuffer1D<float, Stride1D.Dense> _results, _partials;
    MemoryBuffer1D<int, Stride1D.Dense>? _labels;
    MemoryBuffer1D<float, Stride1D.Dense>? _rowLoss, _rowCorrect, _rowWeight, _weights;
    float[]? _uploadedWeights;
    /// <summary>[0] the loss (summed), [1] the correct count, [2] the clipping scale, [3] the norm, [4] a loss's total weight.</summary>
    readonly float[] _hostResults = new float[5];

    public DeviceTraining(ModelRuntime runtime)
    {
        _runtime = runtime;
        var acc = runtime.Accelerator;
        _results = acc.Allocate1D<float>(5);
        _partials = acc.Allocate1D<float>(NormGroups);
    }

    /// <summary>A kernel loaded once per model (the runtime's own kernels: loss, norm, optimizers).</summary>
    public T Cached<T>(string name, Func<T> load) where T : Delegate
    {
        if (!_kernels.TryGetValue(name, out var kernel)) _kernels[name] = kernel = load();
        return (T)kernel;
    }

    /// <summary>A classification step: softmax cross-entropy over each row's classes (a warp per row).</summary>
    public StepResult Step(ActivationArena a, int output, int classes, int[] labels, IOptimizer optimizer, float labelSmoothing, float clipNorm,
        Action<ActivationArena, int> forward, Action<ActivationArena, int> backward)
    {
        int batch = a.Batch;
        var acc = _runtime.Accelerator;
        return Run(a, optimizer, clipNorm, forward, backward,
            upload: () => UploadTargets(labels, batch),
            loss: () =>
            {
                var ce = Cached("CrossEntropy", () =>
                    acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, float>(CrossEntropy.RowsKernel));
                _runtime.Launch(ce)(CrossEntropy.RowsKernelConfig(batch), a.View(output), a.GradView(output), _labels!.View, _rowLoss!.View, _rowCorrect!.View,
                    batch, classes, labelSmoothing);
                Sum(0, _rowLoss.View, batch, 1f / batch);
                Sum(1, _rowCorrect.View, batch, 1f);
            },
            finish: r => r[0]);
    }

    /// <summary>A segmentation step: per-pixel softmax cross-entropy over the logits (B, K, H, W), class weights and an ignored
    /// target as <see cref="PixelCrossEntropy"/> (a thread per pixel; the weighted mean's denominator is summed on the device
    /// before the gradient). Correct counts the counted pixels whose argmax is their target.</summary>
    public StepResult StepPixels(ActivationArena a, int output, int classes, int plane, int samples, int[] targets, float[]? classWeights, int? ignoreIndex,
        IOptimizer optimizer, float clipNorm, Action<ActivationArena, int> forward, Action<ActivationArena, int> backward)
    {
        int pixels = samples * plane, ignore = ignoreIndex ?? int.MinValue, hasWeights = classWeights is null ? 0 : 1;
        var acc = _runtime.Accelerator;
        return Run(a, optimizer, clipNorm, forward, backward,
            upload: () =>
            {
                UploadTargets(targets, pixels);
                if (classWeights is not null) UploadWeights(classWeights);
            },
            loss: () =>
            {
                ArrayView<float> weights = classWeights is null ? _runtime.Dummy : _weights!.View;
                var px = Cached("PixelCrossEntropy", () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(PixelCrossEntropy.PixelsKernel));
                _runtime.Launch(px)(pixels, a.View(output), _labels!.View, weights, _rowLoss!.View, _rowWeight!.View, _rowCorrect!.View,
                    pixels, classes, plane, ignore, hasWeights);
                Sum(0, _rowLoss.View, pixels, 1f);
                Sum(1, _rowCorrect.View, pixels, 1f);
                Sum(4, _rowWeight.View, pixels, 1f);
                var grad = Cached("PixelCrossEntropyGradient", () => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>,
                    ArrayView<float>, ArrayView<float>, int, int, int, int, int>(PixelCrossEntropy.GradientKernel));
                _runtime.Launch(grad)(pixels, a.View(output), a.GradView(output), _labels.View, weights, _results.View.SubView(4, 1),
                    pixels, classes, plane, ignore, hasWeights);
            },
            // The weighted mean: Σ w·nll / Σ w, 0 where nothing was counted (as the host twin).
            finish: r => r[4] == 0f ? 0f : r[0] / r[4]);
    }

    /// <summary>
    /// The step itself: the targets go up, forward, the loss and its gradient (<paramref name="loss"/>, which writes the summed
    /// loss into results[0] and the correct count into results[1]), backward into the flat gradient buffer, the global norm
    /// and clipping, the optimizer; then the one download of the results.
    /// </summary>
    StepResult Run(ActivationArena a, IOptimizer optimizer, float clipNorm, Action<ActivationArena, int> forward, Action<ActivationArena, int> backward,
        Action upload, Action loss, Func<float[], float> finish)
    {
        int batch = a.Batch;
        var acc = _runtime.Accelerator;
        upload();
        forward(a, batch);
        _runtime.Profiler.Mark(OpProfiler.Other, backward: false);
        a.ZeroGrads();
        loss();

        _runtime.Clear(_runtime.FlatGrads);
        backward(a, batch);
        _runtime.Profiler.Mark(OpProfiler.Other, backward: false);

        bool clipped = clipNorm > 0;
        float hostNorm = float.NaN;
        if (clipped)
        {
            int n = (int)_runtime.TrainableLength;
            var squares = Cached("Squares", () => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(SquaresKernel));
            _runtime.Launch(squares)(new KernelConfig(NormGroups, Threads), _partials.View, _runtime.FlatGrads, n);
            _runtime.Launch(SumLoaded)(new KernelConfig(1, Threads), _results.View.SubView(2, 2), _partials.View, NormGroups, clipNorm, 1);
        }
        bool onDevice = optimizer is IDeviceOptimizer { CanStepOnDevice: true };
        if (onDevice) ((IDeviceOptimizer)optimizer).StepDevice(_runtime, _results.View.SubView(2, 1), clipped);
        else
        {
            // An optimizer without a device twin steps on the host: the gradients come down (one copy), the new values go up
            // before the next pass.
            _runtime.DownloadGrads();
            if (clipped) hostNorm = GradientClipping.ClipByGlobalNorm(_runtime.Parameters, clipNorm);
            optimizer.Step();
        }
        // Running statistics were updated by the forward on the device; the weights too when the optimizer stepped there.
        _runtime.MarkDeviceNewer(trainable: false);
        if (onDevice)
        {
            _runtime.MarkDeviceNewer(trainable: true);
            _runtime.GradsDeviceNewer = true;
        }

        var results = _hostResults;
        acc.Synchronize();
        _results.View.CopyToCPU(results);
        _runtime.CountCopy();
        float norm = !clipped ? float.NaN : onDevice ? results[3] : hostNorm;
        return new StepResult(finish(results), (int)results[1], norm);
    }

    /// <summary>The targets (one per row or pixel) up, one copy; the per-row scratch grows to fit.</summary>
    void UploadTargets(int[] targets, int rows)
    {
        var acc = _runtime.Accelerator;
        if (_labels is null || _labels.Length < rows)
        {
            _labels?.Dispose();
            _rowLoss?.Dispose();
            _rowCorrect?.Dispose();
            _rowWeight?.Dispose();
            _labels = acc.Allocate1D<int>(rows);
            _rowLoss = acc.Allocate1D<float>(rows);
            _rowCorrect = acc.Allocate1D<float>(rows);
            _rowWeight = acc.Allocate1D<float>(rows);
        }
        ArrayView<int> view = _labels.View.SubView(0, rows);
        view.CopyFromCPU(targets.AsSpan(0, rows));
        _runtime.CountCopy();
    }

    /// <summary>Class weights go up only when they differ from the last ones uploaded.</summary>
    void UploadWeights(float[] weights)
    {
        if (_weights is not null && _uploadedWeights is not null && weights.AsSpan().SequenceEqual(_uploadedWeights)) return;
        if (_weights is null || _weights.Length != weights.Length)
        {
            _weights?.Dispose();
            _weights = _runtime.Accelerator.Allocate1D<float>(weights.Length);
        }
        _weights.View.CopyFromCPU(weights);
        _runtime.CountCopy();
        _uploadedWeights = (float[])weights.Clone();
    }

    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, float, int> SumLoaded =>
        Cached("Sum", () => _runtime.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float, int>(SumKernel));

    /// <summary>results[slot] = factor · Σ src[0, n), in one group's fixed order.</summary>
    void Sum(int slot, ArrayView<float> src, int n, float factor) =>
        _runtime.Launch(SumLoaded)(new KernelConfig(1, Threads), _results.View.SubView(slot, 1), src, n, factor, 0);

    /// <summary>One group sums src[0, n) in a fixed order (strided per thread, then a halving tree). Mode 0: dst[0] = sum·factor
    /// (the mean loss). Mode 1: src holds squares; dst[1] = the norm √sum and dst[0] the clipping scale for max norm
    /// <c>factor</c>, as PyTorch's clip_grad_norm_: max/(norm + 1e-6) when below 1, else 1 (also for a non-finite norm, which
    /// the host path leaves unclipped too).</summary>
    static void SumKernel(ArrayView<float> dst, ArrayView<float> src, int n, float factor, int mode)
    {
        var shared = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX;
        float s = 0f;
        for (int i = t; i < n; i += Threads) s += src[i];
        float total = Ops.ColumnSums.GroupSum(shared, s);
        if (t != 0) return;
        if (mode == 0)
        {
            dst[0] = total * factor;
            return;
        }
        float norm = MathF.Sqrt(total);
        float coef = factor / (norm + 1e-6f);
        dst[0] = coef < 1f && !float.IsNaN(norm) && !float.IsInfinity(norm) ? coef : 1f;
        dst[1] = norm;
    }

    /// <summary>Each of <see cref="NormGroups"/> groups sums the squares of its stride of g[0, n) into partials[group], in a fixed order.</summary>
    static void SquaresKernel(ArrayView<float> partials, ArrayView<float> g, int n)
    {
        var shared = SharedMemory.Allocate<float>(Threads);
        int t = Group.IdxX;
        float s = 0f;
        for (long i = (long)Grid.IdxX * Threads + t; i < n; i += (long)NormGroups * Threads)
        {
            float v = g[i];
            s += v * v;
        }
        s = Ops.ColumnSums.GroupSum(shared, s);
        if (t == 0) partials[Grid.IdxX] = s;
    }

    public void Dispose()
    {
        _results.Dispose();
        _partials.Dispose();
        _labels?.Dispose();
        _rowLoss?.Dispose();
        _rowCorrect?.Dispose();
        _rowWeight?.Dispose();
        _weights?.Dispose();
    }
}

/// <summary>What a training step reports: the mean loss over the batch, how many rows' argmax (the first, on ties) was the
/// label, and the global gradient norm before clipping (NaN when the step did not clip, so did not compute it).</summary>
public readonly record struct StepResult(float Loss, int Correct, float GradNorm);
