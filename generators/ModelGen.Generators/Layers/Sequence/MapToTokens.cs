using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[MapToTokens]: (C, H, W) -> (H·W, C), row-major over positions.</summary>
internal sealed class MapToTokensRule : LayerRule<MapToTokensAttribute>
{
    internal sealed record Config : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.MapToTokens(layer.Path, layer.Input, layer.Output);
    }

    protected override Edge? Check(MapToTokensAttribute a, LayerContext c) =>
        c.IsMap() ? c.Emit(new Config(), new[] { c.Input.Shape[1] * c.Input.Shape[2], c.Input.Shape[0] }) : null;
}
