using System;
using System.Numerics;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Training;

/// <summary>
/// Adam with decoupled weight decay, step for step as PyTorch's <c>torch.optim.AdamW</c> (amsgrad off, maximize off):
/// <code>
/// p ← p − lr·wd·p                  (only where Parameter.Decay)
/// m ← β1·m + (1−β1)·g
/// v ← β2·v + (1−β2)·g²
/// p ← p − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε)
/// </code>
/// The same as PyTorch with two parameter groups, weight_decay=wd for the decayed parameters and 0 for the rest.
/// </summary>
public sealed class AdamW : IOptimizer, IDeviceOptimizer
{
    readonly ParameterSet _parameters;
    readonly float[][] _m;
    readonly float[][] _v;
    readonly ParameterChunks _chunks;
    readonly DeviceSlots _slots;

    public AdamW(ParameterSet parameters, float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
        float epsilon = 1e-8f, float weightDecay = 1e-2f)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        CheckRange(learningRate, 0, float.MaxValue, nameof(learningRate));
        CheckRange(beta1, 0, 1, nameof(beta1), upperOpen: true);
        CheckRange(beta2, 0, 1, nameof(beta2), upperOpen: true);
        CheckRange(epsilon, 0, float.MaxValue, nameof(epsilon));
        CheckRange(weightDecay, 0, float.MaxValue, nameof(weightDecay));
        _parameters = parameters;
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        _m = new float[parameters.Count][];
        _v = new float[parameters.Count][];
        for (int i = 0; i < parameters.Count; i++)
        {
            // Untrainable buffers (running statistics) are never stepped, so they get no moments.
            int length = parameters[i].Trainable ? parameters[i].Value.Length : 0;
            _m[i] = new float[length];
            _v[i] = new float[length];
        }
        _chunks = new ParameterChunks(parameters);
        _slots = new DeviceSlots(parameters, _m, _v);
    }

    public float LearningRate { get; set; }

    /// <summary>β1; settable so a one-cycle schedule can cycle it as PyTorch's OneCycleLR does.</summary>
    public float Beta1 { get; set; }

    public float Beta2 { get; set; }

    public float Epsilon { get; set; }

    public float WeightDecay { get; set; }

    /// <summary>Steps taken so far (t of the bias corrections after the next step is StepCount + 1).</summary>
    public int StepCount { get; private set; }

    /// <summary>First-moment estimate m of parameter <paramref name="index"/> (empty for an untrainable buffer).</summary>
    public ReadOnlySpan<float> FirstMoment(int index)
    {
        _slots.Pull();
        return _m[index];
    }

    /// <summary>Second-moment estimate v of parameter <paramref name="index"/> (empty for an untrainable buffer).</summary>
    public ReadOnlySpan<float> SecondMoment(int index)
    {
        _slots.Pull();
        return _v[index];
    }

    const string Kind = "AdamW";
    static readonly string[] Slots = { "exp_avg", "exp_avg_sq" };

    public void SaveState(string path)
    {
        _slots.Pull();
        OptimizerState.Save(path, Kind, StepCount, _parameters, new[] { (Slots[0], (float[]?[])_m), (Slots[1], (float[]?[])_v) });
    }

    public void LoadState(string path)
    {
        var (step, slots) = OptimizerState.Load(path, Kind, _parameters, Slots);
        for (int i = 0; i < _parameters.Count; i++)
        {
            if (!_parameters[i].Trainable) continue;
            slots[0][i]!.CopyTo(_m[i], 0);
            slots[1][i]!.CopyTo(_v[i], 0);
        }
        StepCount = step;
        _slots.HostChanged();
    }

    public void Step()
    {
        _slots.Pull();
        _parameters.Synchronize();
        _slots.HostChanged();
        int t = ++StepCount;
        // Scalars as PyTorch forms them: Python doubles, applied to float32 tensors as float32.
        double biasCorrection1 = 1 - Math.Pow(Beta1, t);
        double biasCorrection2 = 1 - Math.Pow(Beta2, t);
        float stepSize = (float)(LearningRate / biasCorrection1);
        float bc2Sqrt = (float)Math.Sqrt(biasCorrection2);
        float decayFactor = (float)(1 - (double)LearningRate * WeightDecay);
        float b1 = Beta1, b2 = Beta2, eps = Epsilon;
        float oneMinusB1 = (float)(1 - (double)b1), oneMinusB2 = (float)(1 - (double)b2);

        bool anyDecay = WeightDecay != 0;
        _chunks.Run((pi, start, length) =>
        {
            var p = _parameters[pi];
            Update(p.Value.AsSpan(start, length), p.Grad.AsSpan(start, length), _m[pi].AsSpan(start, length),
                _v[pi].AsSpan(start, length), p.Decay && anyDecay, decayFactor, b1, oneMinusB1, b2, oneMinusB2,
                stepSize, bc2Sqrt, eps);
        });
        foreach (var p in _parameters) if (p.Trainable) p.MarkChanged();
    }

    bool IDeviceOptimizer.CanStepOnDevice => true;

    /// <summary>The same update on a device, over the model's flat parameter buffer in one launch; the moments live there
    /// too (uploaded once, brought back only for <see cref="SaveState"/> or a host step). Gradients are multiplied by
    /// scale[0] first (and written back, as clipping leaves them) when <paramref name="clipped"/>.</summary>
    void IDeviceOptimizer.StepDevice(ModelRuntime runtime, ArrayView<float> scale, bool clipped)
    {
        _slots.PrepareDeviceStep(runtime);
        var acc = runtime.Accelerator;
        int t = ++StepCount;
        double biasCorrection1 = 1 - Math.Pow(Beta1, t);
        double biasCorrection2 = 1 - Math.Pow(Beta2, t);
        var k = new DeviceScalars
        {
            DecayEnd = WeightDecay != 0 ? (int)runtime.DecayedLength : 0,
            DecayFactor = (float)(1 - (double)LearningRate * WeightDecay),
            B1 = Beta1,
            OneMinusB1 = (float)(1 - (double)Beta1),
            B2 = Beta2,
            OneMinusB2 = (float)(1 - (double)Beta2),
            StepSize = (float)(LearningRate / biasCorrection1),
            Bc2Sqrt = (float)Math.Sqrt(biasCorrection2),
            Eps = Epsilon,
            Clipped = clipped ? 1 : 0,
        };
        var kernel = runtime.Trainer.Cached(nameof(AdamW), () =>
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, DeviceScalars>(UpdateKernel));
        int n = (int)runtime.TrainableLength;
        if (n > 0) runtime.Launch(kernel)(n, runtime.FlatValues(), runtime.FlatGrads, _slots.Device(0), _slots.Device(1), scale, k);
    }

    /// <summary>The scalars of one device step (a struct, so the kernel stays within ILGPU's parameter count).</summary>
    internal struct DeviceScalars
    {
        public int DecayEnd, Clipped;
        public float DecayFactor, B1, OneMinusB1, B2, OneMinusB2, StepSize, Bc2Sqrt, Eps;
    }

    /// <summary>Extent: the trainable floats. Element i is decayed when below DecayEnd (decayed parameters come first).</summary>
    internal static void UpdateKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> scale, DeviceScalars k)
    {
        float x = p[i];
        if (i < k.DecayEnd) x *= k.DecayFactor;
        float grad = g[i];
        if (k.Clipped != 0)
        {
            grad *= scale[0];
            g[i] = grad;
        }
        float mk = m[i] * k.B1 + grad * k.OneMinusB1;
        float vk = v[i] * k.B2 + grad * grad * k.OneMinusB2;
        m[i] = mk;
        v[i] = vk;
        float denom = MathF.Sqrt(vk) / k.Bc2Sqrt + k.Eps;
        p[i] = x - k.StepSize * mk / denom;
    }

    static void Update(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, bool decay, float decayFactor,
        float b1, float oneMinusB1, float b2, float oneMinusB2, float stepSize, float bc2Sqrt, float eps)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && p.Length >= Vector<float>.Count)
        {
            var pv = MemoryMarshal.Cast<float, Vector<float>>(p);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            var mv = MemoryMarshal.Cast<float, Vector<float>>(m);
            var vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            var vDecay = new Vector<float>(decayFactor);
            var vB1 = new Vector<float>(b1);
            var v1B1 = new Vector<float>(oneMinusB1);
            var vB2 = new Vector<float>(b2);
            var v1B2 = new Vector<float>(oneMinusB2);
            var vStep = new Vector<float>(stepSize);
            var vBc2 = new Vector<float>(bc2Sqrt);
            var vEps = new Vector<float>(eps);
            for (int k = 0; k < pv.Length; k++)
            {
                var x = pv[k];
                if (decay) x *= vDecay;
                var grad = gv[k];
                var mk = mv[k] * vB1 + grad * v1B1;
                var vk = vv[k] * vB2 + grad * grad * v1B2;
                mv[k] = mk;
                vv[k] = vk;
                var denom = Vector.SquareRoot(vk) / vBc2 + vEps;
                pv[k] = x - vStep * mk / denom;
            }
            i = pv.Length * Vector<float>.Count;
        }
        for (; i < p.Length; i++)
        {
            float x = p[i];
            if (decay) x *= decayFactor;
            float grad = g[i];
            float mk = m[i] * b1 + grad * oneMinusB1;
            float vk = v[i] * b2 + grad * grad * oneMinusB2;
            m[i] = mk;
            v[i] = vk;
            float denom = MathF.Sqrt(vk) / bc2Sqrt + eps;
            p[i] = x - stepSize * mk / denom;
        }
    }

    internal static void CheckRange(float value, float min, float max, string name, bool upperOpen = false)
    {
        bool ok = value >= min && (upperOpen ? value < max : value <= max);
        if (!ok)
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} must lie in [{min}, {max}{(upperOpen ? ")" : "]")}.");
    }
}
