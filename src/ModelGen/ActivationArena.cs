using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen;

/// <summary>One activation of a generated model, as its size table lists it: the dotted path (what <c>Intermediate</c> takes),
/// the per-sample shape, whether it has a gradient, and whether only the device kernels use it (scratch the CPU backend
/// does not allocate).</summary>
public sealed record ActivationInfo(string Path, int[] Shape, bool Grad = true, bool DeviceOnly = false)
{
    public long PerSample { get; } = Tensor.ElementCount(Shape);
}

/// <summary>
/// A generated model's activations for one batch size, laid out from its size table (llm.c's <c>act_sizes</c>): on the CPU
/// backend an array per activation and per gradient; on an ILGPU device one buffer for all activations and one for all
/// gradients, each activation a view at its offset, so clearing the gradients is one memset. Generated passes index it with
/// the model's <c>Buf</c> constants.
/// </summary>
public sealed class ActivationArena : IDisposable
{
    readonly IReadOnlyList<ActivationInfo> _table;
    readonly ModelRuntime _runtime;
    readonly float[][]? _host;
    readonly float[][]? _hostGrads;
    readonly Cpu.ClearSet? _clear;
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _values;
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _grads;
    readonly long[] _offsets;
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
        long total = 0;
        for (int i = 0; i < table.Count; i++)
        {
            _offsets[i] = total;
            total += batch * table[i].PerSample;
            if (!table[i].DeviceOnly) _byPath.TryAdd(table[i].Path, i);
        }
        if (runtime.OnAccelerator)
        {
            _values = runtime.Accelerator.Allocate1D<float>(Math.Max(1, total));
            _grads = runtime.Accelerator.Allocate1D<float>(Math.Max(1, total));
            _values.MemSetToZero();
            _grads.MemSetToZero();
            return;
        }
        _host = new float[table.Count][];
        _hostGrads = new float[table.Count][];
        var grads = new List<float[]>();
        for (int i = 0; i < table.Count; i++)
        {
            long n = batch * table[i].PerSample;
            if (n > Array.MaxLength) throw new InvalidOperationException($"Activation '{table[i].Path}' needs {n} floats at batch {batch}, more than one array holds; use a smaller batch.");
            _host[i] = table[i].DeviceOnly ? Array.Empty<float>() : new float[n];
            _hostGrads[i] = table[i].Grad ? new float[n] : Array.Empty<float>();
            if (table[i].Grad) grads.Add(_hostGrads[i]);
        }
        _clear = new Cpu.ClearSet(grads.ToArray());
    }

    public int Batch { get; }

    /// <summary>Activation <paramref name="index"/> on the CPU backend.</summary>
    public float[] this[int index] => _host![index];

    /// <summary>The gradient of activation <paramref name="index"/> on the CPU backend.</summary>
    public float[] Grad(int index) => _hostGrads![index];

    /// <summary>Activation <paramref name="index"/> on the device.</summary>
    public ArrayView<float> View(int index) => _values!.View.SubView(_offsets[index], Batch * _table[index].PerSample);

    /// <summary>The gradient of activation <paramref name="index"/> on the device.</summary>
    public ArrayView<float> GradView(int index) => _grads!.View.SubView(_offsets[index], Batch * _table[index].PerSample);

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
    }
}
