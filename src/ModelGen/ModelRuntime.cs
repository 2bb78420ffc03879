using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen;

/// <summary>
/// What every generated model holds: its device, parameters, mode and, on an ILGPU device, the parameters and their
/// gradients in two flat device buffers (decayed trainable parameters first, then the other trainable ones, then buffers
/// such as running statistics), so an optimizer, clipping or a memset covers them in one launch. Generated code calls it;
/// users reach it through the model's properties.
/// </summary>
/// <remarks>
/// Who holds the newest values: the host after a host-side change (<see cref="Parameter.MarkChanged"/>, which uploads before
/// the next device pass); the device after a device-side step (<see cref="TrainStep"/>) or a training forward pass (running
/// statistics), until <see cref="ParameterSet.Synchronize"/> (which saving calls) brings them back in one copy.
/// </remarks>
public sealed class ModelRuntime : IDisposable
{
    /// <summary>Parameters start at multiples of 32 floats (128 bytes) in the flat buffers.</summary>
    const int Alignment = 32;

    readonly MemoryBuffer1D<float, Stride1D.Dense>? _values;
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _grads;
    readonly long[] _offsets;
    readonly int[]? _uploadedVersion;
    readonly bool[]? _deviceNewer;
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _dummy;
    MemoryBuffer1D<float, Stride1D.Dense>? _workspace;
    readonly List<IDisposable> _owned = new();
    readonly Dictionary<float[], MemoryBuffer1D<float, Stride1D.Dense>> _constants = new(ReferenceEqualityComparer.Instance);
    float[]? _staging;
    ModelGen.Training.DeviceTraining? _training;

    public ModelRuntime(Device device, ParameterSet parameters, int seed, IReadOnlyList<OpInfo>? ops = null)
    {
        Device = device ?? throw new ArgumentNullException(nameof(device));
        Parameters = parameters;
        Seed = seed;
        Profiler = new OpProfiler(this, ops ?? Array.Empty<OpInfo>());
        _offsets = new long[parameters.Count];
        long total = 0;
        // Layout: decayed trainable, other trainable, untrainable; each group in declaration order.
        foreach (int group in new[] { 0, 1, 2 })
        {
            if (group == 1) DecayedLength = total;
            if (group == 2) TrainableLength = total;
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                int g = !p.Trainable ? 2 : p.Decay ? 0 : 1;
                if (g != group) continue;
                _offsets[i] = total;
                total += (p.Value.Length + Alignment - 1) / Alignment * Alignment;
            }
        }
        FlatLength = total;
        if (device.Accelerator is { } acc)
        {
            _values = acc.Allocate1D<float>(Math.Max(1, total));
            _grads = acc.Allocate1D<float>(Math.Max(1, total));
            _values.MemSetToZero();
            _grads.MemSetToZero();
            _uploadedVersion = new int[parameters.Count];
            _deviceNewer = new bool[parameters.Count];
            Array.Fill(_uploadedVersion, -1);
            _dummy = acc.Allocate1D<float>(1);
            _dummy.MemSetToZero();
            parameters.Synchronizer = SynchronizeParameters;
        }
    }

    /// <summary>Times each op's kernels on a device.</summary>
    public OpProfiler Profiler { get; }

    /// <summary>Floats in each flat buffer, padding included.</summary>
    public long FlatLength { get; }

    /// <summary>The flat buffers' first floats hold the trainable parameters: [0, DecayedLength) those with weight decay,
    /// [DecayedLength, TrainableLength) those without.</summary>
    public long TrainableLength { get; }

    public long DecayedLength { get; }


    public Device Device { get; }

    public ParameterSet Parameters { get; }

    /// <summary>Training mode turns dropout on.</summary>
    public bool Training { get; set; }

    public int Seed { get; }

    /// <summary>Counts forward passes, so each pass draws fresh dropout masks.</summary>
    public int Step { get; private set; }

    public bool OnAccelerator => Device.Accelerator is not null;

    /// <summary>Whether the matrix products run on TF32 tensor cores (<see cref="ModelGen.Device.Tf32"/>); kernels that take it are
    /// compiled specialized to it.</summary>
    public bool TensorCores => Device.Tf32;

    /// <summary><see cref="TensorCores"/> as the kernels take it: a value ILGPU specializes them to (1 on, 0 off).</summary>
    public ILGPU.Runtime.SpecializedValue<int> TensorCoresValue => ILGPU.Runtime.SpecializedValue.New(TensorCores ? 1 : 0);

    public Accelerator Accelerator => Device.Accelerator ?? throw new InvalidOperationException("The model runs on the CPU backend.");

    /// <summary>Checks a batched input against its per-sample shape and returns the batch size.</summary>
    public static int BatchOf(Tensor input, string name, int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(input, name);
        bool ok = input.Rank == sampleShape.Length + 1 && input.Shape[0] > 0;
        for (int i = 0; ok && i < sampleShape.Length; i++) ok = input.Shape[i + 1] == sampleShape[i];
        if (!ok) throw new ShapeMismatchException(name, Expected(sampleShape, "B"), input.Shape);
        return input.Shape[0];
    }

    /// <summary>Checks a further input against its per-sample shape and the batch the first input set.</summary>
    public static void CheckInput(Tensor input, string name, int[] sampleShape, int batch)
    {
        ArgumentNullException.ThrowIfNull(input, name);
        bool ok = input.Rank == sampleShape.Length + 1 && input.Shape[0] == batch;
        for (int i = 0; ok && i < sampleShape.Length; i++) ok = input.Shape[i + 1] == sampleShape[i];
        if (!ok) throw new ShapeMismatchException(name, Expected(sampleShape, batch.ToString(System.Globalization.CultureInfo.InvariantCulture)), input.Shape);
    }

    static string Expected(int[] sampleShape, string batch)
    {
        var dims = new string[sampleShape.Length + 1];
        dims[0] = batch;
        for (int i = 0; i < sampleShape.Length; i++) dims[i + 1] = sampleShape[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "(" + string.Join(", ", dims) + ")";
    }

    /// <summary>Called once per forward pass, with its batch (so the profiler can cost the ops at it).</summary>
    public void BeginForward(int batch)
    {
        Step++;
        Profiler.Batch(batch);
    }

    /// <summary>A dropout seed distinct per pass and per dropout site.</summary>
    public uint DropoutSeed(int site) => unchecked((uint)(Seed * 73856093) ^ (uint)(Step * 19349663) ^ (uint)(site * 83492791));

    // ---- device side ----

    public MemoryBuffer1D<float, Stride1D.Dense> Allocate(long length)
    {
        var b = Accelerator.Allocate1D<float>(Math.Max(1, length));
        b.MemSetToZero();
        return b;
    }

    public ArrayView<float> Dummy => _dummy!.View;

    /// <summary>The model's device workspace (split-K partial products), at least <paramref name="floats"/> long. Every launch of a
    /// model asks for the same size (its largest), so it is allocated once, on first use.</summary>
    public ArrayView<float> Workspace(long floats)
    {
        if (_workspace is null || _workspace.Length < floats)
        {
            // Kernels still queued may read the old buffer: let them finish before it goes.
            if (_workspace is not null) Accelerator.Synchronize();
            _workspace?.Dispose();
            _workspace = Accelerator.Allocate1D<float>(Math.Max(1, floats));
        }
        return _workspace.View;
    }

    /// <summary>The device copy of parameter <paramref name="index"/>, refreshed if the host value changed.</summary>
    public ArrayView<float> Value(int index)
    {
        var p = Parameters[index];
        var view = _values!.View.SubView(_offsets[index], p.Value.Length);
        if (_uploadedVersion![index] != p.Version)
        {
            // A host-side change wins over a newer device value.
            view.CopyFromCPU(p.Value);
            Device.Counters.Copies++;
            _uploadedVersion[index] = p.Version;
            _deviceNewer![index] = false;
        }
        return view;
    }

    public ArrayView<float> Grad(int index) => _grads!.View.SubView(_offsets[index], Parameters[index].Value.Length);

    /// <summary>Every parameter's device value, refreshed where the host changed (before a step over the flat buffer).</summary>
    internal ArrayView<float> FlatValues()
    {
        for (int i = 0; i < Parameters.Count; i++) Value(i);
        return _values!.View;
    }

    internal ArrayView<float> FlatGrads => _grads!.View;

    /// <summary>After a device step (or a training pass that updates running statistics): the device holds the newest values.</summary>
    internal void MarkDeviceNewer(bool trainable)
    {
        for (int i = 0; i < Parameters.Count; i++)
            if (Parameters[i].Trainable == trainable) _deviceNewer![i] = true;
    }

    /// <summary>After a device step the gradients on the device are newer than the host's.</summary>
    internal bool GradsDeviceNewer { get; set; }

    /// <summary>Brings device-newer values (and gradients) to the host, one copy each; a parameter the host changed meanwhile
    /// keeps the host's value.</summary>
    void SynchronizeParameters(bool values)
    {
        if (!values)
        {
            GradsDeviceNewer = false;
            return;
        }
        if (GradsDeviceNewer)
        {
            GradsDeviceNewer = false;
            DownloadGrads();
        }
        if (Array.IndexOf(_deviceNewer!, true) < 0) return;
        var host = Stage(_values!);
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (!_deviceNewer![i] || _uploadedVersion![i] != p.Version) continue;
            Array.Copy(host, _offsets[i], p.Value, 0, p.Value.Length);
            _deviceNewer[i] = false;
        }
    }

    /// <summary>The whole of a flat buffer on the host, in one copy (after the device finishes).</summary>
    float[] Stage(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        Accelerator.Synchronize();
        _staging ??= new float[Math.Max(1, FlatLength)];
        buffer.View.CopyToCPU(_staging);
        Device.Counters.Copies++;
        return _staging;
    }

    /// <summary>The device copy of a fixed table (uploaded once).</summary>
    public ArrayView<float> Constant(float[] table)
    {
        if (!_constants.TryGetValue(table, out var buffer))
        {
            buffer = Accelerator.Allocate1D(table);
            Device.Counters.Copies++;
            _constants[table] = buffer;
        }
        return buffer.View;
    }

    /// <summary>After a device forward in training: buffers the kernels update (running statistics) are copied back to
    /// the host, so checkpoints and the CPU see them.</summary>
    public void DownloadBuffers()
    {
        MarkDeviceNewer(trainable: false);
        SynchronizeParameters(true);
    }

    /// <summary>Before a device backward: device gradients start from the host's, since backward accumulates (one copy).</summary>
    public void UploadGrads()
    {
        _staging ??= new float[Math.Max(1, FlatLength)];
        for (int i = 0; i < Parameters.Count; i++) Array.Copy(Parameters[i].Grad, 0, _staging, _offsets[i], Parameters[i].Grad.Length);
        _grads!.View.CopyFromCPU(_staging);
        Device.Counters.Copies++;
    }

    /// <summary>After a device backward: host gradients take the accumulated device values (one copy).</summary>
    public void DownloadGrads()
    {
        var host = Stage(_grads!);
        for (int i = 0; i < Parameters.Count; i++) Array.Copy(host, _offsets[i], Parameters[i].Grad, 0, Parameters[i].Grad.Length);
    }

    /// <summary>Counts a kernel launch and returns the kernel (generated launchers call it around the loaded delegate).</summary>
    public T Launch<T>(T kernel)
    {
        Device.Counters.Launches++;
        return kernel;
    }

    internal void CountCopy() => Device.Counters.Copies++;

    /// <summary>Clears a device buffer (a memset, counted as a launch).</summary>
    internal void Clear(ArrayView<float> view)
    {
        view.MemSetToZero();
        Device.Counters.Launches++;
    }

    /// <summary>
    /// One training step with softmax cross-entropy over the output's classes (mean over the batch, label smoothing as
    /// PyTorch's <c>F.cross_entropy</c>): zero the gradients, forward, loss, backward, clip the global gradient norm to
    /// <paramref name="clipNorm"/> (0: no clipping), one optimizer step. Returns the loss, the rows predicted right and the norm. The inputs must already be in the
    /// arena. On the CPU backend it is exactly that loop; on a device it stays there (<see cref="ModelGen.Training.DeviceTraining"/>).
    /// </summary>
    public ModelGen.Training.StepResult TrainStep(ActivationArena a, int output, int classes, int[] labels, ModelGen.Training.IOptimizer optimizer, float labelSmoothing, float clipNorm,
        Action<ActivationArena, int> forwardCpu, Action<ActivationArena, int> forwardDevice,
        Action<ActivationArena, int> backwardCpu, Action<ActivationArena, int> backwardDevice)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must lie in [0, 1].");
        if (!(clipNorm >= 0f)) throw new ArgumentOutOfRangeException(nameof(clipNorm), clipNorm, "The clipping norm must be 0 (none) or positive.");
        int batch = a.Batch;
        ModelGen.Training.CrossEntropy.CheckLabels(labels, batch, classes);
        if (OnAccelerator) return Trainer.Step(a, output, classes, labels, optimizer, labelSmoothing, clipNorm, forwardDevice, backwardDevice);
        return HostStep(a, optimizer, clipNorm, forwardCpu, backwardCpu, () =>
            (ModelGen.Training.CrossEntropy.Forward(a[output], labels, batch, classes, labelSmoothing, a.Grad(output)),
             ModelGen.Training.CrossEntropy.Correct(a[output], labels, batch, classes)));
    }

    /// <summary>A segmentation model's training step: per-pixel softmax cross-entropy of the logits (B, K, H, W) against targets
    /// (B·H·W class indices), weighted and with an ignored target as <see cref="ModelGen.Training.PixelCrossEntropy"/>; then
    /// backward, clipping and the optimizer step. On a device it stays there like <see cref="TrainStep"/>. Correct counts the
    /// counted pixels whose argmax is their target.</summary>
    public ModelGen.Training.StepResult SegmentationTrainStep(ActivationArena a, int output, int classes, int height, int width, int[] targets,
        float[]? classWeights, int? ignoreIndex, ModelGen.Training.IOptimizer optimizer, float clipNorm,
        Action<ActivationArena, int> forwardCpu, Action<ActivationArena, int> forwardDevice,
        Action<ActivationArena, int> backwardCpu, Action<ActivationArena, int> backwardDevice)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!(clipNorm >= 0f)) throw new ArgumentOutOfRangeException(nameof(clipNorm), clipNorm, "The clipping norm must be 0 (none) or positive.");
        int batch = a.Batch;
        ModelGen.Training.PixelCrossEntropy.CheckStep(targets, batch, classes, height, width, classWeights, ignoreIndex);
        if (OnAccelerator)
            return Trainer.StepPixels(a, output, classes, height * width, a.Batch, targets, classWeights, ignoreIndex, optimizer, clipNorm, forwardDevice, backwardDevice);
        return HostStep(a, optimizer, clipNorm, forwardCpu, backwardCpu, () =>
            (ModelGen.Training.PixelCrossEntropy.Forward(a[output], targets, batch, classes, height, width, classWeights, ignoreIndex, a.Grad(output)),
             ModelGen.Training.PixelCrossEntropy.Correct(a[output], targets, batch, classes, height, width, ignoreIndex)));
    }

    /// <summary>A sequence model's training step: softmax cross-entropy of the logits (B, tokens, K) against one target per token
    /// (B·tokens class indices, a target equal to <paramref name="ignoreIndex"/> counted for nothing), the mean over the counted
    /// tokens as PyTorch's <c>F.cross_entropy(logits.view(-1, K), targets.view(-1), ignore_index=…)</c>; then backward, clipping and
    /// the optimizer step. On a device it stays there like <see cref="TrainStep"/>. Correct counts the counted tokens whose argmax
    /// is their target.</summary>
    public ModelGen.Training.StepResult SequenceTrainStep(ActivationArena a, int output, int tokens, int classes, int[] targets, int? ignoreIndex,
        ModelGen.Training.IOptimizer optimizer, float clipNorm,
        Action<ActivationArena, int> forwardCpu, Action<ActivationArena, int> forwardDevice,
        Action<ActivationArena, int> backwardCpu, Action<ActivationArena, int> backwardDevice)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!(clipNorm >= 0f)) throw new ArgumentOutOfRangeException(nameof(clipNorm), clipNorm, "The clipping norm must be 0 (none) or positive.");
        int rows = a.Batch * tokens;
        if (targets.Length != rows)
            throw new ArgumentException($"targets holds {targets.Length} values but batch {a.Batch} × {tokens} tokens = {rows} are needed (one per token).", nameof(targets));
        for (int i = 0; i < rows; i++)
        {
            int t = targets[i];
            if (t != ignoreIndex && (uint)t >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(targets), t,
                    $"Target {t} at (sample {i / tokens}, token {i % tokens}) is outside the {classes} classes" + (ignoreIndex is { } ig ? $" and is not the ignored {ig}." : "."));
        }
        // A row of K logits per token is a one-pixel image of K channels: the per-pixel loss with a plane of 1 (its targets checked above).
        if (OnAccelerator)
            return Trainer.StepPixels(a, output, classes, 1, rows, targets, null, ignoreIndex, optimizer, clipNorm, forwardDevice, backwardDevice);
        return HostStep(a, optimizer, clipNorm, forwardCpu, backwardCpu, () =>
            (ModelGen.Training.PixelCrossEntropy.Forward(a[output], targets, rows, classes, 1, 1, null, ignoreIndex, a.Grad(output)),
             ModelGen.Training.PixelCrossEntropy.Correct(a[output], targets, rows, classes, 1, 1, ignoreIndex)));
    }

    /// <summary>A training step on the CPU backend: forward, the loss (which writes the output's gradient and says how many
    /// predictions were right), backward into zeroed gradients, clipping, the optimizer.</summary>
    ModelGen.Training.StepResult HostStep(ActivationArena a, ModelGen.Training.IOptimizer optimizer, float clipNorm,
        Action<ActivationArena, int> forwardCpu, Action<ActivationArena, int> backwardCpu, Func<(float Loss, int Correct)> loss)
    {
        forwardCpu(a, a.Batch);
        a.ZeroGrads();
        var (value, correct) = loss();
        Parameters.ZeroGrad();
        backwardCpu(a, a.Batch);
        float norm = clipNorm > 0 ? ModelGen.Training.GradientClipping.ClipByGlobalNorm(Parameters, clipNorm) : float.NaN;
        optimizer.Step();
        return new ModelGen.Training.StepResult(value, correct, norm);
    }

    /// <summary>The device-side training machinery (loss, clipping and optimizer kernels, their scratch), made on first use.</summary>
    internal ModelGen.Training.DeviceTraining Trainer => _training ??= Own(new ModelGen.Training.DeviceTraining(this));

    /// <summary>Where parameter <paramref name="index"/> starts in the flat buffers.</summary>
    internal long Offset(int index) => _offsets[index];

    public static void Zero(MemoryBuffer1D<float, Stride1D.Dense> buffer) => buffer.MemSetToZero();

    public static void Upload(MemoryBuffer1D<float, Stride1D.Dense> target, float[] data) => target.View.SubView(0, data.Length).CopyFromCPU(data);

    /// <summary>A copy of a model buffer for the user: from the device when the model runs there, else from the host array.</summary>
    public Tensor Read(int batch, float[]? host, MemoryBuffer1D<float, Stride1D.Dense>? device, params int[] sampleShape)
    {
        var shape = new int[sampleShape.Length + 1];
        shape[0] = batch;
        sampleShape.CopyTo(shape, 1);
        int length = checked((int)Tensor.ElementCount(shape));
        return new Tensor(shape, OnAccelerator ? Download(device!, length) : host.AsSpan(0, length).ToArray());
    }

    public float[] Download(MemoryBuffer1D<float, Stride1D.Dense> source, int length)
    {
        Accelerator.Synchronize();
        var host = new float[length];
        source.View.SubView(0, length).CopyToCPU(host);
        Device.Counters.Copies++;
        return host;
    }

    /// <summary>Keeps a device object alive as long as the model and disposes it with the model.</summary>
    public T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
        foreach (var c in _constants.Values) c.Dispose();
        _constants.Clear();
        _owned.Clear();
        if (_values is not null)
        {
            // The parameters outlive the model: leave them holding the newest values.
            SynchronizeParameters(true);
            Parameters.Synchronizer = null;
        }
        _values?.Dispose();
        _grads?.Dispose();
        _dummy?.Dispose();
        _workspace?.Dispose();
    }
}
