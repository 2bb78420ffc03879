using System;
using System.Linq;
using ModelGen;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>
/// Token inputs, the embedding and the tied output projection as a user declares them: a causal language model against
/// torch.nn modules on the same weights (nn.Embedding with padding_idx, nn.TransformerEncoder, nn.Linear sharing the
/// embedding's weight), the kernels against the CPU, the ids checked against the vocabulary, and the per-token training step.
/// </summary>
public class LanguageModelTests
{
    const int Batch = 3, Tokens = 12, Vocab = 23;

    /// <summary>Ids with the padding id 0 at the end of some rows, and repeats.</summary>
    static int[] Ids(int seed)
    {
        var random = new Random(seed);
        var ids = new int[Batch * Tokens];
        for (int i = 0; i < ids.Length; i++) ids[i] = i % Tokens >= Tokens - i / Tokens ? 0 : 1 + random.Next(Vocab - 1);
        return ids;
    }

    static Tensor Input(int seed) => Tensor.FromTokens(Ids(seed), Batch, Tokens);

    [Fact]
    public void TheHeadHasNoWeightOfItsOwn_AndThePaddingRowStartsAtZero()
    {
        using var m = new TinyLanguageModel(Device.Cpu(), seed: 1);
        Assert.DoesNotContain(m.Parameters, p => p.Name == "head.weight");
        Assert.Contains(m.Parameters, p => p.Name == "head.bias");
        var table = m.Parameters.Single(p => p.Name == "embed.weight");
        Assert.Equal(new[] { Vocab, 16 }, table.Shape);
        Assert.All(table.Value.Take(16), v => Assert.Equal(0f, v));
        Assert.Equal(new[] { "head.bias" }, m.Head.Parameters.Select(p => p.Name));
    }

    [SkippableFact]
    public void AgreesWithTorchNnModules()
    {
        using var m = new TinyLanguageModel(Device.Cpu(), seed: 2);
        var ids = Input(3);
        var y = m.Forward(ids);
        Assert.Equal(new[] { Batch, Tokens, Vocab }, y.Shape);
        TorchTwin.AgreesWithTorch(y, m.Backward, m.Parameters, m.InputGradient,
            new { op = "language_model", heads = 2, feed_forward = 32, layers = 1, padding = 0 }, "", "", Array.Empty<string>(), TorchTwin.Named("ids", ids));
    }

    [Fact]
    public void DeviceKernelsMatchCpu()
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        (Tensor, ParameterSet) Run(Device device)
        {
            var m = new TinyLanguageModel(device, seed: 4);
            var y = m.Forward(Input(5));
            m.Backward(ModelData.Random(6, 1f, y.Shape));
            return (y, m.Parameters);
        }
        var (ya, pa) = Run(cpu);
        var (yb, pb) = Run(sim);
        Approx.Equal(ya.Data, yb.Data, 2e-5, 2e-4, "output");
        for (int i = 0; i < pa.Count; i++) Approx.Equal(pa[i].Grad, pb[i].Grad, 2e-5, 2e-4, "grad " + pa[i].Name);
        Assert.Contains(pa["embed.weight"].Grad.Skip(16), g => g != 0);
    }

    [Fact]
    public void AnIdOutsideTheVocabulary_IsRefusedBeforeAnythingRuns()
    {
        using var sim = Device.CpuSimulator();
        using var m = new TinyLanguageModel(sim, seed: 7);
        var ids = Ids(8);
        ids[Tokens + 4] = Vocab;
        long launches = sim.Counters.Launches;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.Forward(Tensor.FromTokens(ids, Batch, Tokens)));
        Assert.Contains("Input 'ids' sample 1, position 4: token id 23 is not a whole number in [0, 23)", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Forward(new Tensor(new[] { 1, Tokens }, Enumerable.Repeat(1.5f, Tokens).ToArray())));
        Assert.Equal(launches, sim.Counters.Launches);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromTokens(new[] { 1, -2 }, 1, 2));
    }

    /// <summary>The next id of each position, padding (0) ignored, as a language model trains.</summary>
    static int[] NextIds(int[] ids)
    {
        var t = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++) t[i] = i % Tokens == Tokens - 1 ? 0 : ids[i + 1];
        return t;
    }

    [Fact]
    public void TrainStep_OnCpu_IsTheHandWrittenLoop()
    {
        using var cpu = Device.Cpu();
        using var a = new TinyLanguageModel(cpu, seed: 9) { Training = true };
        using var b = new TinyLanguageModel(cpu, seed: 9) { Training = true };
        var optA = new AdamW(a.Parameters, 1e-2f);
        var optB = new AdamW(b.Parameters, 1e-2f);
        for (int step = 0; step < 3; step++)
        {
            var ids = Ids(10 + step);
            var targets = NextIds(ids);
            var result = a.TrainStep(Tensor.FromTokens(ids, Batch, Tokens), targets, optA, clipNorm: 1f, ignoreIndex: 0);

            var logits = b.Forward(Tensor.FromTokens(ids, Batch, Tokens));
            var grad = new float[logits.Data.Length];
            float loss = PixelCrossEntropy.Forward(logits.Data, targets, Batch * Tokens, Vocab, 1, 1, null, 0, grad);
            b.Parameters.ZeroGrad();
            b.Backward(new Tensor(logits.Shape, grad));
            float norm = GradientClipping.ClipByGlobalNorm(b.Parameters, 1f);
            optB.Step();

            Assert.Equal(loss, result.Loss);
            Assert.Equal(PixelCrossEntropy.Correct(logits.Data, targets, Batch * Tokens, Vocab, 1, 1, 0), result.Correct);
            Assert.Equal(norm, result.GradNorm);
        }
        for (int i = 0; i < a.Parameters.Count; i++) Assert.Equal(b.Parameters[i].Value, a.Parameters[i].Value);
    }

    [Fact]
    public void TrainStep_OnTheSimulator_MatchesTheCpu_AndLearns()
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        using var a = new TinyLanguageModel(cpu, seed: 11) { Training = true };
        using var b = new TinyLanguageModel(sim, seed: 11) { Training = true };
        var optA = new AdamW(a.Parameters, 3e-2f);
        var optB = new AdamW(b.Parameters, 3e-2f);
        // One fixed batch: the loss must fall as the model learns it.
        var ids = Ids(12);
        var targets = NextIds(ids);
        float first = 0, last = 0;
        for (int step = 0; step < 8; step++)
        {
            var ra = a.TrainStep(Tensor.FromTokens(ids, Batch, Tokens), targets, optA, 1f, 0);
            var rb = b.TrainStep(Tensor.FromTokens(ids, Batch, Tokens), targets, optB, 1f, 0);
            Assert.True(Math.Abs(ra.Loss - rb.Loss) <= 2e-4 * Math.Max(1, Math.Abs(ra.Loss)), $"step {step}: loss {rb.Loss} on the device, {ra.Loss} on the CPU");
            if (step == 0) first = ra.Loss;
            last = ra.Loss;
        }
        Assert.True(last < 0.7 * first, $"the loss went from {first} to {last} in 8 steps on one batch");
    }

    [Fact]
    public void BadTargets_NameTheSampleAndToken()
    {
        using var m = new TinyLanguageModel(Device.Cpu(), seed: 13);
        var opt = new AdamW(m.Parameters);
        var ids = Ids(14);
        var targets = NextIds(ids);
        targets[2 * Tokens + 3] = Vocab + 4;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.TrainStep(Tensor.FromTokens(ids, Batch, Tokens), targets, opt, ignoreIndex: 0));
        Assert.Contains("Target 27 at (sample 2, token 3) is outside the 23 classes and is not the ignored 0.", e.Message);
        var short_ = Assert.Throws<ArgumentException>(() => m.TrainStep(Tensor.FromTokens(ids, Batch, Tokens), new int[Batch * Tokens - 1], opt));
        Assert.Contains("targets holds 35 values but batch 3 × 12 tokens = 36 are needed", short_.Message);
        Assert.Equal(0, opt.StepCount);
    }
}
