using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Conv2d(out, kernel)]: (Cin, H, W) -> (out, Ho, Wo), Ho = (H + 2·Padding − Kernel)/Stride + 1; Padding −1 means (Kernel − 1)/2.</summary>
internal sealed class Conv2dRule : LayerRule<Conv2dAttribute>
{
    internal sealed record Config(int Out, int Kernel, int Stride, int Padding, bool Bias) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.Conv2d(layer.Path, layer.Input, Out, Kernel, Stride, Padding, Bias, layer.Output);
    }

    protected override Edge? Check(Conv2dAttribute a, LayerContext c) =>
        Check(c, a, a.InChannels, a.Bias) is { } conv ? c.Emit(conv.Config, conv.Shape) : null;

    /// <summary>The convolution's checks, shared with the layers that contain one: the map, positive sizes, the padding, the
    /// expected input channels, the window.</summary>
    internal static (Config Config, int[] Shape)? Check(LayerContext c, ConvolutionOptionsAttribute a, int inChannels, bool bias)
    {
        if (!c.IsMap()) return null;
        if (c.Positive("OutChannels", a.OutChannels) is not { } outChannels) return null;
        if (c.Positive("Kernel", a.Kernel) is not { } kernel) return null;
        if (c.Positive("Stride", a.Stride) is not { } stride) return null;
        if (c.AtLeast("Padding", a.Padding, -1, "0 or more (or −1 for (Kernel − 1)/2)") is not { } padding) return null;
        if (padding == -1) padding = (kernel - 1) / 2;
        if (inChannels != 0 && inChannels != c.Input.Shape[0])
        {
            c.Report(DiagnosticDescriptors.ShapeMismatch, "InChannels", c.Path, Shapes.Format(new[] { inChannels, c.Input.Shape[1], c.Input.Shape[2] }, true), LayerContext.NameOf(c.Input), c.Input.Display);
            return null;
        }
        if (c.Window("Kernel", kernel, stride, padding) is not { } o) return null;
        return (new Config(outChannels, kernel, stride, padding, bias), new[] { outChannels, o.H, o.W });
    }
}
