using System;
using System.Linq;
using ModelGen.Tests.Models;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

/// <summary>
/// The generated TrainStep: on the CPU backend exactly the hand-written loop; on the GPU-shaped simulator the same numbers
/// with everything kept on the device (the flat parameter, gradient and moment buffers, loss, clipping and AdamW there),
/// and a step that moves only the batch up and the loss down.
/// </summary>
public class TrainStepTests
{
    const int Batch = 6, Classes = 5;

    static Tensor Images(int step) => ModelData.Random(100 + step, 1f, Batch, 2, 12, 8);

    static int[] Labels(int step) => Enumerable.Range(0, Batch).Select(i => (i * 3 + step) % Classes).ToArray();

    [Fact]
    public void OnCpu_IsTheHandWrittenLoop()
    {
        using var cpu = Device.Cpu();
        using var a = new TinyVit(cpu, seed: 3);
        using var b = new TinyVit(cpu, seed: 3);
        var optA = new AdamW(a.Parameters, 1e-2f);
        var optB = new AdamW(b.Parameters, 1e-2f);
        for (int step = 0; step < 3; step++)
        {
            var result = a.TrainStep(Images(step), Labels(step), optA, labelSmoothing: 0.1f, clipNorm: 0.5f);

            var logits = b.Forward(Images(step));
            var grad = new float[Batch * Classes];
            float lossB = CrossEntropy.Forward(logits.Data, Labels(step), Batch, Classes, 0.1f, grad);
            b.Parameters.ZeroGrad();
            b.Backward(new Tensor(new[] { Batch, Classes }, grad));
            float norm = GradientClipping.ClipByGlobalNorm(b.Parameters, 0.5f);
            optB.Step();

            Assert.Equal(lossB, result.Loss);
            Assert.Equal(CrossEntropy.Correct(logits.Data, Labels(step), Batch, Classes), result.Correct);
            Assert.Equal(norm, result.GradNorm);
        }
        for (int i = 0; i < a.Parameters.Count; i++) Assert.Equal(b.Parameters[i].Value, a.Parameters[i].Value);
    }

    [Theory]
    [InlineData(0f, 0f)]
    [InlineData(0.1f, 0.05f)]
    public void OnTheSimulator_MatchesTheCpu(float smoothing, float clip)
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        using var a = new TinyVit(cpu, seed: 5);
        using var b = new TinyVit(sim, seed: 5);
        var optA = new AdamW(a.Parameters, 1e-2f, weightDecay: 0.05f);
        var optB = new AdamW(b.Parameters, 1e-2f, weightDecay: 0.05f);
        for (int step = 0; step < 3; step++)
        {
            var ra = a.TrainStep(Images(step), Labels(step), optA, smoothing, clip);
            var rb = b.TrainStep(Images(step), Labels(step), optB, smoothing, clip);
            Assert.True(Math.Abs(ra.Loss - rb.Loss) <= 1e-4 * Math.Max(1, Math.Abs(ra.Loss)), $"step {step}: loss {rb.Loss} on the device, {ra.Loss} on the CPU");
            Assert.Equal(ra.Correct, rb.Correct);
            if (clip > 0) Assert.True(Math.Abs(ra.GradNorm - rb.GradNorm) <= 1e-4 * ra.GradNorm, $"step {step}: norm {rb.GradNorm} on the device, {ra.GradNorm} on the CPU");
            else Assert.True(float.IsNaN(rb.GradNorm));
        }
        b.Parameters.Synchronize();
        for (int i = 0; i < a.Parameters.Count; i++)
        {
            if (IsKeyBias(a.Parameters[i])) continue;
            Approx.Equal(a.Parameters[i].Value, b.Parameters[i].Value, 2e-4, 2e-3, a.Parameters[i].Name);
            Approx.Equal(a.Parameters[i].Grad, b.Parameters[i].Grad, 2e-5, 2e-3, "grad " + a.Parameters[i].Name);
            Approx.Equal(optA.FirstMoment(i).ToArray(), optB.FirstMoment(i).ToArray(), 2e-5, 2e-3, "exp_avg " + a.Parameters[i].Name);
        }
        // Stepping on the host after device steps starts from the device's values and moments.
        a.Parameters.ZeroGrad();
        b.Parameters.ZeroGrad();
        optA.Step();
        optB.Step();
        for (int i = 0; i < a.Parameters.Count; i++)
            if (!IsKeyBias(a.Parameters[i])) Approx.Equal(a.Parameters[i].Value, b.Parameters[i].Value, 2e-4, 2e-3, "host step " + a.Parameters[i].Name);
    }

    /// <summary>SGD steps on the device too (momentum, Nesterov, dampening, decay, clipping folded in): the same values, gradients
    /// and momentum buffers as the CPU; a host step after device steps starts from the device's buffers; a step moves the batch
    /// up and the loss down, nothing else.</summary>
    [Theory]
    [InlineData(0f, false, 0f, 0f, 0f)]
    [InlineData(0.9f, false, 0.1f, 0.01f, 0.05f)]
    [InlineData(0.9f, true, 0f, 0.01f, 0f)]
    public void Sgd_OnTheSimulator_MatchesTheCpu(float momentum, bool nesterov, float dampening, float decay, float clip)
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        using var a = new TinyVit(cpu, seed: 6);
        using var b = new TinyVit(sim, seed: 6);
        var optA = new Sgd(a.Parameters, 0.05f, momentum, nesterov, decay, dampening);
        var optB = new Sgd(b.Parameters, 0.05f, momentum, nesterov, decay, dampening);
        for (int step = 0; step < 3; step++)
        {
            long copies = sim.Counters.Copies;
            var ra = a.TrainStep(Images(step), Labels(step), optA, 0f, clip);
            var rb = b.TrainStep(Images(step), Labels(step), optB, 0f, clip);
            if (step > 0) Assert.Equal(3, sim.Counters.Copies - copies);
            Assert.True(Math.Abs(ra.Loss - rb.Loss) <= 1e-4 * Math.Max(1, Math.Abs(ra.Loss)), $"step {step}: loss {rb.Loss} on the device, {ra.Loss} on the CPU");
            if (clip > 0) Assert.True(Math.Abs(ra.GradNorm - rb.GradNorm) <= 1e-4 * ra.GradNorm, $"step {step}: norm {rb.GradNorm} on the device, {ra.GradNorm} on the CPU");
        }
        Assert.Equal(3, optB.StepCount);
        b.Parameters.Synchronize();
        for (int i = 0; i < a.Parameters.Count; i++)
        {
            if (IsKeyBias(a.Parameters[i])) continue;
            Approx.Equal(a.Parameters[i].Value, b.Parameters[i].Value, 2e-5, 2e-3, a.Parameters[i].Name);
            Approx.Equal(a.Parameters[i].Grad, b.Parameters[i].Grad, 2e-5, 2e-3, "grad " + a.Parameters[i].Name);
            Approx.Equal(optA.MomentumBuffer(i).ToArray(), optB.MomentumBuffer(i).ToArray(), 2e-5, 2e-3, "momentum " + a.Parameters[i].Name);
        }
        optA.Step();
        optB.Step();
        for (int i = 0; i < a.Parameters.Count; i++)
            if (!IsKeyBias(a.Parameters[i])) Approx.Equal(a.Parameters[i].Value, b.Parameters[i].Value, 2e-5, 2e-3, "host step " + a.Parameters[i].Name);
    }

    /// <summary>A key projection's bias shifts every score of a row equally, so softmax cancels it: its gradient is zero in
    /// exact arithmetic and rounding noise in floats, which Adam normalises into full-size steps of either sign. Its values
    /// cannot agree between two summation orders; that its gradient is noise is checked instead.</summary>
    internal static bool IsKeyBias(Parameter p)
    {
        if (!p.Name.EndsWith("k_proj.bias", StringComparison.Ordinal)) return false;
        Assert.True(p.Grad.All(g => Math.Abs(g) < 1e-4f), $"{p.Name}'s gradient should be rounding noise");
        return true;
    }

    /// <summary>The design of a device step, counted: one copy per data input and one for the labels go up, one for the loss
    /// comes down; the launches are the passes' own plus the loss and its sums (3), the clipping norm (2), AdamW (1) and two memsets.</summary>
    [Fact]
    public void OnTheSimulator_AStepMovesTheBatchUpAndTheLossDown()
    {
        using var sim = Device.CpuSimulator();
        using var m = new TinyVit(sim, seed: 1);
        var opt = new AdamW(m.Parameters);
        m.TrainStep(Images(0), Labels(0), opt, clipNorm: 1f); // first step: parameters and moments go up once

        var before = (sim.Counters.Launches, sim.Counters.Copies);
        m.Forward(Images(1));
        long forwardLaunches = sim.Counters.Launches - before.Launches;
        before = (sim.Counters.Launches, sim.Counters.Copies);
        m.Backward(ModelData.Random(7, 1f, Batch, Classes));
        long backwardLaunches = sim.Counters.Launches - before.Launches - 1; // less its activation-gradient memset
        Assert.True(forwardLaunches > 10 && backwardLaunches > 10, $"{forwardLaunches} forward and {backwardLaunches} backward launches");

        for (int step = 1; step < 4; step++)
        {
            before = (sim.Counters.Launches, sim.Counters.Copies);
            m.TrainStep(Images(step), Labels(step), opt, clipNorm: 1f);
            long launches = sim.Counters.Launches - before.Launches, copies = sim.Counters.Copies - before.Copies;
            // The Forward and Backward calls above changed host values (none) and gradients (uploaded by Backward's compatible
            // path), so from the second TrainStep on nothing but the batch and the loss may cross.
            Assert.Equal(3, copies);
            Assert.Equal(forwardLaunches + backwardLaunches + 3 + 2 + 1 + 2, launches);
        }
    }

    [Fact]
    public void BadLabels_AreRejectedBeforeAnythingRuns()
    {
        using var sim = Device.CpuSimulator();
        using var m = new TinyVit(sim, seed: 1);
        var opt = new AdamW(m.Parameters);
        var labels = Labels(0);
        labels[4] = Classes;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.TrainStep(Images(0), labels, opt));
        Assert.Contains("Label 5 of row 4 is outside the 5 classes", e.Message);
        Assert.Equal(0, opt.StepCount);
        var short_ = Assert.Throws<ArgumentException>(() => m.TrainStep(Images(0), new int[Batch - 1], opt));
        Assert.Contains("labels holds 5 values but the batch has 6 rows", short_.Message);
    }
}

/// <summary>The op profiler on the simulator: every op of both passes gets a time, costed at the batch it ran.</summary>
public class OpProfilerTests
{
    [Fact]
    public void ProfilesEveryOpOfATrainingStep()
    {
        using var sim = Device.CpuSimulator();
        using var m = new TinyVit(sim, seed: 1);
        var opt = new AdamW(m.Parameters);
        var x = ModelData.Random(1, 1f, 4, 2, 12, 8);
        var labels = new[] { 0, 1, 2, 3 };
        m.TrainStep(x, labels, opt);
        m.Profiler.Start();
        m.TrainStep(x, labels, opt);
        m.TrainStep(x, labels, opt);
        var timings = m.Profiler.Stop();
        Assert.Equal(2 * TinyVit.Ops.Count + 1, timings.Count);
        Assert.All(timings, t => Assert.True(t.Milliseconds >= 0));
        // Self-attention's q, k and v projections are one op: 2 · batch · 7 tokens (6 patches and the class token) · 16 in · 3·16 out;
        // its bytes are x and the three outputs, and the three weights and biases.
        var qkv = Assert.Single(timings, t => !t.Backward && t.Op.Path == "encoder.layers.0.attn");
        Assert.Equal(2L * 4 * 7 * 16 * 48, qkv.Flops);
        Assert.Equal(4L * 4 * 7 * 16 * 4 + 4L * 3 * (16 * 16 + 16), qkv.Bytes);
        Assert.Contains(timings, t => t.Op.Name.StartsWith("(between passes", StringComparison.Ordinal));
        string table = OpProfiler.Format(timings, 60e12, 4e12);
        Assert.Contains("encoder.layers.0.attn (Projections q, k, v)", table);
        Assert.Contains("encoder.layers.0.attn.out_proj (Linear + residual)", table);
        using var cpu = Device.Cpu();
        using var onCpu = new TinyVit(cpu);
        Assert.Throws<InvalidOperationException>(() => onCpu.Profiler.Start());
    }
}
