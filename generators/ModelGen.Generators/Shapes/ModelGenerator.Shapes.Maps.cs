using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>Shape rules of the layers on feature maps (C, H, W): convolutions, norms, resampling, spatial attention, decoders.</summary>
    sealed partial class ShapeChecker
    {
        bool IsMap(LayerSpec layer, string path, Edge input)
        {
            if (input.Shape.Count == 3) return true;
            Report(DiagnosticDescriptors.RankMismatch, layer.Arg("Input")?.Location ?? layer.Location, path, "a feature map (B, channels, height, width)", NameOf(input), input.Display);
            return false;
        }

        static string Size(int h, int w) => h.ToString(CultureInfo.InvariantCulture) + "×" + w.ToString(CultureInfo.InvariantCulture);

        /// <summary>(H + 2P − K)/S + 1 on both sides, or a report naming the numbers when the window does not fit.</summary>
        (int H, int W)? Window(LayerSpec layer, string path, Edge input, string argument, int kernel, int stride, int padding)
        {
            int h = input.Shape[1], w = input.Shape[2];
            if (h + 2 * padding < kernel || w + 2 * padding < kernel)
            {
                Report(DiagnosticDescriptors.WindowDoesNotFit, layer.At(argument), path, kernel, padding, NameOf(input), Size(h, w));
                return null;
            }
            return ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1);
        }

        Edge? Conv2d(LayerSpec layer, string path, Edge input)
        {
            if (!IsMap(layer, path, input)) return null;
            if (PositiveInt(layer, path, "OutChannels", layer.Int("OutChannels", 0)) is not { } outChannels) return null;
            if (PositiveInt(layer, path, "Kernel", layer.Int("Kernel", 3)) is not { } kernel) return null;
            if (PositiveInt(layer, path, "Stride", layer.Int("Stride", 1)) is not { } stride) return null;
            int padding = layer.Int("Padding", -1);
            if (padding < -1) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Padding"), "Padding", path, padding, "0 or more (or −1 for (Kernel − 1)/2)"); return null; }
            if (padding == -1) padding = (kernel - 1) / 2;
            int inChannels = layer.Int("InChannels", 0);
            if (inChannels != 0 && inChannels != input.Shape[0])
            {
                Report(DiagnosticDescriptors.ShapeMismatch, layer.At("InChannels"), path, Shapes.Format(new[] { inChannels, input.Shape[1], input.Shape[2] }, true), NameOf(input), input.Display);
                return null;
            }
            if (Window(layer, path, input, "Kernel", kernel, stride, padding) is not { } o) return null;
            return Emit(path, "Conv2d", Config(("In", input.Shape[0]), ("Out", outChannels), ("Height", input.Shape[1]), ("Width", input.Shape[2]),
                    ("Kernel", kernel), ("Stride", stride), ("Padding", padding), ("Bias", layer.Bool("Bias", true))),
                Wires(("input", input)), new[] { outChannels, o.H, o.W });
        }

        Edge? GroupNorm(LayerSpec layer, string path, Edge input)
        {
            if (!IsMap(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Groups", layer.Int("Groups", 0)) is not { } groups) return null;
            if (input.Shape[0] % groups != 0)
            {
                Report(DiagnosticDescriptors.ChannelsNotDivisible, layer.At("Groups"), path, input.Shape[0], "Groups", groups);
                return null;
            }
            return Emit(path, "GroupNorm", Config(("Groups", groups), ("Eps", Positive(layer, path, "Eps", layer.Double("Eps", 1e-5)))), Wires(("input", input)), input.Shape);
        }

        Edge? Upsample(LayerSpec layer, string path, Edge input)
        {
            if (!IsMap(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Factor", layer.Int("Factor", 2)) is not { } factor) return null;
            return Emit(path, "Upsample", Config(("Factor", factor), ("Mode", layer.Int("Mode", 0))), Wires(("input", input)),
                new[] { input.Shape[0], input.Shape[1] * factor, input.Shape[2] * factor });
        }

        Edge? Pool(LayerSpec layer, string path, Edge input)
        {
            if (!IsMap(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Kernel", layer.Int("Kernel", 0)) is not { } kernel) return null;
            int strideArg = layer.Int("Stride", 0);
            if (strideArg < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Stride"), "Stride", path, strideArg, "positive (or 0 for Kernel)"); return null; }
            int stride = strideArg == 0 ? kernel : strideArg;
            if (Window(layer, path, input, "Kernel", kernel, stride, 0) is not { } o) return null;
            return Emit(path, layer.Kind, Config(("Kernel", kernel), ("Stride", stride)), Wires(("input", input)), new[] { input.Shape[0], o.H, o.W });
        }

        Edge? TokensToMap(LayerSpec layer, string path, Edge input)
        {
            if (!IsSequence(layer, path, input)) return null;
            int skip = layer.Int("Skip", 0);
            if (skip < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Skip"), "Skip", path, skip, "0 or more"); return null; }
            if (Grid(layer, path, input, skip, layer.Int("GridHeight", 0), layer.Int("GridWidth", 0)) is not { } g) return null;
            return Emit(path, "TokensToMap", Config(("Skip", skip), ("GridHeight", g.H), ("GridWidth", g.W)), Wires(("input", input)), new[] { input.Last, g.H, g.W });
        }

        /// <summary>The patch grid of a token sequence after <paramref name="skip"/> leading tokens: as given, or square.</summary>
        (int H, int W)? Grid(LayerSpec layer, string path, Edge input, int skip, int gh, int gw)
        {
            int patches = input.Shape[0] - skip;
            if (gh < 0 || gw < 0 || (gh == 0) != (gw == 0))
            {
                string arg = gh <= 0 ? "GridHeight" : "GridWidth";
                Report(DiagnosticDescriptors.NonPositiveSize, layer.At(arg), arg, path, gh <= 0 ? gh : gw, "positive (set both GridHeight and GridWidth, or neither for a square grid)");
                return null;
            }
            if (gh == 0)
            {
                int side = (int)System.Math.Round(System.Math.Sqrt(System.Math.Max(patches, 0)));
                if (patches <= 0 || side * side != patches)
                {
                    Report(DiagnosticDescriptors.TokensDoNotFormGrid, layer.Location, path, input.Shape[0], skip, NameOf(input), patches, "a square grid");
                    return null;
                }
                return (side, side);
            }
            if (gh * gw != patches)
            {
                Report(DiagnosticDescriptors.TokensDoNotFormGrid, layer.At("GridHeight"), path, input.Shape[0], skip, NameOf(input), patches, $"a {Size(gh, gw)} grid ({gh * gw} positions)");
                return null;
            }
            return (gh, gw);
        }

        /// <summary>The height and width of the model's image input, which per-pixel outputs must match.</summary>
        (int H, int W, string Name)? ImageInput(LayerSpec layer, string path)
        {
            var image = _spec.Inputs.FirstOrDefault(i => i.Kind != InputSpec.MaskKind);
            if (image is not null && image.Shape.Count == 3) return (image.Shape[1], image.Shape[2], image.Name);
            Report(DiagnosticDescriptors.RankMismatch, layer.Location, path, "a model whose first input is an image (B, channels, height, width)",
                image?.Name ?? _spec.ClassName, image is null ? "no input" : Shapes.Format(image.Shape, true));
            return null;
        }

        Edge? PixelClassifier(LayerSpec layer, string path, Edge input)
        {
            if (!IsMap(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Classes", layer.Int("Classes", 0)) is not { } classes) return null;
            if (ImageInput(layer, path) is not { } image) return null;
            if (input.Shape[1] != image.H || input.Shape[2] != image.W)
            {
                Report(DiagnosticDescriptors.OutputResolutionMismatch, layer.Location, path, Size(input.Shape[1], input.Shape[2]), NameOf(input), image.Name, Size(image.H, image.W));
                return null;
            }
            return Emit(path, "PixelClassifier", Config(("In", input.Shape[0]), ("Classes", classes), ("Height", image.H), ("Width", image.W)),
                Wires(("input", input)), new[] { classes, image.H, image.W });
        }

        /// <summary>Squeeze-and-excitation, coordinate attention and non-local blocks: a Reduction that must divide the channels.</summary>
        Edge? ReducedChannels(LayerSpec layer, string path, Edge input)
        {
            if (!IsMap(layer, path, input)) return null;
            int fallback = layer.Kind switch { "SqueezeExcitation" => 16, "CoordinateAttention" => 8, _ => 2 };
            if (PositiveInt(layer, path, "Reduction", layer.Int("Reduction", fallback)) is not { } reduction) return null;
            int channels = input.Shape[0];
            if (channels % reduction != 0)
            {
                Report(DiagnosticDescriptors.ChannelsNotDivisible, layer.At("Reduction"), path, channels, "Reduction", reduction);
                return null;
            }
            var config = new List<(string, object)> { ("Channels", channels), ("Height", input.Shape[1]), ("Width", input.Shape[2]), ("Reduced", channels / reduction) };
            if (layer.Kind == "NonLocal") config.Add(("Affinity", layer.Int("Affinity", 0)));
            return Emit(path, layer.Kind, Config(config.ToArray()), Wires(("input", input)), input.Shape);
        }

        Edge? SpatialAttention(LayerSpec layer, string path, Edge input)
        {
            if (!IsMap(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Kernel", layer.Int("Kernel", 7)) is not { } kernel) return null;
            if (kernel % 2 == 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Kernel"), "Kernel", path, kernel, "odd, so the attention map keeps the input's size"); return null; }
            return Emit(path, "SpatialAttention", Config(("Channels", input.Shape[0]), ("Height", input.Shape[1]), ("Width", input.Shape[2]), ("Kernel", kernel)),
                Wires(("input", input)), input.Shape);
        }

        Edge? SetrDecoder(LayerSpec layer, string path, Edge input)
        {
            if (!IsSequence(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Classes", layer.Int("Classes", 0)) is not { } classes) return null;
            int skip = layer.Int("Skip", 0);
            if (skip < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Skip"), "Skip", path, skip, "0 or more"); return null; }
            if (Grid(layer, path, input, skip, 0, 0) is not { } grid) return null;
            if (ImageInput(layer, path) is not { } image) return null;

            var factors = new List<int>();
            string? given = layer.String("Factors");
            if (!string.IsNullOrEmpty(given))
            {
                foreach (var part in given!.Split(','))
                {
                    int f = int.Parse(part, CultureInfo.InvariantCulture);
                    if (f <= 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Factors"), "Factors", path, given, "a list of positive factors"); return null; }
                    factors.Add(f);
                }
            }
            else
            {
                for (int h = grid.H, w = grid.W; (h < image.H || w < image.W) && factors.Count < 16; h *= 2, w *= 2) factors.Add(2);
            }
            int total = factors.Aggregate(1, (a, f) => a * f);
            if (grid.H * total != image.H || grid.W * total != image.W)
            {
                string by = factors.Count == 0 ? "no upsampling" : "upsampling by " + string.Join("·", factors) + (factors.Count > 1 ? " = " + total : "");
                Report(DiagnosticDescriptors.UpsamplingMissesResolution, layer.At(string.IsNullOrEmpty(given) ? "Classes" : "Factors"), path,
                    by, Size(grid.H, grid.W), Size(grid.H * total, grid.W * total), image.Name, Size(image.H, image.W));
                return null;
            }
            if (PositiveInt(layer, path, "Channels", layer.Int("Channels", 256)) is not { } width) return null;
            var channels = Enumerable.Repeat(width, factors.Count).ToList();
            string? stageText = layer.String("StageChannels");
            if (!string.IsNullOrEmpty(stageText))
            {
                channels = stageText!.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToList();
                if (channels.Count != factors.Count || channels.Any(c => c <= 0))
                {
                    Report(DiagnosticDescriptors.NonPositiveSize, layer.At("StageChannels"), "StageChannels", path, stageText,
                        $"one positive width per upsampling stage ({factors.Count})");
                    return null;
                }
            }
            return Emit(path, "SetrDecoder", Config(("Width", input.Last), ("Skip", skip), ("GridHeight", grid.H), ("GridWidth", grid.W), ("Channels", string.Join("x", channels)),
                    ("Classes", classes), ("Factors", string.Join("x", factors))),
                Wires(("input", input)), new[] { classes, image.H, image.W });
        }
    }
}
