using System.Linq;
using ModelGen;
using ModelGen.Tests.Models;
using Xunit;

namespace ModelGen.Tests.Layers;

/// <summary>Layers that are another declaration by definition give exactly what it gives on the same weights: output, input
/// gradient and every parameter gradient.</summary>
public class LayerEquivalenceTests
{
    /// <summary>Copies b's parameters into a's, in order (the names differ by their prefixes only).</summary>
    static void ShareWeights(ParameterSet a, ParameterSet b)
    {
        Assert.Equal(b.Count, a.Count);
        foreach (var (pa, pb) in a.Zip(b))
        {
            Assert.Equal(pb.Shape, pa.Shape);
            pb.Value.CopyTo(pa.Value, 0);
            pa.MarkChanged();
        }
    }

    static void SameForwardAndBackward(Tensor x, string input, System.Func<Tensor, Tensor> forwardA, System.Action<Tensor> backwardA, System.Func<string, Tensor> gradA, ParameterSet a,
        System.Func<Tensor, Tensor> forwardB, System.Action<Tensor> backwardB, System.Func<string, Tensor> gradB, ParameterSet b)
    {
        var y = forwardA(x);
        Assert.Equal(forwardB(x).Data, y.Data);
        var dy = ModelData.Random(99, 1f, y.Shape);
        backwardA(dy);
        backwardB(dy);
        Assert.Equal(gradB(input).Data, gradA(input).Data);
        foreach (var (pa, pb) in a.Zip(b)) Assert.Equal(pb.Grad, pa.Grad);
    }

    [Fact]
    public void TransformerEncoderLayerIsAOneLayerEncoder()
    {
        using var layer = new OneEncoderLayer(Device.Cpu(), seed: 1);
        using var stack = new OneLayerEncoder(Device.Cpu(), seed: 2);
        Assert.Equal(stack.Parameters.Select(p => p.Name.Replace("encoder.layers.0.", "encoder.")), layer.Parameters.Select(p => p.Name));
        ShareWeights(layer.Parameters, stack.Parameters);
        var x = ModelData.Random(3, 1f, 2, 6, 12);
        SameForwardAndBackward(x, "x", layer.Forward, layer.Backward, layer.InputGradient, layer.Parameters, stack.Forward, stack.Backward, stack.InputGradient, stack.Parameters);
    }

    [Fact]
    public void PixelClassifierIsAOneByOneConvolution()
    {
        using var head = new PixelHead(Device.Cpu(), seed: 1);
        using var conv = new PixelConv(Device.Cpu(), seed: 2);
        ShareWeights(head.Parameters, conv.Parameters);
        var x = ModelData.Random(4, 1f, 2, 4, 5, 7);
        SameForwardAndBackward(x, "image", head.Forward, head.Backward, head.InputGradient, head.Parameters, conv.Forward, conv.Backward, conv.InputGradient, conv.Parameters);
    }
}

/// <summary>A post-norm ReLU encoder layer with 3 heads.</summary>
[Model]
[Input("x", 6, 12)]
public partial class OneEncoderLayer
{
    [TransformerEncoderLayer(3, FeedForward = 20, Norm = NormPlacement.Post, Activation = Activation.Relu)] public partial Module Encoder { get; }
}

/// <summary>The same as a stack of one.</summary>
[Model]
[Input("x", 6, 12)]
public partial class OneLayerEncoder
{
    [TransformerEncoder(1, 3, FeedForward = 20, Norm = NormPlacement.Post, Activation = Activation.Relu)] public partial Module Encoder { get; }
}

/// <summary>Per-pixel logits of a 4-channel 5×7 image.</summary>
[Model]
[Input("image", 4, 5, 7)]
public partial class PixelHead
{
    [PixelClassifier(3)] public partial Module Head { get; }
}

/// <summary>The same as a 1×1 convolution.</summary>
[Model]
[Input("image", 4, 5, 7)]
public partial class PixelConv
{
    [Conv2d(3, 1, Padding = 0)] public partial Module Head { get; }
}
