using System.Linq;
using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Linear(out)]: (…, in) -> (…, out) over the last dimension; <c>InFeatures</c>, when set, must be the incoming width.</summary>
internal sealed class LinearRule : LayerRule<LinearAttribute>
{
    internal sealed record Config(int In, int Out, bool Bias) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.Linear(layer.Path, layer.Input, In, Out, Bias, layer.Output);
    }

    protected override Edge? Check(LinearAttribute a, LayerContext c)
    {
        if (c.Positive("OutFeatures", a.OutFeatures) is not { } outFeatures) return null;
        var lead = c.Input.Shape.Take(c.Input.Shape.Count - 1);
        if (a.InFeatures != 0 && a.InFeatures != c.Input.Last)
        {
            c.Report(DiagnosticDescriptors.ShapeMismatch, "InFeatures", c.Path, Shapes.Format(lead.Concat(new[] { a.InFeatures }).ToArray(), true), LayerContext.NameOf(c.Input), c.Input.Display);
            return null;
        }
        return c.Emit(new Config(c.Input.Last, outFeatures, a.Bias), lead.Concat(new[] { outFeatures }));
    }
}
