using System.Linq;
using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Linear(out)]: (…, in) -> (…, out) over the last dimension; <c>InFeatures</c>, when set, must be the incoming width;
/// <c>TiedTo</c> names an earlier [Embedding] whose table (vocab = out, dim = in) is the weight.</summary>
internal sealed class LinearRule : LayerRule<LinearAttribute>
{
    /// <param name="TiedWeight">The embedding table used as the weight (its parameter name), or null for a weight of its own.</param>
    internal sealed record Config(int In, int Out, bool Bias, string? TiedWeight = null) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.Linear(layer.Path, layer.Input, In, Out, Bias, layer.Output, tiedWeight: TiedWeight);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.Linear(layer.Path, step.In(layer), In, Out, Bias, TiedWeight));
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
        string? tied = null;
        if (a.TiedTo is { } name)
        {
            if (c.Resolve("TiedTo", name) is not { } edge) return null;
            if (c.LayerWriting(edge) is not { Config: EmbeddingRule.Config table } embedding)
            {
                string what = edge.IsInput ? $"the input '{name}'" : $"a [{c.LayerWriting(edge)?.Kind}] layer";
                c.Report(DiagnosticDescriptors.TiedToNotEmbedding, "TiedTo", c.Path, name, what);
                return null;
            }
            if (table.Vocab != outFeatures || table.Dim != c.Input.Last)
            {
                c.Report(DiagnosticDescriptors.TiedShapeMismatch, "TiedTo", c.Path, name, table.Vocab, table.Dim, outFeatures, c.Input.Last);
                return null;
            }
            tied = embedding.Path + ".weight";
        }
        return c.Emit(new Config(c.Input.Last, outFeatures, a.Bias, tied), lead.Concat(new[] { outFeatures }));
    }
}
