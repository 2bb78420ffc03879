using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Dropout(p)]: inverted dropout while training, p in [0, 1); same shape out.</summary>
internal sealed class DropoutRule : LayerRule<DropoutAttribute>
{
    internal sealed record Config(double P) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.Dropout(layer.Path, layer.Input, (float)P, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.In(layer));
    }

    protected override Edge? Check(DropoutAttribute a, LayerContext c) =>
        c.Probability("P", a.P) is { } p ? c.Same(new Config(p)) : null;
}
