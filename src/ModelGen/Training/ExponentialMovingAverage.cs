using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics.Tensors;
using ModelGen.IO;

namespace ModelGen.Training;

/// <summary>
/// An exponential moving average of a model's trainable parameters (Polyak averaging), kept beside the training weights
/// and swapped in to evaluate or save:
/// <code>
/// avg ← d·avg + (1 − d)·p      after each optimizer step, d = min(decay, (1 + t) / (10 + t)), t = updates so far
/// </code>
/// The warmup term lets the average forget the initial weights early in training (it is timm's ModelEmaV3 warmup);
/// with <c>warmup: false</c>, d is always <see cref="Decay"/>. Buffers that are not trainable (running statistics) are
/// not averaged: the model's own are used. Every element is updated by the same arithmetic on any thread, so averages
/// do not depend on scheduling.
/// </summary>
public sealed class ExponentialMovingAverage
{
    const string UpdatesKey = "ema_updates";
    const string DecayKey = "ema_decay";

    readonly ParameterSet _parameters;
    readonly float[][] _average;
    readonly ParameterChunks _chunks;
    bool _applied;

    /// <summary>Starts the average at the parameters' current values.</summary>
    public ExponentialMovingAverage(ParameterSet parameters, float decay = 0.999f, bool warmup = true)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(decay >= 0f && decay < 1f))
            throw new ArgumentOutOfRangeException(nameof(decay), decay, $"The decay of a moving average must be in [0, 1) but is {decay}.");
        _parameters = parameters;
        Decay = decay;
        Warmup = warmup;
        _average = new float[parameters.Count][];
        for (int i = 0; i < parameters.Count; i++)
            _average[i] = parameters[i].Trainable ? (float[])parameters[i].Value.Clone() : Array.Empty<float>();
        _chunks = new ParameterChunks(parameters);
    }

    public float Decay { get; }

    public bool Warmup { get; }

    /// <summary>Updates taken so far.</summary>
    public int UpdateCount { get; private set; }

    /// <summary>The d the next <see cref="Update"/> uses.</summary>
    public float NextDecay => Warmup ? Math.Min(Decay, (1f + UpdateCount) / (10f + UpdateCount)) : Decay;

    /// <summary>The average of parameter <paramref name="index"/> (empty for an untrainable buffer).</summary>
    public ReadOnlySpan<float> Average(int index) => _average[index];

    /// <summary>Moves the average toward the current parameters; call it after each optimizer step.</summary>
    public void Update()
    {
        if (_applied) throw new InvalidOperationException("The average is swapped into the model; dispose the scope Apply returned before updating it.");
        _parameters.Synchronize(); // after a device step the newest values are on the device
        float d = NextDecay, w = 1f - d;
        _chunks.Run((pi, start, length) =>
        {
            var avg = _average[pi].AsSpan(start, length);
            TensorPrimitives.Multiply(avg, d, avg);
            TensorPrimitives.MultiplyAdd(_parameters[pi].Value.AsSpan(start, length), w, avg, avg);
        });
        UpdateCount++;
    }

    /// <summary>
    /// Swaps the average into the model's parameters (and the training weights into the average) until the returned
    /// scope is disposed, which swaps them back: <c>using (ema.Apply()) Evaluate(model);</c>.
    /// </summary>
    public IDisposable Apply()
    {
        if (_applied) throw new InvalidOperationException("The average is already swapped into the model.");
        Swap();
        _applied = true;
        return new Scope(this);
    }

    sealed class Scope(ExponentialMovingAverage owner) : IDisposable
    {
        bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            owner.Swap();
            owner._applied = false;
        }
    }

    void Swap()
    {
        _parameters.Synchronize();
        _chunks.Run((pi, start, length) =>
        {
            var a = _average[pi].AsSpan(start, length);
            var p = _parameters[pi].Value.AsSpan(start, length);
            for (int j = 0; j < a.Length; j++) (a[j], p[j]) = (p[j], a[j]);
        });
        foreach (var p in _parameters) if (p.Trainable) p.MarkChanged();
    }

    /// <summary>
    /// Writes the averaged weights as a safetensors file a PyTorch model loads as its state_dict (buffers from the model),
    /// with the update count and decay in the metadata beside <paramref name="metadata"/>.
    /// </summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not null)
            foreach (var (k, v) in metadata) all[k] = v;
        all[UpdatesKey] = UpdateCount.ToString(CultureInfo.InvariantCulture);
        all[DecayKey] = Decay.ToString("R", CultureInfo.InvariantCulture);
        using (Apply()) _parameters.Save(path, all);
    }

    /// <summary>
    /// Restores an average written by <see cref="Save"/> over the same parameters; on any mismatch (names, shapes, no
    /// update count) nothing changes and the error names it. The decay is not restored.
    /// </summary>
    public void Load(string path)
    {
        if (_applied) throw new InvalidOperationException("The average is swapped into the model; dispose the scope Apply returned before loading.");
        var (tensors, metadata) = _parameters.ReadFitting(path);
        if (!metadata.TryGetValue(UpdatesKey, out var text) || !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int updates) || updates < 0)
            throw new InvalidDataException($"'{path}' has no valid {UpdatesKey} (found '{text ?? "nothing"}'): it is not a moving average written by ModelGen.");
        for (int i = 0; i < _parameters.Count; i++)
            if (_parameters[i].Trainable) tensors[_parameters[i].Name].Data.CopyTo(_average[i], 0);
        UpdateCount = updates;
    }
}
