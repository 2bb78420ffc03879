using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[MeanPool]: (tokens, width) -> (width).</summary>
internal sealed class MeanPoolRule : LayerRule<MeanPoolAttribute>
{
    internal sealed record Config : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.MeanPool(layer.Path, layer.Input, layer.Output);
    }

    protected override Edge? Check(MeanPoolAttribute a, LayerContext c) => c.IsSequence() ? c.Emit(new Config(), new[] { c.Input.Last }) : null;
}
