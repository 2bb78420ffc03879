using System.Collections.Generic;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>Shape rules of the mask-based segmentation heads (Segmenter, MaskFormer): tokens in, (Classes, H, W) out.</summary>
    sealed partial class ShapeChecker
    {
        /// <summary>The integer factor that takes the patch grid to the image input, or a report naming both.</summary>
        int? GridToImage(LayerSpec layer, string path, (int H, int W) grid, (int H, int W, string Name) image)
        {
            int f = image.H / grid.H;
            if (f >= 1 && grid.H * f == image.H && grid.W * f == image.W) return f;
            Report(DiagnosticDescriptors.UpsamplingMissesResolution, layer.Location, path, $"bilinear upsampling by {System.Math.Max(f, 1)}",
                Size(grid.H, grid.W), Size(grid.H * System.Math.Max(f, 1), grid.W * System.Math.Max(f, 1)), image.Name, Size(image.H, image.W));
            return null;
        }

        /// <summary>Everything an encoder layer's lowering reads, for heads that contain Transformer layers of their own.</summary>
        static List<(string, object)> LayerConfig(int width, int heads, int tokens) => new()
        {
            ("Width", width), ("Heads", heads), ("KvHeads", heads), ("KeyDim", width / heads), ("ValueDim", width / heads),
            ("Causal", false), ("Bias", true), ("Queries", tokens), ("Keys", tokens), ("KeyWidth", width), ("ValueWidth", width),
            ("FeedForward", 4 * width), ("Norm", 0), ("Activation", 0), ("Dropout", 0.0), ("DropPath", 0.0), ("Eps", 1e-5),
        };

        (int Classes, int Depth, int Heads, int Skip, (int H, int W) Grid, int Factor)? MaskHead(LayerSpec layer, string path, Edge input, int width)
        {
            if (!IsSequence(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Classes", layer.Int("Classes", 0)) is not { } classes) return null;
            if (PositiveInt(layer, path, "Depth", layer.Int("Depth", 2)) is not { } depth) return null;
            if (PositiveInt(layer, path, "Heads", layer.Int("Heads", 4)) is not { } heads) return null;
            if (width % heads != 0) { Report(DiagnosticDescriptors.DimNotDivisibleByHeads, layer.At("Heads"), path, width, heads); return null; }
            int skip = layer.Int("Skip", 0);
            if (skip < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Skip"), "Skip", path, skip, "0 or more"); return null; }
            if (Grid(layer, path, input, skip, 0, 0) is not { } grid) return null;
            if (ImageInput(layer, path) is not { } image) return null;
            if (GridToImage(layer, path, grid, image) is not { } factor) return null;
            return (classes, depth, heads, skip, grid, factor);
        }

        Edge? MaskTransformer(LayerSpec layer, string path, Edge input)
        {
            int widthArg = layer.Int("Width", 0);
            if (widthArg < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Width"), "Width", path, widthArg, "positive (or 0 for the encoder's width)"); return null; }
            int width = widthArg == 0 && input.Shape.Count == 2 ? input.Last : widthArg;
            if (MaskHead(layer, path, input, width) is not { } h) return null;
            int maskTokens = layer.Int("MaskTokens", 0);
            if (maskTokens != 0 && maskTokens != h.Classes)
            {
                Report(DiagnosticDescriptors.MaskTokensMismatch, layer.At("MaskTokens"), path, maskTokens, h.Classes);
                return null;
            }
            var config = LayerConfig(width, h.Heads, input.Shape[0] - h.Skip + h.Classes);
            config.AddRange(new (string, object)[] { ("Dim", input.Last), ("Classes", h.Classes), ("Depth", h.Depth), ("Skip", h.Skip),
                ("GridHeight", h.Grid.H), ("GridWidth", h.Grid.W), ("Factor", h.Factor) });
            return Emit(path, "MaskTransformer", Config(config.ToArray()), Wires(("input", input)), new[] { h.Classes, h.Grid.H * h.Factor, h.Grid.W * h.Factor });
        }

        Edge? MaskClassifier(LayerSpec layer, string path, Edge input)
        {
            int width = input.Shape.Count == 2 ? input.Last : 0;
            if (MaskHead(layer, path, input, width) is not { } h) return null;
            int queriesArg = layer.Int("Queries", 0);
            if (queriesArg < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Queries"), "Queries", path, queriesArg, "positive (or 0 for 2 × Classes)"); return null; }
            int queries = queriesArg == 0 ? 2 * h.Classes : queriesArg;
            var config = LayerConfig(width, h.Heads, queries);
            // LayerConfig's Queries is the query count; the cross-attention's keys are set when lowering.
            config.AddRange(new (string, object)[] { ("Classes", h.Classes), ("Depth", h.Depth), ("Skip", h.Skip),
                ("GridHeight", h.Grid.H), ("GridWidth", h.Grid.W), ("Factor", h.Factor) });
            return Emit(path, "MaskClassifier", Config(config.ToArray()), Wires(("input", input)), new[] { h.Classes, h.Grid.H * h.Factor, h.Grid.W * h.Factor });
        }
    }
}
