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

    [Fact]
    public void SpanBesideAnAttentionMask_GradientMatchesFiniteDifferences()
    {
        // Two score biases summed per sample: the span's log-mask and the attention mask.
        using var m = new MaskedAdaptiveSpan(Device.Cpu(), seed: 9);
        var x = ModelData.Random(10, 1f, 2, 14, 12);
        var mask = new float[2 * 14 * 14];
        mask[3 * 14 + 1] = 1f;
        var maskTensor = new Tensor(new[] { 2, 14, 14 }, mask);
        var r = ModelData.Random(11, 1f, 2, 14, 12);
        double Loss() => m.Forward(x, maskTensor).Data.Select((v, i) => (double)v * r.Data[i]).Sum();
        var span = m.Parameters["attn.span"];
        span.Value[0] = 0.05f;   // spans inside (0, 1): the loss is smooth in them there
        span.Value[1] = 0.12f;
        span.MarkChanged();
        m.Forward(x, maskTensor);
        m.Parameters.ZeroGrad();
        m.Backward(r);
        for (int h = 0; h < 2; h++)
        {
            float keep = span.Value[h];
            span.Value[h] = keep + 1e-3f; span.MarkChanged();
            double plus = Loss();
            span.Value[h] = keep - 1e-3f; span.MarkChanged();
            double minus = Loss();
            span.Value[h] = keep; span.MarkChanged();
            Assert.Equal((plus - minus) / 2e-3, span.Grad[h], 2);
        }
    }

    [Fact]
    public void ClampedSpans_PassNoGradient_AndClampSpansBringsThemBack()
    {
        // Fuzz seed 15033: a span below 0 is clamped to 0 in the forward, so the loss does not depend on it there.
        using var m = new FuzzSpan15033(Device.Cpu(), seed: 9);
        var x = ModelData.Random(10, 1f, 2, 14, 12);
        var mask = new Tensor(new[] { 2, 14, 14 }, new float[2 * 14 * 14]);
        var span = m.Parameters["d.span"];
        span.Value[0] = -0.44f;
        span.Value[1] = 1.3f;
        span.MarkChanged();
        var y = m.Forward(x, mask);
        m.Parameters.ZeroGrad();
        m.Backward(ModelData.Random(11, 1f, y.Shape));
        Assert.Equal(new[] { 0f, 0f }, span.Grad);
        Assert.Equal(1, ModelGen.Ops.AdaptiveSpan.ClampSpans(m.Parameters));
        Assert.Equal(new[] { 0f, 1f }, span.Value);
        Assert.Equal(y.Data, m.Forward(x, mask).Data);
    }
}
