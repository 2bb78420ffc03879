using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen;

/// <summary>One activation of a generated model, as its size table lists it: the dotted path (what <c>Intermediate</c> takes),
/// the per-sample shape, whether it has a gradient, and whether only the device kernels use it (scratch the CPU backend
/// does not allocate), and whether a device's passes leave it unwritten and fill it only on request (attention probabilities
/// under flash attention: the arena allocates it on the device when it is first asked for), and whether the CPU backend's passes
/// leave it unwritten too (memory-efficient attention over long sequences: allocated on the host when first asked for).</summary>
public sealed record ActivationInfo(string Path, int[] Shape, bool Grad = true, bool DeviceOnly = false, bool OnRequest = false, bool HostOnRequest = false)
{
    public long PerSample { get; } = Tensor.ElementCount(Shape);
}

/// <summary>
/// A generated model's activations for one batch size, laid out from its size table (llm.c's <c>act_sizes</c>): on the CPU
/// backend an array per activation and per gradient; on an ILGPU device one buffer for all activations and one for the
/// gradients of those that have one, each a view at its offset, so clearing the gradients is one memset; a buffer filled only
/// on request gets its own allocation the first time it is asked for. Generated passes index it with the model's <c>Buf</c>
/// constants.
/// </summary>
public sealed class ActivationArena : IDisposable
{
    readonly IReadOnlyList<ActivationInfo> _table;
    readonly ModelRuntime _runtime;
    readonly float[]?[]? _host;
    readonly float[][]? _hostGrads;
    readonly Cpu.ClearSet? _clear;
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _values;
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _grads;
    readonly long[] _offsets;
    readonly long[] _gradOffsets;
    readonly MemoryBuffer1D<float, Stride1D.Dense>?[] _onRequest;
    readonly Dictionary<string, int> _byPath = new(StringComparer.Ordinal);

    public ActivationArena(ModelRuntime runtime, IReadOnlyList<ActivationInfo> table, int batch)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(table);
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "The batch size must be positive.");
        _runtime = runtime;
        _table = table;
        Batch = batch;
        _offsets = new long[table.Count];
        _gradOffsets = new long[table.Count];
        _onRequest = new MemoryBuffer1D<float, Stride1D.Dense>?[table.Count];
        long total = 0, gradTotal = 0;
        for (int i = 0; i < table.Count; i++)
        {
            _offsets[i] = total;
            _gradOffsets[i] = gradTotal;
            if (!table[i].OnRequest) total += batch * table[i].PerSample;
            if (table[i].Grad) gradTotal += batch * table[i].PerSample;
            if (!table[i].DeviceOnly) _byPath.TryAdd(table[i].Path, i);
        }
        if (runtime.OnAccelerator)
        {
            _values = runtime.Accelerator.Allocate1D<float>(Math.Max(1, total));
            _grads = runtime.Accelerator.Allocate1D<float>(Math.Max(1, gradTotal));
            _values.MemSetToZero();
            _grads.MemSetToZero();
            return;
        }
        _host = new float[]?[table.Count];
        _hostGrads = new float[table.Count][];
        var grads = new List<float[]>();
        for (int i = 0; i < table.Count; i++)
        {
            long n = batch * table[i].PerSample;
            if (n > Array.MaxLength) throw new InvalidOperationException($"Activation '{table[i].Path}' needs {n} floats at batch {batch}, more than one array holds; use a smaller batch.");
            _host[i] = table[i].DeviceOnly ? Array.Empty<float>() : table[i].HostOnRequest ? null : new float[n];
            _hostGrads[i] = table[i].Grad ? new float[n] : Array.Empty<float>();
            if (table[i].Grad) grads.Add(_hostGrads[i]);
        }
        _clear = new Cpu.ClearSet(grads.ToArray());
    }

    public int Batch { get; }

    /// <summary>Activation <paramref name="index"/> on the CPU backend (one the passes leave unwritten is allocated on first use).</summary>
    public float[] this[int index] => _host![index] ??= new float[Batch * _table[index].PerSample];

    /// <summary>The gradient of activation <paramref name="index"/> on the CPU backend.</summary>
    public float[] Grad(int index) => _hostGrads![index];

    /// <summary>Activation <paramref name="index"/> on the device (a buffer filled on request is allocated on first use).</summary>
    public ArrayView<float> View(int index)
    {
        long n = Batch * _table[index].PerSample;
        if (!_table[index].OnRequest) return _values!.View.SubView(_offsets[index], n);
        if (_onRequest[index] is null)
        {
            _onRequest[index] = _runtime.Accelerator.Allocate1D<float>(Math.Max(1, n));
            _onRequest[index]!.MemSetToZero();
        }
        return _onRequest[index]!.View.SubView(0, n);
    }

    /// <summary>The gradient of activation <paramref name="index"/> on the device.</summary>
    public ArrayView<float> GradView(int index)
    {
        if (!_table[index].Grad) throw new InvalidOperationException($"Activation '{_table[index].Path}' has no gradient.");
        return _grads!.View.SubView(_gradOffsets[index], Batch * _table[index].PerSample);
    }

    /// <summary>Bytes this arena holds on the device now (0 on the CPU backend).</summary>
    public long DeviceBytes
    {
        get
        {
            long bytes = (_values?.LengthInBytes ?? 0) + (_grads?.LengthInBytes ?? 0);
            foreach (var b in _onRequest) bytes += b?.LengthInBytes ?? 0;
            return bytes;
        }
    }

    /// <summary>Clears every activation gradient: one memset on a device, all cores on the CPU.</summary>
    public void ZeroGrads()
    {
        if (_grads is not null) _runtime.Clear(_grads.View);
        else _clear!.Clear();
    }

    /// <summary>Copies an input (or the output's gradient) into activation <paramref name="index"/> (or its gradient).</summary>
    public void Upload(int index, float[] data, bool gradient = false)
    {
        if (_values is not null)
        {
            (gradient ? GradView(index) : View(index)).SubView(0, data.Length).CopyFromCPU(data);
            _runtime.CountCopy();
        }
        else Array.Copy(data, gradient ? Grad(index) : this[index], data.Length);
    }

    /// <summary>A copy of activation <paramref name="index"/> (or its gradient) as a (batch, …) tensor.</summary>
    public Tensor Read(int index, bool gradient = false)
    {
        var info = _table[index];
        var shape = new int[info.Shape.Length + 1];
        shape[0] = Batch;
        info.Shape.CopyTo(shape, 1);
        float[] data;
        if (_values is not null)
        {
            _runtime.Accelerator.Synchronize();
            data = new float[Batch * info.PerSample];
            (gradient ? GradView(index) : View(index)).CopyToCPU(data);
            _runtime.CountCopy();
        }
        else data = (float[])(gradient ? Grad(index) : this[index]).Clone();
        return new Tensor(shape, data);
    }

    /// <summary>The activation at a dotted path ("encoder.layers.0.attn.heads.probs"), or null for a path the model does not have.</summary>
    public Tensor? Read(string path) => _byPath.TryGetValue(path, out int index) ? Read(index) : null;

    public void Dispose()
    {
        _values?.Dispose();
        _grads?.Dispose();
        foreach (var b in _onRequest) b?.Dispose();
    }
}
