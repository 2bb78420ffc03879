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
    MemoryBuffer1D<float, Stride1D.Dense>? _rowLoss, _rowCorrect;
    readonly float[] _hostResults = new float[4];

    public DeviceTraining(ModelRuntime runtime)
    {
        _runtime = runtime;
        var acc = runtime.Accelerator;
        _results = acc.Allocate1D<float>(4);
        _partials = acc.Allocate1D<float>(NormGroups);
    }

    /// <summary>A kernel loaded once per model (the runtime's own kernels: loss, norm, optimizers).</summary>
    public T Cached<T>(string name, Func<T> load) where T : Delegate
    {
        if (!_kernels.TryGetValue(name, out var kernel)) _kernels[name] = kernel = load();
        return (T)kernel;
    }

    public StepResult Step(ActivationArena a, int output, int classes, int[] labels, IOptimizer optimizer, float labelSmoothing, float clipNorm,
        Action<ActivationArena, int> forward, Action<ActivationArena, int> backward)
    {
        int batch = a.Batch;
        var acc = _runtime.Accelerator;
        if (_labels is null || _labels.Length < batch)
        {
            _labels?.Dispose();
            _rowLoss?.Dispose();
            _rowCorrect?.Dispose();
            _labels = acc.Allocate1D<int>(batch);
            _rowLoss = acc.Allocate1D<float>(batch);
            _rowCorrect = acc.Allocate1D<float>(batch);
        }
        _labels.View.SubView(0, batch).CopyFromCPU(labels);
        _runtime.CountCopy();

        forward(a, batch);
        _runtime.Profiler.Mark(OpProfiler.Other, backward: false);
        a.ZeroGrads();
        var ce = Cached("CrossEntropy", () =>
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, float>(CrossEntropy.RowsKernel));
        _runtime.Launch(ce)(CrossEntropy.RowsKernelConfig(batch), a.View(output), a.GradView(output), _labels.View, _rowLoss!.View, _rowCorrect!.View,
            batch, classes, labelSmoothing);
        var sum = Cached("Sum", () => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float, int>(SumKernel));
        _runtime.Launch(sum)(new KernelConfig(1, Threads), _results.View.SubView(0, 1), _rowLoss.View, batch, 1f / batch, 0);
        _runtime.Launch(sum)(new KernelConfig(1, Threads), _results.View.SubView(1, 1), _rowCorrect.View, batch, 1f, 0);

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
            _runtime.Launch(sum)(new KernelConfig(1, Threads), _results.View.SubView(2, 2), _partials.View, NormGroups, clipNorm, 1);
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
        return new StepResult(results[0], (int)results[1], norm);
    }

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
    }
}

/// <summary>What a training step reports: the mean loss over the batch, how many rows' argmax (the first, on ties) was the
/// label, and the global gradient norm before clipping (NaN when the step did not clip, so did not compute it).</summary>
public readonly record struct StepResult(float Loss, int Correct, float GradNorm);
