using System;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Shaw's relative position representations as a user declares them, against a PyTorch twin written from the paper on the
/// same weights (float64; output, input gradient, every parameter gradient, the table's included). The device kernels are
/// checked in DevicePathTests.</summary>
public class ShawModelTests
{
    [SkippableFact]
    public void RelativeKeys_AgreePyTorch()
    {
        using var m = new ShawModel(Device.Cpu(), seed: 3);
        Assert.Equal(new[] { 7, 8 }, m.Parameters["attn.relative_keys.weight"].Shape);
        var x = ModelData.Random(4, 1f, 2, 9, 16);
        TorchTwin.AgreesWithTorch(m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "shaw_attention", heads = 2, max_distance = 3, causal = false },
            "attn.", "", new[] { "x" }, TorchTwin.Named("x", x));
    }

    [SkippableFact]
    public void CausalRelativeKeys_WithAnAttentionMask_AgreePyTorch()
    {
        // The mask joins as -inf where nonzero, so the twin's scores see it as another mask: compare against a twin of the
        // causal model and an all-zero mask, then check a mask changes the output.
        using var m = new CausalShaw(Device.Cpu(), seed: 5);
        var x = ModelData.Random(6, 1f, 3, 7, 16);
        var none = new Tensor(new[] { 3, 7, 7 }, new float[3 * 49]);
        var y = m.Forward(x, none);
        TorchTwin.AgreesWithTorch(y, m.Backward, m.Parameters, name => m.InputGradient(name), new { op = "shaw_attention", heads = 4, max_distance = 2, causal = true },
            "attn.", "", new[] { "x" }, TorchTwin.Named("x", x));
        var mask = new float[3 * 49];
        mask[2 * 7 + 0] = 1f;   // sample 0: query 2 may not see key 0
        var masked = m.Forward(x, new Tensor(new[] { 3, 7, 7 }, mask)).Data;
        Assert.NotEqual(y.Data.Skip(2 * 16).Take(16), masked.Skip(2 * 16).Take(16));
        Assert.Equal(y.Data.Skip(3 * 16).Take(16), masked.Skip(3 * 16).Take(16));
    }
}

/// <summary>Adaptive attention span as a user declares it, against a PyTorch twin written from the paper (float64): output, input
/// gradient, every parameter gradient, the spans' included.</summary>
public class AdaptiveSpanModelTests
{
    [SkippableFact]
    public void AdaptiveSpan_AgreesWithPyTorch()
    {
        using var m = new AdaptiveSpanModel(Device.Cpu(), seed: 7);
        var span = m.Parameters["attn.span"];
        Assert.Equal(new[] { 0f, 0f }, span.Value);   // the paper's initial spans
        span.Value[0] = 0.3f;
        span.Value[1] = 0.8f;
        span.MarkChanged();
        var x = ModelData.Random(8, 1f, 2, 16, 16);
        TorchTwin.AgreesWithTorch(m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "adaptive_span", heads = 2, max_span = 8, ramp = 3, causal = true },
            "attn.", "", new[] { "x" }, TorchTwin.Named("x", x));
        Assert.NotEqual(0f, span.Grad[0]);
    }
}
