using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[TokensToMap]: (Skip + H·W, D) -> (D, H, W); the grid is GridHeight×GridWidth when set, else square.</summary>
internal sealed class TokensToMapRule : LayerRule<TokensToMapAttribute>
{
    internal sealed record Config(int Skip, int GridHeight, int GridWidth) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.TokensToMap(layer.Path, layer.Input, Skip, GridHeight, GridWidth, layer.Output);
    }

    protected override Edge? Check(TokensToMapAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (c.AtLeast("Skip", a.Skip, 0, "0 or more") is not { } skip) return null;
        if (c.Grid(skip, a.GridHeight, a.GridWidth) is not { } g) return null;
        return c.Emit(new Config(skip, g.H, g.W), new[] { c.Input.Last, g.H, g.W });
    }
}
