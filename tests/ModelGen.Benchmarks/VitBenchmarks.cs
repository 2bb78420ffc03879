using ModelGen.Examples.FashionMnist;
using System;
using BenchmarkDotNet.Attributes;
using ModelGen;
using ModelGen.Training;

namespace ModelGen.Benchmarks;

/// <summary>Random inputs the way the ViT benchmarks (and the quick mode) fill them, from a fixed seed.</summary>
internal static class VitData
{
    /// <summary>Normally distributed values (Box-Muller): what a normalized image batch looks like to the model.</summary>
    public static float[] NormalImages(int count, int seed)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    public static int[] Labels(int count, int classes, int seed)
    {
        var rng = new Random(seed);
        var a = new int[count];
        for (int i = 0; i < count; i++) a[i] = rng.Next(classes);
        return a;
    }
}

/// <summary>
/// One Fashion-MNIST training step at batch 128 — forward, cross-entropy, zero grads, backward, AdamW — the work
/// examples/FashionMnist does per step (less the schedule and clipping), on random normalized images and labels. Also the
/// inference forward (Training = false) at batch 128. The peer's numbers: <c>torch_vit.py fashion</c> (median_step_ms)
/// and ONNX Runtime on <c>fashion_vit_b128.onnx</c>.
/// </summary>
[MemoryDiagnoser]
public class FashionVitBenchmarks : IDisposable
{
    public const int Batch = 128, Classes = 10;

    FashionVit model = null!;
    AdamW optimizer = null!;
    Tensor images = null!;
    int[] labels = null!;
    float[] grad = null!;

    /// <summary>The last step's loss (training) or the first logit (forward), so the work can be checked.</summary>
    public double LastValue { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        model = new FashionVit(Device.Cpu(), 0);
        optimizer = new AdamW(model.Parameters, 1e-3f, weightDecay: 0.05f);
        images = new Tensor(new[] { Batch, 1, 28, 28 }, VitData.NormalImages(Batch * 28 * 28, 1));
        labels = VitData.Labels(Batch, Classes, 2);
        grad = new float[Batch * Classes];
    }

    [GlobalCleanup]
    public void Dispose() => model?.Dispose();

    [Benchmark(Description = "fashion-vit train step (b128)")]
    public void TrainStep()
    {
        model.Training = true;
        var logits = model.Forward(images);
        LastValue = CrossEntropy.Forward(logits.Data, labels, Batch, Classes, 0f, grad);
        model.Parameters.ZeroGrad();
        model.Backward(new Tensor(new[] { Batch, Classes }, grad));
        optimizer.Step();
    }

    [Benchmark(Description = "fashion-vit forward (b128)")]
    public Tensor Forward()
    {
        model.Training = false;
        var logits = model.Forward(images);
        LastValue = logits.Data[0];
        return logits;
    }
}

/// <summary>
/// ViT-Tiny/16 inference (Training = false) on random normalized 3×224×224 images at batch 1 and 8; the peer's numbers:
/// <c>torch_vit.py vit-tiny</c> and ONNX Runtime on <c>vit_tiny_b1.onnx</c> / <c>vit_tiny_b8.onnx</c>.
/// </summary>
[MemoryDiagnoser]
public class VitTinyBenchmarks : IDisposable
{
    [Params(1, 8)] public int Batch { get; set; } = 1;

    VitTiny model = null!;
    Tensor images = null!;

    public double LastValue { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        model = new VitTiny(Device.Cpu(), 0) { Training = false };
        images = new Tensor(new[] { Batch, 3, 224, 224 }, VitData.NormalImages(Batch * 3 * 224 * 224, 3));
    }

    [GlobalCleanup]
    public void Dispose() => model?.Dispose();

    [Benchmark(Description = "vit-tiny forward")]
    public Tensor Forward()
    {
        var logits = model.Forward(images);
        LastValue = logits.Data[0];
        return logits;
    }
}
