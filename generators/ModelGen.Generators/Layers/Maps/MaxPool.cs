using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[MaxPool(kernel)].</summary>
internal sealed class MaxPoolRule : PoolRule<MaxPoolAttribute>
{
    protected override string Op => "Max";

    protected override Edge? Check(MaxPoolAttribute a, LayerContext c) => Check(c, a.Kernel, a.Stride);
}
