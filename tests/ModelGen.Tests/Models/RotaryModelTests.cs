using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Attention with rotary positions as a user declares it: the whole layer against PyTorch's twin on the same weights
/// (projections, RoPE by complex multiplication, softmax attention, output projection, float64). The device kernels of a
/// rotary encoder are checked with the other models in DevicePathTests.</summary>
public class RotaryModelTests
{
    [SkippableFact]
    public void RotaryAttention_AgreesWithPyTorch()
    {
        using var m = new RotaryAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(4, 1f, 2, 11, 24);
        var y = m.Forward(x);
        var dy = ModelData.Random(5, 1f, y.Shape);
        m.Backward(dy);
        var inputs = new[] { new SafeTensor("x", x.Shape, x.Data), new SafeTensor("grad_output", dy.Shape, dy.Data) }
            .Concat(m.Parameters.Select(p => new SafeTensor(p.Name.Substring("attn.".Length), p.Shape, p.Value))).ToArray();
        var reference = TorchOps.Run(new { op = "rotary_attention", heads = 3, theta = 10000.0 }, inputs);
        TorchOps.Close(reference, "output", y.Data);
        TorchOps.Close(reference, "grad.x", m.InputGradient("x").Data);
        foreach (var p in m.Parameters) TorchOps.Close(reference, "grad." + p.Name.Substring("attn.".Length), p.Grad);
    }

    [Fact]
    public void RotaryAttention_RotatesQueriesAndKeys_AndChangesTheOutput()
    {
        using var m = new RotaryAttention(Device.Cpu(), seed: 3);
        var x = ModelData.Random(6, 1f, 1, 11, 24);
        m.Forward(x);
        var q = m.Intermediate("attn.q_proj")!;
        var rotated = m.Intermediate("attn.q_rope")!;
        Assert.NotNull(m.Intermediate("attn.k_rope"));
        // Position 0 is not rotated; later positions are, by an angle that keeps each pair's length.
        Assert.Equal(q.Data.Take(24), rotated.Data.Take(24));
        Assert.NotEqual(q.Data.Skip(24 * 5).Take(24), rotated.Data.Skip(24 * 5).Take(24));
        for (int i = 24 * 5; i < 24 * 6; i += 2)
        {
            double before = q.Data[i] * q.Data[i] + q.Data[i + 1] * q.Data[i + 1];
            double after = rotated.Data[i] * rotated.Data[i] + rotated.Data[i + 1] * rotated.Data[i + 1];
            Assert.Equal(before, after, 5);
        }
    }
}
