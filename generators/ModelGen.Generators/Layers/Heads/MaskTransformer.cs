using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>The patch grid and sizes shared by the mask heads: tokens in, (Classes, H, W) out at the image input's resolution.</summary>
internal sealed record MaskHeadShape(int Classes, int Depth, int Heads, int Skip, int GridHeight, int GridWidth, int Factor)
{
    /// <summary>Checks Classes, Depth, Heads (dividing <paramref name="width"/>) and Skip, then finds the patch grid from the image
    /// input and the integer bilinear factor that takes it there.</summary>
    public static MaskHeadShape? Check(LayerContext c, MaskHeadAttribute a, int width)
    {
        if (!c.IsSequence()) return null;
        if (c.Positive("Classes", a.Classes) is not { } classes) return null;
        if (c.Positive("Depth", a.Depth) is not { } depth) return null;
        if (c.Positive("Heads", a.Heads) is not { } heads) return null;
        if (width % heads != 0) { c.Report(DiagnosticDescriptors.DimNotDivisibleByHeads, "Heads", c.Path, width, heads); return null; }
        if (c.AtLeast("Skip", a.Skip, 0, "0 or more") is not { } skip) return null;
        if (c.ImageInput() is not { } image) return null;
        if (c.ImageGrid(skip, image) is not { } grid) return null;
        int f = image.H / grid.H;
        if (f < 1 || grid.H * f != image.H || grid.W * f != image.W)
        {
            int shown = System.Math.Max(f, 1);
            c.Report(DiagnosticDescriptors.UpsamplingMissesResolution, null, c.Path, $"bilinear upsampling by {shown}",
                LayerContext.Size(grid.H, grid.W), LayerContext.Size(grid.H * shown, grid.W * shown), image.Name, LayerContext.Size(image.H, image.W));
            return null;
        }
        return new MaskHeadShape(classes, depth, heads, skip, grid.H, grid.W, f);
    }

    public int Patches => GridHeight * GridWidth;

    /// <summary>Self-attention of <paramref name="tokens"/> tokens of <paramref name="width"/> with the head count, no masks.</summary>
    public AttentionConfig Attention(int width, int tokens) =>
        new(width, Heads, Heads, width / Heads, width / Heads, Causal: false, Bias: true, tokens, tokens, width, width);

    /// <summary>The patch tokens of x: all of them, or those after the first Skip.</summary>
    public string PatchTokens(ModelGenerator.Lowerer l, string path, string x)
    {
        if (Skip == 0) return x;
        var s = l.ShapeOf(x);
        int n = s[0] - Skip, d = s[1];
        return l.Split(path, x, "batch", Skip, n, d, new[] { Skip, d }, new[] { n, d }).Second;
    }
}

/// <summary>[MaskTransformer(classes)]: Segmenter's mask transformer. Project the patches, append one learned token per class,
/// Transformer layers, then cosine scores of every patch with every class token, LayerNorm over the classes, upsampled to the image.</summary>
internal sealed class MaskTransformerRule : LayerRule<MaskTransformerAttribute>
{
    internal sealed record Config(MaskHeadShape Shape, int Dim, int Width) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string path = layer.Path;
            int classes = Shape.Classes, n = Shape.Patches;
            string h = l.Linear(path + ".proj_dec", Shape.PatchTokens(l, path + ".patches", layer.Input), Dim, Width, bias: true, null);
            string t = l.LearnedTokens(path + ".cls_emb", h, classes, Width);
            var attention = Shape.Attention(Width, n + classes);
            for (int i = 0; i < Shape.Depth; i++)
                t = TransformerEncoderLayerRule.Lower(l, $"{path}.blocks.{i}", t, null, attention, EncoderOptions.Default(Width), 0f, null);
            t = l.LayerNorm(path + ".decoder_norm", t, 1e-5f, null);
            var (patches, tokens) = l.Split(path + ".split", t, "batch", n, classes, Width, new[] { n, Width }, new[] { classes, Width });
            string p = l.L2Normalize(path + ".patch_norm", l.Linear(path + ".proj_patch", patches, Width, Width, bias: false, null));
            string c = l.L2Normalize(path + ".class_norm", l.Linear(path + ".proj_classes", tokens, Width, Width, bias: false, null));
            string masks = l.BatchedMatMul(path + ".masks", p, c, n, classes, Width, transA: false, transB: true);
            masks = l.LayerNorm(path + ".mask_norm", masks, 1e-5f, null);
            string map = l.TokensToMap(path + ".map", masks, 0, Shape.GridHeight, Shape.GridWidth, null);
            l.Upsample(path + ".up", map, Shape.Factor, nearest: false, layer.Output);
        }
    }

    protected override Edge? Check(MaskTransformerAttribute a, LayerContext c)
    {
        if (c.AtLeast("Width", a.Width, 0, "positive (or 0 for the encoder's width)") is not { } widthArg) return null;
        int width = widthArg == 0 && c.Input.Shape.Count == 2 ? c.Input.Last : widthArg;
        if (MaskHeadShape.Check(c, a, width) is not { } shape) return null;
        if (a.MaskTokens != 0 && a.MaskTokens != shape.Classes)
        {
            c.Report(DiagnosticDescriptors.MaskTokensMismatch, "MaskTokens", c.Path, a.MaskTokens, shape.Classes);
            return null;
        }
        return c.Emit(new Config(shape, c.Input.Last, width), new[] { shape.Classes, shape.GridHeight * shape.Factor, shape.GridWidth * shape.Factor });
    }
}
