using System;
using System.Linq;
using ModelGen;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>
/// The second oracle: a whole generated model run through its ILGPU kernels (on ILGPU's CPU accelerator) agrees
/// with the same model on the CPU backend, forward and backward, output and every parameter and input gradient.
/// </summary>
public class DevicePathTests
{
    const double Atol = 2e-5, Rtol = 2e-4;

    static void Compare(Func<Device, (Tensor Output, ParameterSet Parameters, Func<string, Tensor> InputGrad)> run, params string[] inputs) =>
        Compare(run, tf32: false, Atol, Rtol, inputs);

    static void Compare(Func<Device, (Tensor Output, ParameterSet Parameters, Func<string, Tensor> InputGrad)> run, bool tf32,
        double atol, double rtol, params string[] inputs)
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator(tf32);
        var a = run(cpu);
        var b = run(sim);
        Approx.Equal(a.Output.Data, b.Output.Data, atol, rtol, "output");
        Assert.Equal(a.Parameters.Select(p => p.Name), b.Parameters.Select(p => p.Name));
        for (int i = 0; i < a.Parameters.Count; i++)
            Approx.Equal(a.Parameters[i].Grad, b.Parameters[i].Grad, atol, rtol, "grad " + a.Parameters[i].Name);
        foreach (var input in inputs) Approx.Equal(a.InputGrad(input).Data, b.InputGrad(input).Data, atol, rtol, "grad input " + input);
        Assert.Contains(a.Parameters, p => p.Grad.Any(g => g != 0));
    }

    static (Tensor Output, ParameterSet Parameters, Func<string, Tensor> InputGrad) RunTinyVit(Device device)
    {
        var m = new TinyVit(device, seed: 14);
        var y = m.Forward(ModelData.Random(15, 1f, 3, 2, 12, 8));
        m.Backward(ModelData.Random(16, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }

    [Fact]
    public void GqaEncoder_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new GqaEncoder(device, seed: 1);
        var x = ModelData.Random(2, 1f, 2, 12, 32);
        var y = m.Forward(x, ModelData.Padding(12, 0, 3));
        m.Backward(ModelData.Random(3, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void PostNormEncoder_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new PostNormEncoder(device, seed: 4);
        var y = m.Forward(ModelData.Random(5, 1f, 2, 9, 24), ModelData.Padding(9, 2, 0));
        m.Backward(ModelData.Random(6, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void MqaEncoder_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new MqaEncoder(device, seed: 7);
        var y = m.Forward(ModelData.Random(8, 1f, 3, 7, 16));
        m.Backward(ModelData.Random(9, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void MixedModelInTraining_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // Dropout masks come from a counter-based hash of (seed, step, site, index): the same on both paths.
        var m = new Mixed(device, seed: 10) { Training = true };
        var y = m.Forward(ModelData.Random(11, 1f, 2, 6, 16), ModelData.Random(12, 1f, 2, 5, 12));
        m.Backward(ModelData.Random(13, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x", "memory");

    [Fact]
    public void TinyVit_DeviceKernelsMatchCpu() => Compare(RunTinyVit, "image");

    [Fact]
    public void RotaryEncoder_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // Causal, padded, grouped-query heads with rotary positions (queries and keys rotated with different head counts).
        var m = new RotaryEncoder(device, seed: 8);
        var y = m.Forward(ModelData.Random(7, 1f, 2, 10, 32), ModelData.Padding(10, 0, 3));
        m.Backward(ModelData.Random(9, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void ScoreBiasEncoder_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // ALiBi's constant biases masked per sample, on grouped-query heads; then a learned T5 bias (the table's gradient).
        var m = new ScoreBiasEncoder(device, seed: 10);
        var y = m.Forward(ModelData.Random(11, 1f, 2, 10, 32), ModelData.AttentionMask(2, 10, 10, seed: 12));
        m.Backward(ModelData.Random(13, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void EncoderDecoder_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // An encoder's output as the memory of a causal, grouped-query, rotary decoder stack: the memory's gradient sums both layers'.
        var m = new EncoderDecoder(device, seed: 18);
        var y = m.Forward(ModelData.Random(19, 1f, 2, 6, 16), ModelData.Random(20, 1f, 2, 8, 24));
        m.Backward(ModelData.Random(21, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "target", "source");

    [Fact]
    public void SharedLinformer_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // Keys and values concatenated, transposed, projected along the tokens by one E, transposed back and split.
        var m = new SharedLinformer(device, seed: 22);
        var y = m.Forward(ModelData.Random(23, 1f, 2, 15, 16));
        m.Backward(ModelData.Random(24, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void Performer_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // Features of queries and keys (exponents, then a warp per stabiliser row), the state, numerators and their division.
        var m = new PerformerModel(device, seed: 29);
        var y = m.Forward(ModelData.Random(30, 1f, 2, 20, 16));
        m.Backward(ModelData.Random(31, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void PaddedPerformers_DeviceKernelsMatchCpu()
    {
        // The keys' stabiliser over unpadded keys only, padded features 0, and the queries that see no key.
        Compare(device =>
        {
            var m = new PaddedPerformer(device, seed: 47);
            var y = m.Forward(ModelData.Random(48, 1f, 3, 12, 16), ModelData.Padding(12, 0, 5, 12));
            m.Backward(ModelData.Random(49, 1f, y.Shape));
            return (y, m.Parameters, m.InputGradient);
        }, "x");
        Compare(device =>
        {
            var m = new CausalPaddedPerformer(device, seed: 50);
            var pad = Tensor.Zeros(2, 10);
            for (int k = 0; k < 4; k++) pad[1, k] = 1f;
            var y = m.Forward(ModelData.Random(51, 1f, 2, 10, 12), pad);
            m.Backward(ModelData.Random(52, 1f, y.Shape));
            return (y, m.Parameters, m.InputGradient);
        }, "x");
    }

    [Fact]
    public void PaddedSparseAttention_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new PaddedSparse(device, seed: 53);
        var y = m.Forward(ModelData.Random(54, 1f, 3, 16, 16), ModelData.Padding(16, 0, 6, 16));
        m.Backward(ModelData.Random(55, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void PatchMerging_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new MergingModel(device, seed: 56);
        var y = m.Forward(ModelData.Random(57, 1f, 3, 24, 12));
        m.Backward(ModelData.Random(58, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void Reformer_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // Keys normalised, hashing and the counting sort by bucket, a thread per query's windows; query and key gradients.
        var m = new ReformerModel(device, seed: 41);
        var y = m.Forward(ModelData.Random(42, 1f, 2, 24, 16));
        m.Backward(ModelData.Random(43, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void CausalPaddedReformer_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new CausalReformer(device, seed: 44);
        var y = m.Forward(ModelData.Random(45, 1f, 3, 16, 12), ModelData.Padding(16, 0, 3, 5));
        m.Backward(ModelData.Random(46, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void CausalPerformer_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // Rotary queries and keys, grouped heads, the prefix sweeps forward and backward.
        var m = new CausalPerformer(device, seed: 32);
        var y = m.Forward(ModelData.Random(33, 1f, 3, 13, 16));
        m.Backward(ModelData.Random(34, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void Transformer_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new TinyTransformer(device, seed: 44);
        var y = m.Forward(ModelData.Random(45, 1f, 2, 7, 16), ModelData.Random(46, 1f, 2, 5, 16));
        m.Backward(ModelData.Random(47, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "src", "tgt");

    [Fact]
    public void AdaptiveSpan_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new AdaptiveSpanModel(device, seed: 48);
        m.Parameters["attn.span"].Value[0] = 0.4f;
        m.Parameters["attn.span"].Value[1] = 0.75f;
        m.Parameters["attn.span"].MarkChanged();
        var y = m.Forward(ModelData.Random(49, 1f, 2, 16, 16));
        m.Backward(ModelData.Random(50, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void ShawRelativeKeys_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // q·aᵀ gathered by clipped distance into the score bias; its gradient back to the queries and the table.
        var m = new ShawModel(device, seed: 41);
        var y = m.Forward(ModelData.Random(42, 1f, 2, 9, 16));
        m.Backward(ModelData.Random(43, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void SparseAttention_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // A thread per query row forward and for dq, a thread per key row for dk and dv through the pattern's transpose.
        var m = new SparseModel(device, seed: 35);
        var y = m.Forward(ModelData.Random(36, 1f, 2, 24, 16));
        m.Backward(ModelData.Random(37, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void CausalSparseAttention_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new CausalSparse(device, seed: 38);
        var y = m.Forward(ModelData.Random(39, 1f, 2, 20, 16));
        m.Backward(ModelData.Random(40, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void PaddedAdditiveAndLocationAttention_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new PaddedAttenders(device, seed: 51);
        var y = m.Forward(ModelData.Random(52, 1f, 2, 5, 12), ModelData.Random(53, 1f, 2, 7, 20), ModelData.Padding(7, 2, 4));
        m.Backward(ModelData.Random(55, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x", "memory");

    [Fact]
    public void AdditiveAttention_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // Projections transposed, one pairwise sum over (hidden, query, key), tanh, v, softmax, the weighted keys.
        var m = new AdditiveAttender(device, seed: 25);
        var y = m.Forward(ModelData.Random(26, 1f, 2, 5, 12), ModelData.Random(27, 1f, 2, 7, 20));
        m.Backward(ModelData.Random(28, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x", "memory");

    [Fact]
    public void LocationAttention_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new LocationAttender(device, seed: 29);
        var y = m.Forward(ModelData.Random(30, 1f, 2, 5, 12), ModelData.Random(31, 1f, 2, 7, 20));
        m.Backward(ModelData.Random(32, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x", "memory");

    [Fact]
    public void BiasedT5Attention_DeviceKernelsMatchCpu() => Compare(device =>
    {
        // A learned bias plus an additive mask per head, summed per sample by one op; causal.
        var m = new BiasedT5Attention(device, seed: 14);
        var y = m.Forward(ModelData.Random(15, 1f, 3, 8, 16), ModelData.Random(16, 1f, 3, 2, 8, 8));
        m.Backward(ModelData.Random(17, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    /// <summary>With TF32 tensor cores (emulated fragments on the simulator) every matrix product rounds its operands to 10-bit
    /// mantissas: the model agrees with the FP32 CPU backend to TF32 accuracy, and differs from the FP32 device path, so the
    /// device's choice reaches every product kernel through the specialized launch.</summary>
    [Fact]
    public void TinyVit_Tf32TensorCores_MatchCpuToTf32Accuracy()
    {
        Compare(RunTinyVit, tf32: true, atol: 5e-3, rtol: 3e-2, "image");
        using var fp32 = Device.CpuSimulator();
        using var tf32 = Device.CpuSimulator(tf32: true);
        Assert.True(tf32.Tf32);
        Assert.NotEqual(RunTinyVit(fp32).Output.Data, RunTinyVit(tf32).Output.Data);
    }

    [Fact]
    public void MeanPoolVit_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new MeanPoolVit(device, seed: 17);
        var y = m.Forward(ModelData.Random(18, 1f, 2, 1, 8, 8));
        m.Backward(ModelData.Random(19, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "image");

    [Fact]
    public void SinusoidalVit_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new SinusoidalVit(device, seed: 20);
        var y = m.Forward(ModelData.Random(21, 1f, 2, 1, 8, 8));
        m.Backward(ModelData.Random(22, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "image");

    [Fact]
    public void SinusoidalSequence_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new SinusoidalSequence(device, seed: 23);
        var y = m.Forward(ModelData.Random(24, 1f, 3, 6, 8));
        m.Backward(ModelData.Random(25, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient);
    }, "x");

    [Fact]
    public void FixedPositionsAreAddedAndHaveNoParameters()
    {
        using var m = new SinusoidalSequence(Device.Cpu());
        Assert.DoesNotContain(m.Parameters, p => p.Name.StartsWith("pos", StringComparison.Ordinal));
        Assert.Empty(m.Pos.Parameters);
    }
}

/// <summary>The flash kernels keep each attention row's log-sum-exp, not the probabilities: on a device Intermediate recomputes
/// them, and they equal the CPU backend's (causal, padded, grouped-query heads).</summary>
public class DeviceIntermediateTests
{
    [Fact]
    public void AttentionProbabilities_AreRecomputedOnTheDevice()
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        using var a = new GqaEncoder(cpu, seed: 2);
        using var b = new GqaEncoder(sim, seed: 2);
        var x = ModelData.Random(3, 1f, 2, 12, 32);
        var pad = ModelData.Padding(12, 0, 4);
        a.Forward(x, pad);
        b.Forward(x, pad);
        foreach (var layer in new[] { 0, 1 })
        {
            string path = $"encoder.layers.{layer}.attn.heads.probs";
            var pa = a.Intermediate(path)!;
            var pb = b.Intermediate(path)!;
            Assert.Equal(pa.Shape, pb.Shape);
            Approx.Equal(pa.Data, pb.Data, 1e-6, 1e-4, path);
        }
    }
}
