using System;
using System.Linq;
using ModelGen;
using ModelGen.Benchmarks;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>The benchmarked ViT-Tiny/16 declaration (224², 12 layers, width 192) compiles, runs and learns.</summary>
public class VitTinyTests
{
    [Fact]
    public void HasTheParameterCountAndNamesOfTheReferenceModel()
    {
        using var m = new VitTiny(Device.Cpu());
        // timm's vit_tiny_patch16_224: 5,717,416 parameters.
        Assert.Equal(5_717_416, m.Parameters.ElementCount);
        Assert.Equal(new[] { 192, 3, 16, 16 }, m.Parameters["embed.proj.weight"].Shape);
        Assert.Equal(new[] { 197, 192 }, m.Parameters["pos.weight"].Shape);
        Assert.Equal(new[] { 768, 192 }, m.Parameters["encoder.layers.11.mlp.fc1.weight"].Shape);
        Assert.Equal(new[] { 1000, 192 }, m.Parameters["head.weight"].Shape);
    }

    [Fact]
    public void TrainingSteps_LowerTheLossOnAFixedBatch()
    {
        using var m = new VitTiny(Device.Cpu(), seed: 1);
        const int batch = 2, classes = 1000;
        var x = ModelData.Random(2, 1f, batch, 3, 224, 224);
        var labels = new[] { 3, 997 };
        var grad = new float[batch * classes];
        var optimizer = new AdamW(m.Parameters, 1e-3f, weightDecay: 0f);
        float first = 0, last = 0;
        for (int step = 0; step < 4; step++)
        {
            var logits = m.Forward(x);
            Assert.Equal(new[] { batch, classes }, logits.Shape);
            Assert.All(logits.Data, v => Assert.True(float.IsFinite(v)));
            float loss = CrossEntropy.Forward(logits.Data, labels, batch, classes, 0f, grad);
            if (step == 0) first = loss;
            last = loss;
            m.Parameters.ZeroGrad();
            m.Backward(new Tensor(new[] { batch, classes }, grad));
            Assert.Contains(m.Parameters["encoder.layers.0.attn.q_proj.weight"].Grad, g => g != 0);
            optimizer.Step();
        }
        // Untrained logits are small, so the first loss is near ln 1000 = 6.9 (above it by half the logits' variance).
        Assert.InRange(first, 6.5, 9.5);
        Assert.True(last < first - 1, $"loss went from {first} to {last} in 4 AdamW steps on one batch");
    }
}
