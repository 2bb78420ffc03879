using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[LearnedPositions]: adds a learned (tokens, width) table to a sequence.</summary>
internal sealed class LearnedPositionsRule : LayerRule<LearnedPositionsAttribute>
{
    internal sealed record Config : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.LearnedPositions(layer.Path, layer.Input, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.Positions(layer.Path, step.In(layer)));
    }

    protected override Edge? Check(LearnedPositionsAttribute a, LayerContext c) => c.IsSequence() ? c.Same(new Config()) : null;
}
