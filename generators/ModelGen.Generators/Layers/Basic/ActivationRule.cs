using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>An element-wise activation whose backward reads its input: any shape, same shape out, no parameters.</summary>
internal abstract class ActivationRule<TAttribute> : LayerRule<TAttribute> where TAttribute : LayerAttribute
{
    internal sealed record Config(string Op) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.Elementwise(Op, layer.Path, layer.Input, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.Elementwise(Op, layer.Path, step.In(layer)));
    }

    protected override Edge? Check(TAttribute a, LayerContext c) => c.Same(new Config(LayerRule.KindOf(typeof(TAttribute))));
}
