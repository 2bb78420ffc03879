using System;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>A model whose attention is long enough for memory-efficient attention on the CPU: against nn.MultiheadAttention's
/// function on the same weights, and its probabilities recomputed on request.</summary>
public class StreamingAttentionModelTests
{
    [SkippableFact]
    public void LongCausalAttention_AgreesWithPyTorch()
    {
        using var m = new LongAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(4, 1f, 2, 400, 16);
        TorchTwin.AgreesWithTorch(m.Forward(x), m.Backward, m.Parameters, m.InputGradient,
            new { op = "biased_attention", heads = 4, causal = true, positions = "none", buckets = 0, max_distance = 0, mask = "none" },
            "attn.", "", new[] { "x" }, TorchTwin.Named("x", x));
    }

    [Fact]
    public void ProbabilitiesAreRecomputedOnRequest()
    {
        using var m = new LongAttention(Device.Cpu(), seed: 3);
        m.Forward(ModelData.Random(6, 1f, 1, 400, 16));
        var probs = m.Intermediate("attn.heads.probs")!;
        Assert.Equal(new[] { 1, 4, 400, 400 }, probs.Shape);
        for (int h = 0; h < 4; h++)
            foreach (int i in new[] { 0, 17, 399 })
            {
                double sum = 0;
                for (int j = 0; j < 400; j++)
                {
                    float p = probs.Data[(h * 400 + i) * 400 + j];
                    if (j > i) Assert.Equal(0f, p);
                    sum += p;
                }
                Assert.Equal(1.0, sum, 5);
            }
        Assert.NotNull(m.Intermediate("attn.heads.lse"));
    }
}
