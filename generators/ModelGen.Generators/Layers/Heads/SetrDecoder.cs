using System.Collections.Generic;
using System.Linq;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[SetrDecoder(classes)]: SETR-PUP. Tokens -> the patch grid (with the image input's aspect ratio) -> per factor a 3×3
/// convolution, BatchNorm, ReLU and bilinear upsampling -> a 1×1 convolution to per-pixel logits at the image's resolution.</summary>
internal sealed class SetrDecoderRule : LayerRule<SetrDecoderAttribute>
{
    internal sealed record Config(int Skip, int GridHeight, int GridWidth, ImmutableEquatableArray<int> Channels, int Classes, ImmutableEquatableArray<int> Factors) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string path = layer.Path;
            string map = l.TokensToMap(path + ".map", layer.Input, Skip, GridHeight, GridWidth, null);
            for (int i = 0; i < Factors.Count; i++)
            {
                string stage = $"{path}.stages.{i}";
                // No bias: the BatchNorm after it would cancel one (as mmseg's SETR-PUP).
                string conv = l.Conv2d(stage + ".conv", map, Channels[i], 3, 1, 1, bias: false, null);
                string act = l.Relu(stage + ".act", l.BatchNorm(stage + ".bn", conv, 0.1f, 1e-5f, null), null);
                map = l.Upsample(stage + ".up", act, Factors[i], nearest: false, null);
            }
            l.Conv2d(path + ".classifier", map, Classes, 1, 1, 0, bias: true, layer.Output);
        }
    }

    protected override Edge? Check(SetrDecoderAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (c.Positive("Classes", a.Classes) is not { } classes) return null;
        if (c.AtLeast("Skip", a.Skip, 0, "0 or more") is not { } skip) return null;
        if (c.ImageInput() is not { } image) return null;
        if (c.ImageGrid(skip, image) is not { } grid) return null;

        var factors = new List<int>();
        bool given = a.Factors.Length > 0;
        if (given)
        {
            if (a.Factors.Any(f => f <= 0))
            {
                c.Report(DiagnosticDescriptors.NonPositiveSize, "Factors", "Factors", c.Subject, string.Join(", ", a.Factors), "a list of positive factors");
                return null;
            }
            factors.AddRange(a.Factors);
        }
        else
        {
            for (int h = grid.H, w = grid.W; (h < image.H || w < image.W) && factors.Count < 16; h *= 2, w *= 2) factors.Add(2);
        }
        long total = factors.Aggregate(1L, (p, f) => System.Math.Min(p * f, int.MaxValue));
        if (grid.H * total != image.H || grid.W * total != image.W)
        {
            string by = factors.Count == 0 ? "no upsampling" : "upsampling by " + string.Join("·", factors) + (factors.Count > 1 ? " = " + total : "");
            c.Report(DiagnosticDescriptors.UpsamplingMissesResolution, given ? "Factors" : null, c.Path,
                by, LayerContext.Size(grid.H, grid.W), LayerContext.Size((int)System.Math.Min(grid.H * total, int.MaxValue), (int)System.Math.Min(grid.W * total, int.MaxValue)), image.Name, LayerContext.Size(image.H, image.W));
            return null;
        }
        if (c.Positive("Channels", a.Channels) is not { } width) return null;
        var channels = Enumerable.Repeat(width, factors.Count).ToArray();
        if (a.StageChannels.Length > 0)
        {
            if (a.StageChannels.Length != factors.Count || a.StageChannels.Any(s => s <= 0))
            {
                c.Report(DiagnosticDescriptors.NonPositiveSize, "StageChannels", "StageChannels", c.Subject, string.Join(", ", a.StageChannels),
                    $"one positive width per upsampling stage ({factors.Count})");
                return null;
            }
            channels = a.StageChannels;
        }
        return c.Emit(new Config(skip, grid.H, grid.W, channels.ToImmutableEquatableArray(), classes, factors.ToImmutableEquatableArray()),
            new[] { classes, image.H, image.W });
    }
}
