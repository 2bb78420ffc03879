using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[ConvBnRelu(out, kernel)]: Conv2d (no bias) → BatchNorm → ReLU; the convolution's checks, then the norm's.</summary>
internal sealed class ConvBnReluRule : LayerRule<ConvBnReluAttribute>
{
    internal sealed record Config(Conv2dRule.Config Conv, BatchNormRule.Config Norm) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string conv = l.Conv2d(layer.Path + ".conv", layer.Input, Conv.Out, Conv.Kernel, Conv.Stride, Conv.Padding, bias: false, null);
            string bn = l.BatchNorm(layer.Path + ".bn", conv, (float)Norm.Momentum, (float)Norm.Eps, null);
            l.Relu(layer.Path + ".act", bn, layer.Output);
        }
    }

    protected override Edge? Check(ConvBnReluAttribute a, LayerContext c)
    {
        if (Conv2dRule.Check(c, a, inChannels: 0, bias: false) is not { } conv) return null;
        if (BatchNormRule.Check(c, a.Momentum, a.Eps) is not { } norm) return null;
        return c.Emit(new Config(conv.Config, norm), conv.Shape);
    }
}
