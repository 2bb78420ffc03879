using System.Linq;
using ModelGen;
using ModelGen.Tests.Models;
using Xunit;

namespace ModelGen.Tests.Layers;

/// <summary>[ConvBnRelu] is the three layers it stands for: on the same weights it gives what Conv2d (no bias), BatchNorm and ReLU
/// declared one by one give — output, running statistics, input and parameter gradients — in training and in evaluation.</summary>
public class ConvBnReluTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EqualsTheChainItStandsFor(bool training)
    {
        using var block = new ConvBnReluBlock(Device.Cpu(), seed: 3) { Training = training };
        using var chain = new ConvBnReluChain(Device.Cpu(), seed: 4) { Training = training };
        Assert.Equal(new[] { "block.conv.weight", "block.bn.weight", "block.bn.bias", "block.bn.running_mean", "block.bn.running_var" },
            block.Parameters.Select(p => p.Name));
        var random = new System.Random(5);
        foreach (var (b, c) in block.Parameters.Zip(chain.Parameters))
        {
            Assert.Equal(b.Shape, c.Shape);
            for (int i = 0; i < b.Value.Length; i++) b.Value[i] = c.Value[i] = b.Name.EndsWith("running_var") ? 0.5f + (float)random.NextDouble() : (float)(random.NextDouble() - 0.5);
            b.MarkChanged();
            c.MarkChanged();
        }
        var x = ModelData.Random(6, 1f, 2, 3, 9, 7);
        var y = block.Forward(x);
        Assert.Equal(new[] { 2, 5, 5, 4 }, y.Shape); // (9 + 2 - 3)/2 + 1 = 5, (7 + 2 - 3)/2 + 1 = 4
        Assert.Equal(chain.Forward(x).Data, y.Data);
        var dy = ModelData.Random(7, 1f, y.Shape);
        block.Backward(dy);
        chain.Backward(dy);
        Assert.Equal(chain.InputGradient("x").Data, block.InputGradient("x").Data);
        foreach (var (b, c) in block.Parameters.Zip(chain.Parameters))
        {
            Assert.Equal(c.Value, b.Value); // running statistics, moved alike in training
            if (b.Trainable) Assert.Equal(c.Grad, b.Grad);
        }
    }
}
