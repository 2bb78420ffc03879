using System;
using System.Linq;
using System.Numerics;
using System.Runtime.InteropServices;

namespace ModelGen.Training;

/// <summary>
/// Stochastic gradient descent as PyTorch's <c>torch.optim.SGD</c> (maximize off):
/// <code>
/// d ← g + wd·p                      (the wd term only where Parameter.Decay)
/// b ← d on the first step, else μ·b + (1−dampening)·d      (when μ ≠ 0)
/// d ← d + μ·b if Nesterov, else b                          (when μ ≠ 0)
/// p ← p − lr·d
/// </code>
/// </summary>
public sealed class Sgd : IOptimizer
{
    readonly ParameterSet _parameters;
    readonly float[][] _buffers;
    readonly bool[] _hasBuffer;
    readonly ParameterChunks _chunks;

    public Sgd(ParameterSet parameters, float learningRate, float momentum = 0f, bool nesterov = false,
        float weightDecay = 0f, float dampening = 0f)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        AdamW.CheckRange(learningRate, 0, float.MaxValue, nameof(learningRate));
        AdamW.CheckRange(momentum, 0, float.MaxValue, nameof(momentum));
        AdamW.CheckRange(weightDecay, 0, float.MaxValue, nameof(weightDecay));
        AdamW.CheckRange(dampening, 0, 1, nameof(dampening));
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("Nesterov momentum requires a positive momentum and zero dampening.", nameof(nesterov));
        _parameters = parameters;
        LearningRate = learningRate;
        Momentum = momentum;
        Nesterov = nesterov;
        WeightDecay = weightDecay;
        Dampening = dampening;
        _buffers = new float[parameters.Count][];
        // Untrainable buffers (running statistics) are never stepped, so they get no momentum.
        for (int i = 0; i < parameters.Count; i++) _buffers[i] = new float[parameters[i].Trainable ? parameters[i].Value.Length : 0];
        _hasBuffer = new bool[parameters.Count];
        _chunks = new ParameterChunks(parameters);
    }

    public float LearningRate { get; set; }

    /// <summary>μ; settable so a one-cycle schedule can cycle it as PyTorch's OneCycleLR does.</summary>
    public float Momentum { get; set; }

    public bool Nesterov { get; }

    public float WeightDecay { get; set; }

    public float Dampening { get; set; }

    public int StepCount { get; private set; }

    /// <summary>Momentum buffer b of parameter <paramref name="index"/> (zeros before the first step; empty for an untrainable buffer).</summary>
    public ReadOnlySpan<float> MomentumBuffer(int index) => _buffers[index];

    const string Kind = "SGD";
    static readonly string[] Slots = { "momentum_buffer" };

    /// <summary>Writes the momentum buffers that exist (none before the first step, or with momentum 0).</summary>
    public void SaveState(string path) =>
        OptimizerState.Save(path, Kind, StepCount, _parameters,
            new[] { (Slots[0], _buffers.Select((b, i) => _hasBuffer[i] ? b : null).ToArray()) });

    public void LoadState(string path)
    {
        var (step, slots) = OptimizerState.Load(path, Kind, _parameters, Slots, optional: true);
        for (int i = 0; i < _parameters.Count; i++)
        {
            if (slots[0][i] is { } b) b.CopyTo(_buffers[i], 0);
            else Array.Clear(_buffers[i]);
            _hasBuffer[i] = slots[0][i] is not null;
        }
        StepCount = step;
    }

    public void Step()
    {
        StepCount++;
        float lr = LearningRate, mu = Momentum, wd = WeightDecay;
        float oneMinusDampening = (float)(1 - (double)Dampening);
        bool nesterov = Nesterov;
        _chunks.Run((pi, start, length) =>
        {
            var p = _parameters[pi];
            Update(p.Value.AsSpan(start, length), p.Grad.AsSpan(start, length), _buffers[pi].AsSpan(start, length),
                p.Decay ? wd : 0f, mu, oneMinusDampening, nesterov, !_hasBuffer[pi], lr);
        });
        // As in PyTorch, a buffer starts as the first momentum step's d (momentum 0 keeps no buffer).
        if (mu != 0) Array.Fill(_hasBuffer, true);
        foreach (var p in _parameters) if (p.Trainable) p.MarkChanged();
    }

    static void Update(Span<float> p, ReadOnlySpan<float> g, Span<float> buf, float wd, float mu, float oneMinusDampening,
        bool nesterov, bool first, float lr)
    {
        bool useMomentum = mu != 0;
        bool decay = wd != 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && p.Length >= Vector<float>.Count)
        {
            var pv = MemoryMarshal.Cast<float, Vector<float>>(p);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            var bv = MemoryMarshal.Cast<float, Vector<float>>(buf);
            var vWd = new Vector<float>(wd);
            var vMu = new Vector<float>(mu);
            var vDamp = new Vector<float>(oneMinusDampening);
            var vLr = new Vector<float>(lr);
            for (int k = 0; k < pv.Length; k++)
            {
                var x = pv[k];
                var d = gv[k];
                if (decay) d += x * vWd;
                if (useMomentum)
                {
                    var b = first ? d : bv[k] * vMu + d * vDamp;
                    bv[k] = b;
                    d = nesterov ? d + b * vMu : b;
                }
                pv[k] = x - d * vLr;
            }
            i = pv.Length * Vector<float>.Count;
        }
        for (; i < p.Length; i++)
        {
            float x = p[i];
            float d = g[i];
            if (decay) d += x * wd;
            if (useMomentum)
            {
                float b = first ? d : buf[i] * mu + d * oneMinusDampening;
                buf[i] = b;
                d = nesterov ? d + b * mu : b;
            }
            p[i] = x - d * lr;
        }
    }
}
