using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using ModelGen.IO;

namespace ModelGen;

/// <summary>A trainable tensor, named like a PyTorch <c>state_dict</c> key, with its gradient.</summary>
public sealed class Parameter
{
    public Parameter(string name, int[] shape, bool decay, bool trainable = true)
    {
        Name = name;
        Shape = shape;
        Value = new float[checked((int)Tensor.ElementCount(shape))];
        Grad = new float[Value.Length];
        Decay = decay && trainable;
        Trainable = trainable;
    }

    public string Name { get; }

    public int[] Shape { get; }

    public float[] Value { get; }

    /// <summary>Accumulated by Backward; cleared by <see cref="ParameterSet.ZeroGrad"/>.</summary>
    public float[] Grad { get; }

    /// <summary>Whether weight decay applies (not to biases, norms, tokens or positions).</summary>
    public bool Decay { get; }

    /// <summary>False for a buffer such as BatchNorm's running statistics: saved and loaded with the parameters (a
    /// PyTorch state_dict holds it too) and written by the forward pass, but never given a gradient or an update.</summary>
    public bool Trainable { get; }

    /// <summary>Bumped whenever <see cref="Value"/> changes through the API, so device copies know to refresh.</summary>
    public int Version { get; private set; }

    public void MarkChanged() => Version++;

    public override string ToString() => $"{Name} {Tensor.Format(Shape)}";
}

/// <summary>A model's parameters in declaration order.</summary>
public sealed class ParameterSet : IReadOnlyList<Parameter>
{
    readonly Parameter[] _items;
    readonly Dictionary<string, Parameter> _byName;

    public ParameterSet(IEnumerable<Parameter> parameters)
    {
        _items = parameters.ToArray();
        _byName = new Dictionary<string, Parameter>(StringComparer.Ordinal);
        foreach (var p in _items)
        {
            if (!_byName.TryAdd(p.Name, p)) throw new ArgumentException($"Duplicate parameter name '{p.Name}'.");
        }
    }

    public int Count => _items.Length;

    public Parameter this[int index] => _items[index];

    public Parameter this[string name] =>
        _byName.TryGetValue(name, out var p) ? p : throw new KeyNotFoundException($"No parameter named '{name}'.");

    /// <summary>The number of trainable values (buffers such as running statistics are not counted, as in PyTorch's parameters()).</summary>
    public long ElementCount => _items.Where(p => p.Trainable).Sum(p => (long)p.Value.Length);

    public void ZeroGrad()
    {
        // The device's gradients are about to be stale, not newer: nothing needs to come down.
        Synchronizer?.Invoke(false);
        foreach (var p in _items) Array.Clear(p.Grad);
    }

    /// <summary>Set by a model on a device. With true: brings values and gradients the device holds newer (after a device
    /// training step) to the host. With false: the host's gradients are being cleared, so the device's no longer count as newer.</summary>
    internal Action<bool>? Synchronizer { get; set; }

    /// <summary>On a device, after <c>TrainStep</c>: copies the newest parameter values, running statistics and gradients from
    /// the device into <see cref="Parameter.Value"/> and <see cref="Parameter.Grad"/> (one copy each, only when the device holds
    /// newer ones). Saving and the optimizers' host paths call it; call it before reading the arrays yourself.</summary>
    public void Synchronize() => Synchronizer?.Invoke(true);

    public IEnumerator<Parameter> GetEnumerator() => ((IEnumerable<Parameter>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Writes every parameter as a safetensors file (atomically).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Synchronize();
        SafeTensors.Save(path, _items.Select(p => new SafeTensor(p.Name, p.Shape, p.Value)), metadata);
    }

    /// <summary>Writes every gradient as a safetensors file, under the parameter names.</summary>
    public void SaveGradients(string path)
    {
        Synchronize();
        SafeTensors.Save(path, _items.Select(p => new SafeTensor(p.Name, p.Shape, p.Grad)));
    }

    /// <summary>Loads every parameter from a safetensors file. The file must hold exactly these names and shapes;
    /// otherwise nothing is changed and the error lists what differs.</summary>
    public void Load(string path)
    {
        var (tensors, _) = ReadFitting(path);
        foreach (var p in _items)
        {
            tensors[p.Name].Data.CopyTo(p.Value, 0);
            p.MarkChanged();
        }
    }

    /// <summary>Reads a safetensors file that holds exactly these names and shapes (else throws, listing what differs).</summary>
    internal (IReadOnlyDictionary<string, SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadFitting(string path)
    {
        var (tensors, metadata) = SafeTensors.LoadWithMetadata(path);
        var problems = new List<string>();
        foreach (var p in _items)
        {
            if (!tensors.TryGetValue(p.Name, out var t)) problems.Add($"missing '{p.Name}' {Tensor.Format(p.Shape)}");
            else if (!t.Shape.SequenceEqual(p.Shape)) problems.Add($"'{p.Name}' is {Tensor.Format(t.Shape)} in the file but {Tensor.Format(p.Shape)} in the model");
        }
        foreach (var name in tensors.Keys.Where(n => !_byName.ContainsKey(n)).OrderBy(n => n, StringComparer.Ordinal))
            problems.Add($"unexpected '{name}'");
        if (problems.Count > 0)
            throw new InvalidDataException($"'{path}' does not fit this model: {string.Join("; ", problems.Take(10))}{(problems.Count > 10 ? $"; and {problems.Count - 10} more" : "")}.");
        return (tensors, metadata);
    }
}

/// <summary>A file's contents do not fit what was asked of it.</summary>
public sealed class InvalidDataException : Exception
{
    public InvalidDataException(string message) : base(message)
    {
    }
}

/// <summary>A layer of a model (a partial property's value): its state_dict prefix, kind and parameters.</summary>
public sealed class Module
{
    public Module(string name, string kind, IReadOnlyList<Parameter> parameters)
    {
        Name = name;
        Kind = kind;
        Parameters = parameters;
    }

    public string Name { get; }

    public string Kind { get; }

    public IReadOnlyList<Parameter> Parameters { get; }

    public override string ToString() => $"{Kind} '{Name}' ({Parameters.Count} parameters)";
}
