using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Residual("from")]: input + the named edge, which must have the same shape.</summary>
internal sealed class ResidualRule : LayerRule<ResidualAttribute>
{
    internal sealed record Config(string From) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.Add(layer.Path, layer.Input, From, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.Row(From) is { } from ? step.Add(layer.Path, step.In(layer), from.Buffer) : null);
    }

    protected override Edge? Check(ResidualAttribute a, LayerContext c)
    {
        string from = a.From ?? "";
        if (c.ResolveData("From", from, "data") is not { } other) return null;
        if (!other.Shape.Equals(c.Input.Shape))
        {
            c.Report(DiagnosticDescriptors.ShapeMismatch, "From", c.Path, c.Input.Display, from, other.Display);
            return null;
        }
        return c.Same(new Config(other.Name));
    }
}
