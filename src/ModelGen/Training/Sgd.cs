using System;
using System.Linq;
using System.Numerics;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

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
public sealed class Sgd : IOptimizer, IDeviceOptimizer
{
    readonly ParameterSet _parameters;
    readonly float[][] _buffers;
    readonly bool[] _hasBuffer;
    readonly ParameterChunks _chunks;
    readonly DeviceSlots _slots;

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
        _slots = new DeviceSlots(parameters, _buffers);
    }

    public float LearningRate { get; set; }

    /// <summary>μ; settable so a one-cycle schedule can cycle it as PyTorch's OneCycleLR does.</summary>
    public float Momentum { get; set; }

    public bool Nesterov { get; }

    public float WeightDecay { get; set; }

    public float Dampening { get; set; }

    public int StepCount { get; private set; }

    /// <summary>Momentum buffer b of parameter <paramref name="index"/> (zeros before the first step; empty for an untrainable buffer).</summary>
    public ReadOnlySpan<float> MomentumBuffer(int index)
    {
        _slots.Pull();
        return _buffers[index];
    }

    const string Kind = "SGD";
    static readonly string[] Slots = { "momentum_buffer" };

    /// <summary>Writes the momentum buffers that exist (none before the first step, or with momentum 0).</summary>
    public void SaveState(string path)
    {
        _slots.Pull();
        OptimizerState.Save(path, Kind, StepCount, _parameters,
            new[] { (Slots[0], _buffers.Select((b, i) => _hasBuffer[i] ? b : null).ToArray()) });
    }

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
        _slots.HostChanged();
    }

    public void Step()
    {
        _slots.Pull();
        _parameters.Synchronize();
        _slots.HostChanged();
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

    /// <summary>A device step needs one first-step state for every parameter (a loaded state may give buffers to some only;
    /// such a step runs on the host).</summary>
    bool IDeviceOptimizer.CanStepOnDevice
    {
        get
        {
            int first = FirstTrainable();
            for (int i = first + 1; i < _hasBuffer.Length; i++)
                if (_parameters[i].Trainable && _hasBuffer[i] != _hasBuffer[first]) return false;
            return true;
        }
    }

    int FirstTrainable()
    {
        for (int i = 0; i < _parameters.Count; i++) if (_parameters[i].Trainable) return i;
        return -1;
    }

    /// <summary>The same update on a device, over the model's flat parameter buffer in one launch; the momentum buffer lives
    /// there too (uploaded once, brought back only to be read, saved or stepped on the host).</summary>
    void IDeviceOptimizer.StepDevice(ModelRuntime runtime, ArrayView<float> scale, bool clipped)
    {
        _slots.PrepareDeviceStep(runtime);
        StepCount++;
        var k = new DeviceScalars
        {
            DecayEnd = WeightDecay != 0 ? (int)runtime.DecayedLength : 0,
            Clipped = clipped ? 1 : 0,
            UseMomentum = Momentum != 0 ? 1 : 0,
            Nesterov = Nesterov ? 1 : 0,
            First = FirstTrainable() is int f && (f < 0 || !_hasBuffer[f]) ? 1 : 0,
            Wd = WeightDecay,
            Mu = Momentum,
            OneMinusDampening = (float)(1 - (double)Dampening),
            Lr = LearningRate,
        };
        var acc = runtime.Accelerator;
        var kernel = runtime.Trainer.Cached(nameof(Sgd), () =>
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DeviceScalars>(UpdateKernel));
        int n = (int)runtime.TrainableLength;
        if (n > 0) runtime.Launch(kernel)(n, runtime.FlatValues(), runtime.FlatGrads, _slots.Device(0), scale, k);
        if (Momentum != 0) Array.Fill(_hasBuffer, true);
    }

    /// <summary>The scalars of one device step.</summary>
    internal struct DeviceScalars
    {
        public int DecayEnd, Clipped, UseMomentum, Nesterov, First;
        public float Wd, Mu, OneMinusDampening, Lr;
    }

    /// <summary>Extent: the trainable floats. Element i is decayed when below DecayEnd (decayed parameters come first).</summary>
    internal static void UpdateKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, ArrayView<float> scale, DeviceScalars k)
    {
        float x = p[i];
        float d = g[i];
        if (k.Clipped != 0)
        {
            d *= scale[0];
            g[i] = d;
        }
        if (i < k.DecayEnd) d += x * k.Wd;
        if (k.UseMomentum != 0)
        {
            float b = k.First != 0 ? d : buf[i] * k.Mu + d * k.OneMinusDampening;
            buf[i] = b;
            d = k.Nesterov != 0 ? d + b * k.Mu : b;
        }
        p[i] = x - d * k.Lr;
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
