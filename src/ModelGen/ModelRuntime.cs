using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen;

/// <summary>
/// What every generated model holds: its device, parameters, mode and, on an ILGPU device, the device copies of
/// parameters and gradients. Generated code calls it; users reach it through the model's properties.
/// </summary>
public sealed class ModelRuntime : IDisposable
{
    readonly MemoryBuffer1D<float, Stride1D.Dense>[]? _values;
    readonly MemoryBuffer1D<float, Stride1D.Dense>[]? _grads;
    readonly int[]? _uploadedVersion;
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _dummy;
    readonly List<IDisposable> _owned = new();
    readonly Dictionary<float[], MemoryBuffer1D<float, Stride1D.Dense>> _constants = new(ReferenceEqualityComparer.Instance);

    public ModelRuntime(Device device, ParameterSet parameters, int seed)
    {
        Device = device ?? throw new ArgumentNullException(nameof(device));
        Parameters = parameters;
        Seed = seed;
        if (device.Accelerator is { } acc)
        {
            _values = new MemoryBuffer1D<float, Stride1D.Dense>[parameters.Count];
            _grads = new MemoryBuffer1D<float, Stride1D.Dense>[parameters.Count];
            _uploadedVersion = new int[parameters.Count];
            for (int i = 0; i < parameters.Count; i++)
            {
                _values[i] = acc.Allocate1D<float>(Math.Max(1, parameters[i].Value.Length));
                _grads[i] = acc.Allocate1D<float>(Math.Max(1, parameters[i].Value.Length));
                _uploadedVersion[i] = -1;
            }
            _dummy = acc.Allocate1D<float>(1);
            _dummy.MemSetToZero();
        }
    }

    public Device Device { get; }

    public ParameterSet Parameters { get; }

    /// <summary>Training mode turns dropout on.</summary>
    public bool Training { get; set; }

    public int Seed { get; }

    /// <summary>Counts forward passes, so each pass draws fresh dropout masks.</summary>
    public int Step { get; private set; }

    public bool OnAccelerator => Device.Accelerator is not null;

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

    /// <summary>Called once per forward pass.</summary>
    public void BeginForward() => Step++;

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

    /// <summary>The device copy of parameter <paramref name="index"/>, refreshed if the host value changed.</summary>
    public ArrayView<float> Value(int index)
    {
        var p = Parameters[index];
        if (_uploadedVersion![index] != p.Version)
        {
            _values![index].CopyFromCPU(p.Value);
            _uploadedVersion[index] = p.Version;
        }
        return _values![index].View;
    }

    public ArrayView<float> Grad(int index) => _grads![index].View;

    /// <summary>The device copy of a fixed table (uploaded once).</summary>
    public ArrayView<float> Constant(float[] table)
    {
        if (!_constants.TryGetValue(table, out var buffer))
        {
            buffer = Accelerator.Allocate1D(table);
            _constants[table] = buffer;
        }
        return buffer.View;
    }

    /// <summary>After a device forward in training: buffers the kernels update (running statistics) are copied back to
    /// the host, so checkpoints and the CPU see them; they count as uploaded.</summary>
    public void DownloadBuffers()
    {
        Accelerator.Synchronize();
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (!p.Trainable && _uploadedVersion![i] == p.Version) _values![i].CopyToCPU(p.Value);
        }
    }

    /// <summary>Before a device backward: device gradients start from the host's, since backward accumulates.</summary>
    public void UploadGrads()
    {
        for (int i = 0; i < Parameters.Count; i++) _grads![i].CopyFromCPU(Parameters[i].Grad);
    }

    /// <summary>After a device backward: host gradients take the accumulated device values.</summary>
    public void DownloadGrads()
    {
        Accelerator.Synchronize();
        for (int i = 0; i < Parameters.Count; i++) _grads![i].CopyToCPU(Parameters[i].Grad);
    }

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
        if (_values is not null) foreach (var b in _values) b.Dispose();
        if (_grads is not null) foreach (var b in _grads) b.Dispose();
        _dummy?.Dispose();
    }
}
