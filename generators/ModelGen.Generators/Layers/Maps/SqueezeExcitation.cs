using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[SqueezeExcitation]: y = x·σ(fc2(ReLU(fc1(avgpool(x))))) per channel, through C/Reduction channels; same shape out.</summary>
internal sealed class SqueezeExcitationRule : LayerRule<SqueezeExcitationAttribute>
{
    internal sealed record Config(int Reduced) : LayerConfig
    {
        /// <summary>fc1 and fc2 are 1×1 convolutions, as torchvision's SqueezeExcitation.</summary>
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string path = layer.Path, x = layer.Input;
            int c = l.ShapeOf(x)[0];
            string pooled = l.SpatialPool("GlobalAvg", path + ".pool", x, new[] { c, 1, 1 }, backwardReadsInput: false);
            string h = l.Relu(path + ".act", l.Conv2d(path + ".fc1", pooled, Reduced, 1, 1, 0, bias: true, null), null);
            string gate = l.Sigmoid(path + ".gate", l.Conv2d(path + ".fc2", h, c, 1, 1, 0, bias: true, null), null);
            l.BroadcastMultiply(path, x, gate, layer.Output);
        }
    }

    protected override Edge? Check(SqueezeExcitationAttribute a, LayerContext c) => Reduced(c, a.Reduction) is { } r ? c.Same(new Config(r)) : null;

    /// <summary>C / Reduction for the blocks that squeeze channels (squeeze-excitation, coordinate attention, non-local): the reduction must divide C.</summary>
    internal static int? Reduced(LayerContext c, int reductionArg)
    {
        if (!c.IsMap()) return null;
        if (c.Positive("Reduction", reductionArg) is not { } reduction) return null;
        int channels = c.Input.Shape[0];
        if (channels % reduction == 0) return channels / reduction;
        c.Report(DiagnosticDescriptors.ChannelsNotDivisible, "Reduction", c.Path, channels, "Reduction", reduction);
        return null;
    }
}
