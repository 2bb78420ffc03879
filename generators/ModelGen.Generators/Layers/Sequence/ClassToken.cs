using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[ClassToken]: (tokens, width) -> (tokens + 1, width), a learned token in front.</summary>
internal sealed class ClassTokenRule : LayerRule<ClassTokenAttribute>
{
    internal sealed record Config : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.ClassToken(layer.Path, layer.Input, layer.Output);
    }

    protected override Edge? Check(ClassTokenAttribute a, LayerContext c) =>
        c.IsSequence() ? c.Emit(new Config(), new[] { c.Input.Shape[0] + 1, c.Input.Last }) : null;
}
