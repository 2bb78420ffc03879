using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[AvgPool(kernel)].</summary>
internal sealed class AvgPoolRule : PoolRule<AvgPoolAttribute>
{
    protected override string Op => "Avg";

    protected override Edge? Check(AvgPoolAttribute a, LayerContext c) => Check(c, a.Kernel, a.Stride);
}
