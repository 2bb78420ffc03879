using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[SinusoidalPositions]: fixed sine-cosine positions, 1-D (even width) or 2-D over a GridHeight×GridWidth patch grid
/// (width divisible by 4; an optional leading class token gets zeros).</summary>
internal sealed class SinusoidalPositionsRule : LayerRule<SinusoidalPositionsAttribute>
{
    internal sealed record Config(int GridHeight, int GridWidth) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.SinusoidalPositions(layer.Path, layer.Input, GridHeight, GridWidth, layer.Output);

        /// <summary>1-D positions only: a 2-D grid is no sequence decoded left to right.</summary>
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            GridHeight == 0 && step.Bind(layer.Output, step.Positions(layer.Path, step.In(layer),
                $"global::ModelGen.Ops.Sinusoidal.Table1D({ModelGenerator.Lowerer.Int(step.MaxTokens)}, {ModelGenerator.Lowerer.Int(step.Width(step.In(layer)))})"));
    }

    protected override Edge? Check(SinusoidalPositionsAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        int tokens = c.Input.Shape[0], width = c.Input.Last, gh = a.GridHeight, gw = a.GridWidth;
        string input = LayerContext.NameOf(c.Input);
        if (gh == 0 && gw == 0)
        {
            if (width % 2 != 0) { c.Report(DiagnosticDescriptors.PositionsDoNotFit, null, c.Path, $"1-D sine-cosine positions need an even width, but '{input}' gives width {width}"); return null; }
            return c.Same(new Config(0, 0));
        }
        if (gh <= 0 || gw <= 0)
        {
            string arg = gh <= 0 ? "GridHeight" : "GridWidth";
            c.InRange(arg, gh <= 0 ? gh : gw, ok: false, "positive (set both GridHeight and GridWidth for 2-D positions)");
            return null;
        }
        if (width % 4 != 0) { c.Report(DiagnosticDescriptors.PositionsDoNotFit, null, c.Path, $"2-D sine-cosine positions need a width divisible by 4, but '{input}' gives width {width}"); return null; }
        int lead = tokens - gh * gw;
        if (lead != 0 && lead != 1)
        {
            c.Report(DiagnosticDescriptors.PositionsDoNotFit, "GridHeight", c.Path, $"a {gh}×{gw} grid has {gh * gw} positions, but '{input}' has {tokens} tokens (expected {gh * gw}, or {gh * gw + 1} with a class token)");
            return null;
        }
        return c.Same(new Config(gh, gw));
    }
}
