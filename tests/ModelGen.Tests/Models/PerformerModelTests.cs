using System;
using System.Linq;
using ModelGen;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Performer (FAVOR+) attention as a user declares it: a PyTorch twin written from the paper on the same weights and
/// projection (float64; output, input gradient, every parameter gradient), the approximation of exact softmax attention
/// tightening as the features grow, and the projection: seeded, saved, redrawn. The device kernels are checked in
/// DevicePathTests.</summary>
public class PerformerModelTests
{
    static void AgreesWithTorch(Tensor x, Tensor y, Action<Tensor> backward, ParameterSet parameters, Func<string, Tensor> inputGradient, object config) =>
        TorchTwin.AgreesWithTorch(y, backward, parameters, inputGradient, config, "attn.", "", new[] { "x" }, TorchTwin.Named("x", x));

    [SkippableFact]
    public void Performer_AgreesWithPyTorch()
    {
        using var m = new PerformerModel(Device.Cpu(), seed: 3);
        var projection = m.Parameters["attn.projection_matrix"];
        Assert.Equal(new[] { 24, 8 }, projection.Shape);
        Assert.False(projection.Trainable);
        var x = ModelData.Random(4, 1f, 2, 20, 16);
        AgreesWithTorch(x, m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "performer", heads = 2, kv_heads = 2, causal = false, theta = 0.0 });
    }

    [SkippableFact]
    public void CausalPerformer_WithGroupedHeadsAndRotaryPositions_AgreesWithPyTorch()
    {
        using var m = new CausalPerformer(Device.Cpu(), seed: 5);
        var x = ModelData.Random(6, 1f, 3, 13, 16);
        AgreesWithTorch(x, m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "performer", heads = 4, kv_heads = 2, causal = true, theta = 10000.0 });
    }

    /// <summary>(batch, tokens) with the first <paramref name="lead"/>[b] keys of sample b padded (a left-padded batch).</summary>
    static Tensor LeftPadding(int tokens, params int[] lead)
    {
        var t = Tensor.Zeros(lead.Length, tokens);
        for (int b = 0; b < lead.Length; b++)
            for (int k = 0; k < lead[b]; k++) t[b, k] = 1f;
        return t;
    }

    [SkippableFact]
    public void PaddedPerformer_AgreesWithPyTorch()
    {
        // No padding, the last 4 keys, and every key (the sample's attention gives 0, its output is out_proj's bias).
        using var m = new PaddedPerformer(Device.Cpu(), seed: 13);
        var x = ModelData.Random(14, 1f, 3, 12, 16);
        var pad = ModelData.Padding(12, 0, 4, 12);
        var y = m.Forward(x, pad);
        var bias = m.Parameters["attn.out_proj.bias"].Value;
        for (int n = 0; n < 12; n++) Assert.Equal(bias, y.Data.AsSpan((2 * 12 + n) * 16, 16).ToArray());
        TorchTwin.AgreesWithTorch(y, m.Backward, m.Parameters, m.InputGradient, new { op = "performer", heads = 2, kv_heads = 1, causal = false, theta = 0.0 },
            "attn.", "", new[] { "x" }, TorchTwin.Named("x", x), TorchTwin.Named("padding", pad));
    }

    [SkippableFact]
    public void CausalPaddedPerformer_AgreesWithPyTorch()
    {
        // Left padding: the first queries of the second sample see only padded keys.
        using var m = new CausalPaddedPerformer(Device.Cpu(), seed: 15);
        var x = ModelData.Random(16, 1f, 2, 10, 12);
        var pad = LeftPadding(10, 0, 3);
        TorchTwin.AgreesWithTorch(m.Forward(x, pad), m.Backward, m.Parameters, m.InputGradient, new { op = "performer", heads = 3, kv_heads = 3, causal = true, theta = 0.0 },
            "attn.", "", new[] { "x" }, TorchTwin.Named("x", x), TorchTwin.Named("padding", pad));
    }

    [Fact]
    public void ApproximationError_FallsAsTheFeaturesGrow()
    {
        // The same q/k/v/out weights in exact softmax attention and in Performers of m = 16 … 1024 features; the relative error
        // of the output, averaged over eight draws of the projection, falls with m: at every step, and by more than 4× from 16
        // to 1024 features (1/√m would give 8×; the exponential estimates of few features are heavy-tailed).
        var x = ModelData.Random(7, 1f, 2, 32, 16);
        using var exact = new ExactAttention32(Device.Cpu(), seed: 8);
        var reference = exact.Forward(x).Data;
        double Error(IDisposable model, ParameterSet parameters, Func<Tensor, Tensor> forward)
        {
            using var _ = model;
            foreach (var p in exact.Parameters)
            {
                p.Value.CopyTo(parameters[p.Name].Value, 0);
                parameters[p.Name].MarkChanged();
            }
            double total = 0;
            for (int draw = 0; draw < 8; draw++)
            {
                Assert.Equal(1, RandomFeatures.Redraw(parameters, 100 + draw));
                total += Approx.RelativeError(reference, forward(x).Data);
            }
            return total / 8;
        }
        var p16 = new Performer16(Device.Cpu());
        var p64 = new Performer64(Device.Cpu());
        var p256 = new Performer256(Device.Cpu());
        var p1024 = new Performer1024(Device.Cpu());
        var errors = new[]
        {
            Error(p16, p16.Parameters, p16.Forward), Error(p64, p64.Parameters, p64.Forward),
            Error(p256, p256.Parameters, p256.Forward), Error(p1024, p1024.Parameters, p1024.Forward),
        };
        string table = $"errors over m = 16, 64, 256, 1024: {string.Join(", ", errors.Select(e => e.ToString("G3")))}";
        for (int i = 1; i < errors.Length; i++) Assert.True(errors[i] < errors[i - 1], table);
        Assert.True(errors[^1] < errors[0] / 4 && errors[^1] < 0.1, table);
    }

    [Fact]
    public void TheProjection_IsSeeded_Saved_AndRedrawn() =>
        RandomBuffers.AreSeededSavedAndRedrawn(seed => new PerformerModel(Device.Cpu(), seed), m => m.Parameters, (m, x) => m.Forward(x), "attn.projection_matrix",
            RandomFeatures.Redraw, ModelData.Random(9, 1f, 1, 20, 16));
}
