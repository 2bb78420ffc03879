using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[PatchMerging]: Swin's merge of 2×2 neighbouring tokens, (H·W, C) -> (H/2 · W/2, OutDim) through LayerNorm(4·C) and a
/// bias-free Linear.</summary>
internal sealed class PatchMergingRule : LayerRule<PatchMergingAttribute>
{
    internal sealed record Config(int GridHeight, int GridWidth, int OutDim, float Eps) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            PatchMergingRule.Lower(lower, layer.Path, layer.Input, this, layer.Output);
    }

    /// <summary>The tokens gathered so each neighbourhood's four are consecutive (read as one token of 4·C), norm, reduction.</summary>
    static void Lower(ModelGenerator.Lowerer l, string path, string x, Config c, string output)
    {
        string I(int v) => ModelGenerator.Lowerer.Int(v);
        int width = l.ShapeOf(x)[1], merged = c.GridHeight * c.GridWidth / 4;
        string joined = l.TokenGather(path + ".merge", x, $"global::ModelGen.Ops.TokenGather.MergeOrder({I(c.GridHeight)}, {I(c.GridWidth)})",
            $"2×2 neighbours of the {I(c.GridHeight)}×{I(c.GridWidth)} grid", new[] { merged, 4 * width });
        string normed = l.LayerNorm(path + ".norm", joined, c.Eps, null);
        l.Linear(path + ".reduction", normed, 4 * width, c.OutDim, bias: false, output);
    }

    protected override Edge? Check(PatchMergingAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (c.Grid(0, a.GridHeight, a.GridWidth) is not { } g) return null;
        if (g.H % 2 != 0 || g.W % 2 != 0)
        {
            c.Report(DiagnosticDescriptors.PatchMergingOddGrid, a.GridHeight != 0 ? (g.H % 2 != 0 ? "GridHeight" : "GridWidth") : null, c.Path, g.H, g.W,
                LayerContext.NameOf(c.Input), g.H % 2 != 0 ? $"height {g.H}" : $"width {g.W}");
            return null;
        }
        if (c.AtLeast("OutDim", a.OutDim, 0, "positive (or 0 for twice the width)") is not { } outDim) return null;
        if (c.Positive("Eps", a.Eps) is not { } eps) return null;
        return c.Emit(new Config(g.H, g.W, outDim == 0 ? 2 * c.Input.Last : outDim, (float)eps), new[] { g.H * g.W / 4, outDim == 0 ? 2 * c.Input.Last : outDim });
    }
}
