using System;
using System.Linq;
using ModelGen.Tests.Models;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

/// <summary>
/// The generated TrainStep of a dense predictor (output (K, H, W)): per-pixel cross-entropy with class weights and an ignored
/// target. On the CPU backend exactly the hand-written loop with <see cref="PixelCrossEntropy"/>; on the GPU-shaped simulator the
/// same numbers with the loss, its gradient, backward and the optimizer on the device, the batch and targets up and the loss down.
/// </summary>
public class SegmentationTrainStepTests
{
    const int Batch = 2, Classes = 3, Size = 16, Ignore = 255;

    static readonly float[] Weights = { 0.5f, 2f, 1f };

    static Tensor Images(int step) => ModelData.Random(200 + step, 1f, Batch, 1, Size, Size);

    /// <summary>Targets in blobs (so the model can learn them), every seventh pixel ignored when asked.</summary>
    static int[] Targets(int step, bool ignore)
    {
        var t = new int[Batch * Size * Size];
        for (int i = 0; i < t.Length; i++)
        {
            int p = i % (Size * Size), r = p / Size, c = p % Size;
            t[i] = ignore && (i + step) % 7 == 0 ? Ignore : (r / 6 + c / 6 + i / (Size * Size)) % Classes;
        }
        return t;
    }

    [Fact]
    public void OnCpu_IsTheHandWrittenLoop()
    {
        using var cpu = Device.Cpu();
        using var a = new TinySetr(cpu, seed: 3) { Training = true };
        using var b = new TinySetr(cpu, seed: 3) { Training = true };
        var optA = new AdamW(a.Parameters, 1e-2f);
        var optB = new AdamW(b.Parameters, 1e-2f);
        for (int step = 0; step < 3; step++)
        {
            var targets = Targets(step, ignore: true);
            var result = a.TrainStep(Images(step), targets, optA, clipNorm: 0.5f, classWeights: Weights, ignoreIndex: Ignore);

            var logits = b.Forward(Images(step));
            var grad = new float[logits.Data.Length];
            float loss = PixelCrossEntropy.Forward(logits.Data, targets, Batch, Classes, Size, Size, Weights, Ignore, grad);
            b.Parameters.ZeroGrad();
            b.Backward(new Tensor(logits.Shape, grad));
            float norm = GradientClipping.ClipByGlobalNorm(b.Parameters, 0.5f);
            optB.Step();

            Assert.Equal(loss, result.Loss);
            Assert.Equal(PixelCrossEntropy.Correct(logits.Data, targets, Batch, Classes, Size, Size, Ignore), result.Correct);
            Assert.Equal(norm, result.GradNorm);
        }
        for (int i = 0; i < a.Parameters.Count; i++) Assert.Equal(b.Parameters[i].Value, a.Parameters[i].Value);
    }

    [Theory]
    [InlineData(false, false, 0f)]
    [InlineData(true, true, 0.5f)]
    public void OnTheSimulator_MatchesTheCpu(bool weighted, bool ignore, float clip)
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        using var a = new TinySetr(cpu, seed: 5) { Training = true };
        using var b = new TinySetr(sim, seed: 5) { Training = true };
        var optA = new AdamW(a.Parameters, 1e-2f);
        var optB = new AdamW(b.Parameters, 1e-2f);
        float[]? weights = weighted ? Weights : null;
        int? ignoreIndex = ignore ? Ignore : null;
        for (int step = 0; step < 3; step++)
        {
            var targets = Targets(step, ignore);
            long copies = sim.Counters.Copies;
            var ra = a.TrainStep(Images(step), targets, optA, clip, weights, ignoreIndex);
            var rb = b.TrainStep(Images(step), targets, optB, clip, weights, ignoreIndex);
            // After the first step (parameters, moments and weights go up once) only the batch, the targets and the loss cross.
            if (step > 0) Assert.Equal(3, sim.Counters.Copies - copies);
            Assert.True(Math.Abs(ra.Loss - rb.Loss) <= 1e-4 * Math.Max(1, Math.Abs(ra.Loss)), $"step {step}: loss {rb.Loss} on the device, {ra.Loss} on the CPU");
            Assert.Equal(ra.Correct, rb.Correct);
            if (clip > 0) Assert.True(Math.Abs(ra.GradNorm - rb.GradNorm) <= 1e-4 * ra.GradNorm, $"step {step}: norm {rb.GradNorm} on the device, {ra.GradNorm} on the CPU");
        }
        b.Parameters.Synchronize();
        for (int i = 0; i < a.Parameters.Count; i++)
        {
            if (TrainStepTests.IsKeyBias(a.Parameters[i])) continue;
            Approx.Equal(a.Parameters[i].Value, b.Parameters[i].Value, 2e-4, 2e-3, a.Parameters[i].Name);
            Approx.Equal(a.Parameters[i].Grad, b.Parameters[i].Grad, 2e-5, 2e-3, "grad " + a.Parameters[i].Name);
        }
    }

    /// <summary>Every pixel ignored: loss 0 and no gradient on both sides (PyTorch would give NaN), and nothing moves but the
    /// optimizer's weight decay.</summary>
    [Fact]
    public void AllIgnored_GivesZeroLossAndGradient()
    {
        using var sim = Device.CpuSimulator();
        using var m = new TinySetr(sim, seed: 2);
        var targets = Enumerable.Repeat(Ignore, Batch * Size * Size).ToArray();
        var r = m.TrainStep(Images(0), targets, new Sgd(m.Parameters, 0.1f), ignoreIndex: Ignore);
        Assert.Equal(0f, r.Loss);
        Assert.Equal(0, r.Correct);
        m.Parameters.Synchronize();
        Assert.All(m.Parameters.Where(p => p.Trainable), p => Assert.All(p.Grad, g => Assert.Equal(0f, g)));
    }

    [Fact]
    public void BadTargets_AreRejectedBeforeAnythingRuns()
    {
        using var sim = Device.CpuSimulator();
        using var m = new TinySetr(sim, seed: 2);
        var opt = new AdamW(m.Parameters);
        var targets = Targets(0, ignore: false);
        targets[Size * Size + 17] = 3;
        long launches = sim.Counters.Launches;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.TrainStep(Images(0), targets, opt));
        Assert.Contains("Target 3 at (batch 1, row 1, col 1) is outside the 3 classes", e.Message);
        Assert.Throws<ArgumentException>(() => m.TrainStep(Images(0), new int[Batch * Size * Size - 1], opt));
        Assert.Throws<ArgumentException>(() => m.TrainStep(Images(0), Targets(0, false), opt, classWeights: new[] { 1f, -1f, 1f }));
        Assert.Equal(launches, sim.Counters.Launches);
        Assert.Equal(0, opt.StepCount);
    }
}
