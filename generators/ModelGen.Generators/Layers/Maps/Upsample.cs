using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Upsample(factor)]: (C, H, W) -> (C, H·factor, W·factor), bilinear or nearest.</summary>
internal sealed class UpsampleRule : LayerRule<UpsampleAttribute>
{
    internal sealed record Config(int Factor, UpsampleMode Mode) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.Upsample(layer.Path, layer.Input, Factor, nearest: Mode == UpsampleMode.Nearest, layer.Output);
    }

    protected override Edge? Check(UpsampleAttribute a, LayerContext c)
    {
        if (!c.IsMap()) return null;
        if (c.Positive("Factor", a.Factor) is not { } factor) return null;
        return c.Emit(new Config(factor, a.Mode), new[] { c.Input.Shape[0], c.Input.Shape[1] * factor, c.Input.Shape[2] * factor });
    }
}
