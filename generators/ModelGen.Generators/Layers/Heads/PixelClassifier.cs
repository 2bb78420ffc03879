using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[PixelClassifier(classes)]: a 1×1 convolution to per-pixel logits; the map must have the image input's resolution.</summary>
internal sealed class PixelClassifierRule : LayerRule<PixelClassifierAttribute>
{
    internal sealed record Config(int Classes) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.Conv2d(layer.Path, layer.Input, Classes, 1, 1, 0, bias: true, layer.Output);
    }

    protected override Edge? Check(PixelClassifierAttribute a, LayerContext c)
    {
        if (!c.IsMap()) return null;
        if (c.Positive("Classes", a.Classes) is not { } classes) return null;
        if (c.ImageInput() is not { } image) return null;
        if (c.Input.Shape[1] != image.H || c.Input.Shape[2] != image.W)
        {
            c.Report(DiagnosticDescriptors.OutputResolutionMismatch, null, c.Path, LayerContext.Size(c.Input.Shape[1], c.Input.Shape[2]), LayerContext.NameOf(c.Input), image.Name, LayerContext.Size(image.H, image.W));
            return null;
        }
        return c.Emit(new Config(classes), new[] { classes, image.H, image.W });
    }
}
