using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using ModelGen.Generators.Layers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

/// <summary>What a <see cref="LayerRule"/> sees while it checks one layer: the layer's path and input edge, where its arguments are
/// written, and the checks every rule shares. Each check reports at the argument and names the numbers; a null result means
/// the layer was rejected.</summary>
internal sealed class LayerContext
{
    readonly ModelGenerator.ShapeChecker _checker;
    readonly ModelGenerator.ShapeChecker.Scope _scope;
    readonly HashSet<string> _declared;

    internal LayerContext(ModelGenerator.ShapeChecker checker, ModelGenerator.ShapeChecker.Scope scope, HashSet<string> declared, LayerSpec layer, string path, Edge input)
    {
        _checker = checker;
        _scope = scope;
        _declared = declared;
        Layer = layer;
        Path = path;
        Input = input;
    }

    /// <summary>The layer as written (its arguments and their locations).</summary>
    public LayerSpec Layer { get; }

    /// <summary>The dotted path, e.g. "encoder" or "blocks.1.attn": the prefix of the layer's parameters and messages.</summary>
    public string Path { get; }

    /// <summary>"layer 'encoder'", as MG2001 names what an argument belongs to.</summary>
    public string Subject => $"layer '{Path}'";

    /// <summary>The edge the layer reads.</summary>
    public Edge Input { get; }

    /// <summary>Where an argument is written; the attribute when it is not written or is null (the layer as a whole).</summary>
    public LocationSpec At(string? argument) => argument is null ? Layer.Location : Layer.At(argument);

    /// <summary>Reports at <paramref name="argument"/>, or at the attribute when it is null.</summary>
    public void Report(DiagnosticDescriptor descriptor, string? argument, params object[] arguments) => Add(descriptor, At(argument), arguments);

    void Add(DiagnosticDescriptor descriptor, LocationSpec at, object[] arguments) => _checker.Diagnostics.Add(DiagnosticInfo.Create(descriptor, at, arguments));

    /// <summary>The user's name of an edge: the input's name or the layer's buffer.</summary>
    public static string NameOf(Edge e) => e.IsInput ? e.Name.Substring(3) : e.Name;

    /// <summary>The divisor of <paramref name="n"/> nearest to <paramref name="near"/> (the smaller on a tie): what a message
    /// suggests for a block or chunk that does not divide the tokens.</summary>
    public static int NearestDivisor(int n, int near)
    {
        int best = 1;
        for (int d = 1; d <= n; d++)
            if (n % d == 0 && System.Math.Abs(d - near) < System.Math.Abs(best - near)) best = d;
        return best;
    }

    /// <summary>The layer's output edge with a typed configuration.</summary>
    public Edge Emit(LayerConfig config, IEnumerable<int> shape) => _checker.Emit(Path, Layer.Kind, config, Input.Name, shape);

    /// <summary>The output edge of a layer that keeps its input's shape.</summary>
    public Edge Same(LayerConfig config) => Emit(config, Input.Shape);

    // ---- sizes ----

    public int? Positive(string argument, int value) => InRange(argument, value, value > 0, "positive");

    /// <summary>A size where 0 (or another sentinel below 1) asks for a default: anything below <paramref name="least"/> is reported.</summary>
    public int? AtLeast(string argument, int value, int least, string meaning) => InRange(argument, value, value >= least, meaning);

    public double? Positive(string argument, double value) => InRange(argument, value, value > 0, "positive");

    public double? Probability(string argument, double p) => InRange(argument, p, p >= 0 && p < 1, "in [0, 1)");

    /// <summary>The value when <paramref name="ok"/>, else null after MG2001 at the argument naming what it must be.</summary>
    public T? InRange<T>(string argument, T value, bool ok, string meaning) where T : struct
    {
        if (ok) return value;
        Report(DiagnosticDescriptors.NonPositiveSize, argument, argument, Subject, value, meaning);
        return null;
    }

    // ---- ranks ----

    /// <summary>Where a rank mismatch points: the layer's Input argument when it names one, else the attribute.</summary>
    LocationSpec InputAt => Layer.Arg("Input")?.Location ?? Layer.Location;

    bool IsRank(int rank, string what)
    {
        if (Input.Shape.Count == rank) return true;
        Add(DiagnosticDescriptors.RankMismatch, InputAt, new object[] { Path, what, NameOf(Input), Input.Display });
        return false;
    }

    public bool IsSequence() => IsRank(2, "a sequence (B, tokens, width)");

    public bool IsMap() => IsRank(3, "a feature map (B, channels, height, width)");

    public bool IsImage() => IsRank(3, "an image (B, channels, height, width)");

    // ---- wiring ----

    /// <summary>The edge a wiring argument names: an input or an earlier layer of this scope.</summary>
    public Edge? Resolve(string argument, string name) => _checker.Resolve(_scope, _declared, Layer, Path, argument, name);

    /// <summary>The checked layer whose output <paramref name="edge"/> is; null for an input.</summary>
    public CheckedLayer? LayerWriting(Edge edge) => _checker.LayerWriting(edge.Name);

    /// <summary>A wire that must carry data, not a mask.</summary>
    public Edge? ResolveData(string argument, string name, string role)
    {
        if (Resolve(argument, name) is not { } edge) return null;
        if (!edge.IsMask) return edge;
        Report(DiagnosticDescriptors.NotAMask, argument, Path, name, role, edge.Role);
        return null;
    }

    // ---- maps and grids ----

    internal static string Size(int h, int w) => h.ToString(CultureInfo.InvariantCulture) + "×" + w.ToString(CultureInfo.InvariantCulture);

    /// <summary>(H + 2P − K)/S + 1 on both sides, or a report naming the numbers when the window does not fit.</summary>
    public (int H, int W)? Window(string argument, int kernel, int stride, int padding)
    {
        int h = Input.Shape[1], w = Input.Shape[2];
        if (h + 2 * padding < kernel || w + 2 * padding < kernel)
        {
            Report(DiagnosticDescriptors.WindowDoesNotFit, argument, Path, kernel, padding, NameOf(Input), Size(h, w));
            return null;
        }
        return ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1);
    }

    /// <summary>The image input (channels, height, width) that per-pixel outputs must match.</summary>
    public (int H, int W, string Name)? ImageInput()
    {
        var image = _checker.Model.Inputs.FirstOrDefault(i => i.Kind == InputSpec.TensorKind);
        if (image is not null && image.Shape.Count == 3) return (image.Shape[1], image.Shape[2], image.Name);
        Report(DiagnosticDescriptors.RankMismatch, null, Path, "a model whose first input is an image (B, channels, height, width)",
            image?.Name ?? _checker.Model.ClassName, image is null ? "no input" : Shapes.Format(image.Shape, true));
        return null;
    }

    /// <summary>The patch grid of a token sequence after <paramref name="skip"/> leading tokens: as given (both sides set), or square.</summary>
    public (int H, int W)? Grid(int skip, int gh, int gw)
    {
        int patches = Input.Shape[0] - skip;
        if (gh < 0 || gw < 0 || (gh == 0) != (gw == 0))
        {
            string arg = gh <= 0 ? "GridHeight" : "GridWidth";
            InRange(arg, gh <= 0 ? gh : gw, ok: false, "positive (set both GridHeight and GridWidth, or neither for a square grid)");
            return null;
        }
        if (gh == 0)
        {
            int side = (int)Math.Round(Math.Sqrt(Math.Max(patches, 0)));
            if (patches <= 0 || side * side != patches)
            {
                Report(DiagnosticDescriptors.TokensDoNotFormGrid, null, Path, Input.Shape[0], skip, NameOf(Input), patches, "a square grid");
                return null;
            }
            return (side, side);
        }
        if (gh * gw != patches)
        {
            Report(DiagnosticDescriptors.TokensDoNotFormGrid, "GridHeight", Path, Input.Shape[0], skip, NameOf(Input), patches, $"a {Size(gh, gw)} grid ({gh * gw} positions)");
            return null;
        }
        return (gh, gw);
    }

    /// <summary>The patch grid of the tokens after <paramref name="skip"/>, shaped like the image input: h×w patches with
    /// h·W = w·H, so rectangular images work (16×32 pixels in 4×4 patches: a 4×8 grid).</summary>
    public (int H, int W)? ImageGrid(int skip, (int H, int W, string Name) image)
    {
        int patches = Input.Shape[0] - skip;
        if (patches > 0)
        {
            int h = (int)Math.Round(Math.Sqrt((double)patches * image.H / image.W));
            for (int gh = Math.Max(1, h - 1); gh <= h + 1; gh++)
            {
                if (patches % gh != 0) continue;
                int gw = patches / gh;
                if ((long)gh * image.W == (long)gw * image.H) return (gh, gw);
            }
        }
        string shape = image.H == image.W ? "a square grid" : $"a grid shaped like the {Size(image.H, image.W)} image '{image.Name}'";
        Report(DiagnosticDescriptors.TokensDoNotFormGrid, null, Path, Input.Shape[0], skip, NameOf(Input), Math.Max(patches, 0), shape);
        return null;
    }
}
