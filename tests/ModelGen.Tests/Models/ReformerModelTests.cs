using System;
using System.Linq;
using ModelGen;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Reformer LSH attention as a user declares it: a PyTorch twin written from the authors' formulation on the same
/// weights and rotations (float64; output, input gradient, every parameter gradient), unmasked and causal with padding; and the
/// rotations: seeded, saved, redrawn. The device kernels are checked in DevicePathTests.</summary>
public class ReformerModelTests
{
    [SkippableFact]
    public void Reformer_AgreesWithPyTorch()
    {
        using var m = new ReformerModel(Device.Cpu(), seed: 3);
        var rotations = m.Parameters["attn.rotations"];
        Assert.Equal(new[] { 2, 8, 3 }, rotations.Shape);
        Assert.False(rotations.Trainable);
        var x = ModelData.Random(4, 1f, 2, 24, 16);
        TorchTwin.AgreesWithTorch(m.Forward(x), m.Backward, m.Parameters, m.InputGradient,
            new { op = "reformer", heads = 2, buckets = 6, rounds = 2, chunk = 4, causal = false }, "attn.", "", new[] { "x" }, TorchTwin.Named("x", x));
    }

    [SkippableFact]
    public void CausalPaddedReformer_AgreesWithPyTorch()
    {
        using var m = new CausalReformer(Device.Cpu(), seed: 5);
        Assert.Equal(new[] { 3, 4, 4 }, m.Parameters["attn.rotations"].Shape);
        var x = ModelData.Random(6, 1f, 3, 16, 12);
        var pad = ModelData.Padding(16, 0, 3, 6);
        TorchTwin.AgreesWithTorch(m.Forward(x, pad), m.Backward, m.Parameters, m.InputGradient,
            new { op = "reformer", heads = 3, buckets = 8, rounds = 3, chunk = 4, causal = true }, "attn.", "", new[] { "x" },
            TorchTwin.Named("x", x), TorchTwin.Named("padding", pad));
    }

    [Fact]
    public void TheRotations_AreSeeded_Saved_AndRedrawn()
    {
        RandomBuffers.AreSeededSavedAndRedrawn(seed => new ReformerModel(Device.Cpu(), seed), m => m.Parameters, (m, x) => m.Forward(x), "attn.rotations",
            ReformerAttention.Redraw, ModelData.Random(9, 1f, 1, 24, 16));
        // The Performer projections are another buffer: a Reformer model has none.
        using var m = new ReformerModel(Device.Cpu(), seed: 12);
        Assert.Equal(0, RandomFeatures.Redraw(m.Parameters, 12));
    }
}
