using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[LayerNorm]: normalizes the last dimension of any input (a sequence, or a pooled vector); same shape out.</summary>
internal sealed class LayerNormRule : LayerRule<LayerNormAttribute>
{
    internal sealed record Config(double Eps) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.LayerNorm(layer.Path, layer.Input, (float)Eps, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.LayerNorm(layer.Path, step.In(layer), (float)Eps));
    }

    protected override Edge? Check(LayerNormAttribute a, LayerContext c) =>
        c.Positive("Eps", a.Eps) is { } eps ? c.Same(new Config(eps)) : null;
}
