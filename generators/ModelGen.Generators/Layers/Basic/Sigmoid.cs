using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Sigmoid]: element-wise logistic; any shape, same shape out (its backward reads the output).</summary>
internal sealed class SigmoidRule : LayerRule<SigmoidAttribute>
{
    internal sealed record Config : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.Sigmoid(layer.Path, layer.Input, layer.Output);
    }

    protected override Edge? Check(SigmoidAttribute a, LayerContext c) => c.Same(new Config());
}
