using System.Collections.Generic;
using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[PatchEmbedding(patch, dim)]: an image (C, H, W) -> (H/P · W/P, dim) tokens; the patch must divide both sides.</summary>
internal sealed class PatchEmbeddingRule : LayerRule<PatchEmbeddingAttribute>
{
    internal sealed record Config(int Channels, int Height, int Width, int Patch, int Dim) : LayerConfig
    {
        /// <summary>Patchify, then one matmul with the Conv2d-shaped weight (dim, C, P, P).</summary>
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer)
        {
            string patches = lower.Patchify(layer.Path + ".patches", layer.Input, Channels, Height, Width, Patch);
            lower.Linear(layer.Path + ".proj", patches, Channels * Patch * Patch, Dim, bias: true, layer.Output, new[] { Dim, Channels, Patch, Patch });
        }
    }

    protected override Edge? Check(PatchEmbeddingAttribute a, LayerContext c)
    {
        if (!c.IsImage()) return null;
        if (c.Positive("Patch", a.Patch) is not { } patch) return null;
        if (c.Positive("Dim", a.Dim) is not { } dim) return null;
        int channels = c.Input.Shape[0], height = c.Input.Shape[1], width = c.Input.Shape[2];
        if (a.Channels != 0 && a.Channels != channels)
        {
            c.Report(DiagnosticDescriptors.ShapeMismatch, "Channels", c.Path, Shapes.Format(new[] { a.Channels, height, width }, true), LayerContext.NameOf(c.Input), c.Input.Display);
            return null;
        }
        if (height % patch != 0 || width % patch != 0)
        {
            var parts = new List<string>();
            if (height % patch != 0) parts.Add($"height {height} % {patch} = {height % patch}");
            if (width % patch != 0) parts.Add($"width {width} % {patch} = {width % patch}");
            c.Report(DiagnosticDescriptors.ImageNotDivisibleByPatch, "Patch", c.Path, $"{height}×{width}", patch, string.Join(", ", parts));
            return null;
        }
        return c.Emit(new Config(channels, height, width, patch, dim), new[] { (height / patch) * (width / patch), dim });
    }
}
