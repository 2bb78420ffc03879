using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

/// <summary>Shape formatting shared by messages and comments.</summary>
internal static class Shapes
{
    public static string Format(IReadOnlyList<int> shape, bool batch)
    {
        var parts = new List<string>();
        if (batch) parts.Add("B");
        parts.AddRange(shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
        return "(" + string.Join(", ", parts) + ")";
    }

    public static string SnakeCase(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1])))) sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>A C# identifier for a dotted path: "encoder.layers.0.attn" → "encoder_layers_0_attn"; a keyword ("out") gets a
    /// trailing underscore.</summary>
    public static string Identifier(string path)
    {
        var sb = new StringBuilder();
        foreach (char c in path) sb.Append(char.IsLetterOrDigit(c) ? c : '_');
        if (sb.Length == 0 || char.IsDigit(sb[0])) sb.Insert(0, '_');
        string id = sb.ToString();
        return Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetKeywordKind(id) != Microsoft.CodeAnalysis.CSharp.SyntaxKind.None ? id + "_" : id;
    }
}

public sealed partial class ModelGenerator
{
    /// <summary>Check shapes: infer every edge's static shape, bind every wire, resolve every size; report what does not fit.</summary>
    internal static CheckedModel CheckShapes(ModelSpec spec)
    {
        var checker = new ShapeChecker(spec);
        try
        {
            checker.Run();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            checker.Diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, spec.Location, spec.ClassName, e.GetType().Name + ": " + e.Message));
        }
        return checker.Result();
    }

    sealed partial class ShapeChecker
    {
        readonly ModelSpec _spec;
        readonly List<Edge> _edges = new();
        readonly List<CheckedLayer> _layers = new();
        readonly List<PropertySpec> _properties = new();
        public readonly List<DiagnosticInfo> Diagnostics = new();
        string _output = "";

        public ShapeChecker(ModelSpec spec) => _spec = spec;

        public CheckedModel Result() => new(_spec, _edges.ToImmutableEquatableArray(), _layers.ToImmutableEquatableArray(),
            _properties.ToImmutableEquatableArray(), _output, Diagnostics.ToImmutableEquatableArray());

        void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor d, LocationSpec at, params object[] args) =>
            Diagnostics.Add(DiagnosticInfo.Create(d, at, args));

        public void Run()
        {
            if (!_spec.IsPartial) Report(DiagnosticDescriptors.ClassNotPartial, _spec.Location, _spec.ClassName);
            if (_spec.Inputs.Count == 0) { Report(DiagnosticDescriptors.NoInput, _spec.Location, _spec.ClassName); return; }
            if (_spec.Layers.Count == 0) { Report(DiagnosticDescriptors.NoLayers, _spec.Location, _spec.ClassName); return; }

            var scope = new Scope(_spec, prefix: "");
            foreach (var input in _spec.Inputs)
            {
                if (input.Shape.Count == 0 || input.Shape.Any(d => d <= 0))
                {
                    Report(DiagnosticDescriptors.NonPositiveSize, input.Location, "Shape", input.Name, Shapes.Format(input.Shape, false), "non-empty with every dimension positive");
                    return;
                }
                if (input.Kind == InputSpec.MaskKind && input.Shape.Count != 1)
                {
                    Report(DiagnosticDescriptors.RankMismatch, input.Location, input.Name, "a key padding mask of shape (keys)", input.Name, Shapes.Format(input.Shape, true));
                    return;
                }
                if (scope.Names.ContainsKey(input.Name))
                {
                    Report(DiagnosticDescriptors.DuplicateName, input.Location, input.Name);
                    return;
                }
                var edge = new Edge("in_" + Shapes.Identifier(input.Name), input.Shape, input.Kind == InputSpec.MaskKind, IsInput: true);
                _edges.Add(edge);
                scope.Names[input.Name] = edge;
            }
            var first = _spec.Inputs.FirstOrDefault(i => i.Kind != InputSpec.MaskKind);
            if (first is null) { Report(DiagnosticDescriptors.NoInput, _spec.Location, _spec.ClassName); return; }
            var last = scope.Names[first.Name];
            if (!CheckLayers(scope, _spec, ref last, topLevel: true)) return;
            _output = last.Name;
        }

        sealed class Scope
        {
            public Scope(ModelSpec spec, string prefix)
            {
                Spec = spec;
                Prefix = prefix;
            }

            public ModelSpec Spec { get; }

            public string Prefix { get; }

            public Dictionary<string, Edge> Names { get; } = new(StringComparer.Ordinal);
        }

        bool CheckLayers(Scope scope, ModelSpec spec, ref Edge current, bool topLevel)
        {
            var declared = new HashSet<string>(spec.Layers.Select(l => l.Property), StringComparer.Ordinal);
            foreach (var layer in spec.Layers)
            {
                if (!layer.IsValidProperty) { Report(DiagnosticDescriptors.LayerPropertyInvalid, layer.Location, layer.Property); return false; }
                if (layer.AttributeCount > 1) { Report(DiagnosticDescriptors.MultipleLayerAttributes, layer.Location, layer.Property, layer.AttributeCount); return false; }
                if (scope.Names.ContainsKey(layer.Property)) { Report(DiagnosticDescriptors.DuplicateName, layer.Location, layer.Property); return false; }

                string path = scope.Prefix + Shapes.SnakeCase(layer.Property);
                var input = layer.String("Input") is { } inputName ? Resolve(scope, declared, layer, "Input", inputName) : current;
                if (input is null) return false;
                if (input.IsMask) { Report(DiagnosticDescriptors.NotAMask, layer.At("Input"), path, layer.String("Input") ?? "", "data", "a key padding mask"); return false; }

                Edge? output = layer.Kind switch
                {
                    "Linear" => Linear(layer, path, input),
                    "LayerNorm" => Same(layer, path, input, Config(("Eps", Positive(layer, path, "Eps", layer.Double("Eps", 1e-5))))),
                    "Gelu" or "Relu" => Same(layer, path, input, Config()),
                    "Dropout" => Probability(layer, path, "P", layer.Double("P", 0)) is { } p ? Same(layer, path, input, Config(("P", p))) : null,
                    "Residual" => Residual(scope, declared, layer, path, input),
                    "FeedForward" => FeedForward(layer, path, input),
                    "MeanPool" => MeanPool(layer, path, input),
                    "LearnedPositions" => Sequence(layer, path, input),
                    "SinusoidalPositions" => SinusoidalPositions(layer, path, input),
                    "ClassToken" => IsSequence(layer, path, input) ? Emit(path, "ClassToken", Config(), Wires(("input", input)), new[] { input.Shape[0] + 1, input.Last }) : null,
                    "ClassifierHead" => ClassifierHead(layer, path, input),
                    "PatchEmbedding" => PatchEmbedding(layer, path, input),
                    "MultiHeadAttention" or "TransformerEncoderLayer" or "TransformerEncoder" => AttentionFamily(scope, declared, layer, path, input),
                    "Use" => Use(scope, layer, path, input),
                    "Conv2d" => Conv2d(layer, path, input),
                    "BatchNorm" => IsMap(layer, path, input) ? Emit(path, "BatchNorm", Config(("Momentum", layer.Double("Momentum", 0.1)), ("Eps", Positive(layer, path, "Eps", layer.Double("Eps", 1e-5)))), Wires(("input", input)), input.Shape) : null,
                    "GroupNorm" => GroupNorm(layer, path, input),
                    "Upsample" => Upsample(layer, path, input),
                    "MaxPool" or "AvgPool" => Pool(layer, path, input),
                    "Sigmoid" => Same(layer, path, input, Config()),
                    "TokensToMap" => TokensToMap(layer, path, input),
                    "MapToTokens" => IsMap(layer, path, input) ? Emit(path, "MapToTokens", Config(), Wires(("input", input)), new[] { input.Shape[1] * input.Shape[2], input.Shape[0] }) : null,
                    "PixelClassifier" => PixelClassifier(layer, path, input),
                    "SqueezeExcitation" or "CoordinateAttention" or "NonLocal" => ReducedChannels(layer, path, input),
                    "SpatialAttention" => SpatialAttention(layer, path, input),
                    "SetrDecoder" => SetrDecoder(layer, path, input),
                    "MaskTransformer" => MaskTransformer(layer, path, input),
                    "MaskClassifier" => MaskClassifier(layer, path, input),
                    _ => throw new InvalidOperationException($"unknown layer kind '{layer.Kind}'"),
                };
                if (output is null) return false;
                if (topLevel) _properties.Add(new PropertySpec(layer.Property, layer.Modifiers, layer.Kind, path));
                scope.Names[layer.Property] = output;
                current = output;
            }
            return true;
        }

        Edge? Resolve(Scope scope, HashSet<string> declared, LayerSpec layer, string argument, string name)
        {
            if (scope.Names.TryGetValue(name, out var edge)) return edge;
            string path = scope.Prefix + Shapes.SnakeCase(layer.Property);
            if (declared.Contains(name))
            {
                string when = name == layer.Property ? "by this layer itself" : "by a layer declared after it";
                Report(DiagnosticDescriptors.WiringCycle, layer.At(argument), path, name, when);
                return null;
            }
            var known = string.Join(", ", scope.Names.Keys.Select(k => "'" + k + "'"));
            Report(DiagnosticDescriptors.UnknownWiring, layer.At(argument), path, name, scope.Spec.ClassName, known.Length == 0 ? "none" : known);
            return null;
        }

        static ImmutableEquatableArray<NamedValue> Config(params (string Name, object Value)[] values) =>
            values.Select(v => new NamedValue(v.Name, v.Value switch
            {
                bool b => b ? "true" : "false",
                double d => d.ToString("R", CultureInfo.InvariantCulture),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => v.Value.ToString() ?? "",
            })).ToImmutableEquatableArray();

        Edge Emit(string path, string kind, ImmutableEquatableArray<NamedValue> config, ImmutableEquatableArray<NamedValue> wires, IEnumerable<int> shape)
        {
            var edge = new Edge(Shapes.Identifier(path), shape.ToImmutableEquatableArray(), IsMask: false, IsInput: false);
            _edges.Add(edge);
            _layers.Add(new CheckedLayer(path, kind, config, wires, edge.Name));
            return edge;
        }

        static ImmutableEquatableArray<NamedValue> Wires(params (string Name, Edge? Edge)[] wires) =>
            wires.Where(w => w.Edge is not null).Select(w => new NamedValue(w.Name, w.Edge!.Name)).ToImmutableEquatableArray();

        Edge? Same(LayerSpec layer, string path, Edge input, ImmutableEquatableArray<NamedValue>? config)
        {
            if (config is null) return null;
            return Emit(path, layer.Kind, config, Wires(("input", input)), input.Shape);
        }

        int? PositiveInt(LayerSpec layer, string path, string argument, int value)
        {
            if (value > 0) return value;
            Report(DiagnosticDescriptors.NonPositiveSize, layer.At(argument), argument, path, value, "positive");
            return null;
        }

        double Positive(LayerSpec layer, string path, string argument, double value)
        {
            if (value > 0) return value;
            Report(DiagnosticDescriptors.NonPositiveSize, layer.At(argument), argument, path, value, "positive");
            return value;
        }

        double? Probability(LayerSpec layer, string path, string argument, double p)
        {
            if (p >= 0 && p < 1) return p;
            Report(DiagnosticDescriptors.NonPositiveSize, layer.At(argument), argument, path, p, "in [0, 1)");
            return null;
        }

        Edge? Linear(LayerSpec layer, string path, Edge input)
        {
            if (PositiveInt(layer, path, "OutFeatures", layer.Int("OutFeatures", 0)) is not { } outFeatures) return null;
            int inFeatures = layer.Int("InFeatures", 0);
            if (inFeatures != 0 && inFeatures != input.Last)
            {
                var expected = input.Shape.Take(input.Shape.Count - 1).Concat(new[] { inFeatures }).ToArray();
                Report(DiagnosticDescriptors.ShapeMismatch, layer.At("InFeatures"), path, Shapes.Format(expected, true), NameOf(input), input.Display);
                return null;
            }
            return Emit(path, "Linear", Config(("In", input.Last), ("Out", outFeatures), ("Bias", layer.Bool("Bias", true))),
                Wires(("input", input)), input.Shape.Take(input.Shape.Count - 1).Concat(new[] { outFeatures }));
        }

        static string NameOf(Edge e) => e.IsInput ? e.Name.Substring(3) : e.Name;

        Edge? Residual(Scope scope, HashSet<string> declared, LayerSpec layer, string path, Edge input)
        {
            string from = layer.String("From") ?? "";
            var other = Resolve(scope, declared, layer, "From", from);
            if (other is null) return null;
            if (other.IsMask) { Report(DiagnosticDescriptors.NotAMask, layer.At("From"), path, from, "data", "a key padding mask"); return null; }
            if (!other.Shape.Equals(input.Shape))
            {
                Report(DiagnosticDescriptors.ShapeMismatch, layer.At("From"), path, input.Display, from, other.Display);
                return null;
            }
            return Emit(path, "Residual", Config(), Wires(("input", input), ("from", other)), input.Shape);
        }

        Edge? MeanPool(LayerSpec layer, string path, Edge input) =>
            IsSequence(layer, path, input) ? Emit(path, "MeanPool", Config(), Wires(("input", input)), new[] { input.Last }) : null;

        Edge? Sequence(LayerSpec layer, string path, Edge input) =>
            IsSequence(layer, path, input) ? Emit(path, layer.Kind, Config(), Wires(("input", input)), input.Shape) : null;

        bool IsSequence(LayerSpec layer, string path, Edge input)
        {
            if (input.Shape.Count == 2) return true;
            Report(DiagnosticDescriptors.RankMismatch, layer.Arg("Input")?.Location ?? layer.Location, path, "a sequence (B, tokens, width)", NameOf(input), input.Display);
            return false;
        }

        Edge? SinusoidalPositions(LayerSpec layer, string path, Edge input)
        {
            if (!IsSequence(layer, path, input)) return null;
            int tokens = input.Shape[0], width = input.Last, gh = layer.Int("GridHeight", 0), gw = layer.Int("GridWidth", 0);
            if (gh == 0 && gw == 0)
            {
                if (width % 2 != 0) { Report(DiagnosticDescriptors.PositionsDoNotFit, layer.Location, path, $"1-D sine-cosine positions need an even width, but '{NameOf(input)}' gives width {width}"); return null; }
                return Emit(path, "SinusoidalPositions", Config(("Tokens", tokens), ("Width", width), ("GridHeight", 0), ("GridWidth", 0)), Wires(("input", input)), input.Shape);
            }
            if (gh <= 0 || gw <= 0)
            {
                string arg = gh <= 0 ? "GridHeight" : "GridWidth";
                Report(DiagnosticDescriptors.NonPositiveSize, layer.At(arg), arg, path, gh <= 0 ? gh : gw, "positive (set both GridHeight and GridWidth for 2-D positions)");
                return null;
            }
            if (width % 4 != 0) { Report(DiagnosticDescriptors.PositionsDoNotFit, layer.Location, path, $"2-D sine-cosine positions need a width divisible by 4, but '{NameOf(input)}' gives width {width}"); return null; }
            int lead = tokens - gh * gw;
            if (lead != 0 && lead != 1)
            {
                Report(DiagnosticDescriptors.PositionsDoNotFit, layer.At("GridHeight"), path, $"a {gh}×{gw} grid has {gh * gw} positions, but '{NameOf(input)}' has {tokens} tokens (expected {gh * gw}, or {gh * gw + 1} with a class token)");
                return null;
            }
            return Emit(path, "SinusoidalPositions", Config(("Tokens", tokens), ("Width", width), ("GridHeight", gh), ("GridWidth", gw)), Wires(("input", input)), input.Shape);
        }

        Edge? ClassifierHead(LayerSpec layer, string path, Edge input)
        {
            if (!IsSequence(layer, path, input)) return null;
            if (PositiveInt(layer, path, "Classes", layer.Int("Classes", 0)) is not { } classes) return null;
            return Emit(path, "ClassifierHead", Config(("Classes", classes), ("Pool", layer.Int("Pool", 0)), ("Tokens", input.Shape[0]), ("Width", input.Last)),
                Wires(("input", input)), new[] { classes });
        }

        Edge? PatchEmbedding(LayerSpec layer, string path, Edge input)
        {
            if (input.Shape.Count != 3)
            {
                Report(DiagnosticDescriptors.RankMismatch, layer.Arg("Input")?.Location ?? layer.Location, path, "an image (B, channels, height, width)", NameOf(input), input.Display);
                return null;
            }
            if (PositiveInt(layer, path, "Patch", layer.Int("Patch", 0)) is not { } patch) return null;
            if (PositiveInt(layer, path, "Dim", layer.Int("Dim", 0)) is not { } dim) return null;
            int channels = input.Shape[0], height = input.Shape[1], width = input.Shape[2];
            int expectedChannels = layer.Int("Channels", 0);
            if (expectedChannels != 0 && expectedChannels != channels)
            {
                Report(DiagnosticDescriptors.ShapeMismatch, layer.At("Channels"), path, Shapes.Format(new[] { expectedChannels, height, width }, true), NameOf(input), input.Display);
                return null;
            }
            if (height % patch != 0 || width % patch != 0)
            {
                var parts = new List<string>();
                if (height % patch != 0) parts.Add($"height {height} % {patch} = {height % patch}");
                if (width % patch != 0) parts.Add($"width {width} % {patch} = {width % patch}");
                string which = string.Join(", ", parts);
                Report(DiagnosticDescriptors.ImageNotDivisibleByPatch, layer.At("Patch"), path, $"{height}×{width}", patch, which);
                return null;
            }
            return Emit(path, "PatchEmbedding", Config(("Channels", channels), ("Height", height), ("Width", width), ("Patch", patch), ("Dim", dim)),
                Wires(("input", input)), new[] { (height / patch) * (width / patch), dim });
        }

        Edge? FeedForward(LayerSpec layer, string path, Edge input)
        {
            if (PositiveInt(layer, path, "Hidden", layer.Int("Hidden", 0)) is not { } hidden) return null;
            if (Probability(layer, path, "Dropout", layer.Double("Dropout", 0)) is not { } dropout) return null;
            return Emit(path, "FeedForward", Config(("Dim", input.Last), ("Hidden", hidden), ("Activation", layer.Int("Activation", 0)), ("Dropout", dropout)),
                Wires(("input", input)), input.Shape);
        }

        Edge? AttentionFamily(Scope scope, HashSet<string> declared, LayerSpec layer, string path, Edge input)
        {
            if (input.Shape.Count != 2)
            {
                Report(DiagnosticDescriptors.RankMismatch, layer.Arg("Input")?.Location ?? layer.Location, path, "a sequence (B, tokens, width)", NameOf(input), input.Display);
                return null;
            }
            int width = input.Last;
            if (PositiveInt(layer, path, "Heads", layer.Int("Heads", 0)) is not { } heads) return null;
            int kvHeadsArg = layer.Int("KvHeads", 0);
            if (kvHeadsArg < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("KvHeads"), "KvHeads", path, kvHeadsArg, "positive (or 0 for Heads)"); return null; }
            int kvHeads = kvHeadsArg == 0 ? heads : kvHeadsArg;
            int keyDimArg = layer.Int("KeyDim", 0);
            if (keyDimArg < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("KeyDim"), "KeyDim", path, keyDimArg, "positive (or 0 for width / Heads)"); return null; }
            if (keyDimArg == 0 && width % heads != 0)
            {
                Report(DiagnosticDescriptors.DimNotDivisibleByHeads, layer.At("Heads"), path, width, heads);
                return null;
            }
            int keyDim = keyDimArg == 0 ? width / heads : keyDimArg;
            int valueDimArg = layer.Int("ValueDim", 0);
            if (valueDimArg < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("ValueDim"), "ValueDim", path, valueDimArg, "positive (or 0 for KeyDim)"); return null; }
            int valueDim = valueDimArg == 0 ? keyDim : valueDimArg;
            if (heads % kvHeads != 0)
            {
                Report(DiagnosticDescriptors.HeadsNotDivisibleByKvHeads, layer.At("KvHeads"), path, heads, kvHeads);
                return null;
            }

            Edge key = input, value = input;
            if (layer.Kind == "MultiHeadAttention")
            {
                string? kv = layer.String("KeyValue");
                string? k = layer.String("Key") ?? kv;
                string? v = layer.String("Value") ?? kv;
                if (k is not null)
                {
                    var arg = layer.String("Key") is not null ? "Key" : "KeyValue";
                    if (Resolve(scope, declared, layer, arg, k) is not { } ke) return null;
                    key = ke;
                }
                if (v is not null)
                {
                    var arg = layer.String("Value") is not null ? "Value" : "KeyValue";
                    if (Resolve(scope, declared, layer, arg, v) is not { } ve) return null;
                    value = ve;
                }
                foreach (var (edge, arg, name) in new[] { (key, layer.String("Key") is not null ? "Key" : "KeyValue", k), (value, layer.String("Value") is not null ? "Value" : "KeyValue", v) })
                {
                    if (edge.IsMask) { Report(DiagnosticDescriptors.NotAMask, layer.At(arg), path, name ?? "", "keys or values", "a key padding mask"); return null; }
                    if (edge.Shape.Count != 2) { Report(DiagnosticDescriptors.RankMismatch, layer.At(arg), path, "keys and values as (B, tokens, width)", name ?? "", edge.Display); return null; }
                }
                if (key.Shape[0] != value.Shape[0])
                {
                    Report(DiagnosticDescriptors.KeyValueLengthMismatch, layer.At(layer.String("Value") is not null ? "Value" : "Key"), path,
                        k ?? NameOf(input), key.Display, v ?? NameOf(input), value.Display);
                    return null;
                }
            }

            Edge? mask = null;
            if (layer.String("KeyPaddingMask") is { } maskName)
            {
                if (Resolve(scope, declared, layer, "KeyPaddingMask", maskName) is not { } m) return null;
                if (!m.IsMask) { Report(DiagnosticDescriptors.NotAMask, layer.At("KeyPaddingMask"), path, maskName, "a key padding mask", "data (declare it with Kind = InputKind.KeyPaddingMask)"); return null; }
                if (m.Shape[0] != key.Shape[0])
                {
                    Report(DiagnosticDescriptors.MaskLengthMismatch, layer.At("KeyPaddingMask"), path, maskName, m.Shape[0], key.Shape[0]);
                    return null;
                }
                mask = m;
            }

            var config = new List<(string, object)>
            {
                ("Width", width), ("Heads", heads), ("KvHeads", kvHeads), ("KeyDim", keyDim), ("ValueDim", valueDim),
                ("Causal", layer.Bool("Causal", false)), ("Bias", layer.Bool("Bias", true)),
                ("Queries", input.Shape[0]), ("Keys", key.Shape[0]), ("KeyWidth", key.Last), ("ValueWidth", value.Last),
            };
            if (layer.Kind != "MultiHeadAttention")
            {
                int ffArg = layer.Int("FeedForward", 0);
                if (ffArg < 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("FeedForward"), "FeedForward", path, ffArg, "positive (or 0 for 4 × width)"); return null; }
                if (Probability(layer, path, "Dropout", layer.Double("Dropout", 0)) is not { } dropout) return null;
                if (Probability(layer, path, "DropPath", layer.Double("DropPath", 0)) is not { } dropPath) return null;
                config.Add(("FeedForward", ffArg == 0 ? 4 * width : ffArg));
                config.Add(("Norm", layer.Int("Norm", 0)));
                config.Add(("Activation", layer.Int("Activation", 0)));
                config.Add(("Dropout", dropout));
                config.Add(("DropPath", dropPath));
                config.Add(("Eps", Positive(layer, path, "Eps", layer.Double("Eps", 1e-5))));
                if (layer.Kind == "TransformerEncoder")
                {
                    if (PositiveInt(layer, path, "Depth", layer.Int("Depth", 0)) is not { } depth) return null;
                    config.Add(("Depth", depth));
                }
            }
            return Emit(path, layer.Kind, Config(config.ToArray()), Wires(("input", input), ("key", key), ("value", value), ("mask", mask)), input.Shape);
        }

        Edge? Use(Scope scope, LayerSpec layer, string path, Edge input)
        {
            if (layer.ModuleError is { } error)
            {
                if (error.StartsWith("cycle:", StringComparison.Ordinal)) Report(DiagnosticDescriptors.ModuleCycle, layer.At("Module"), error.Substring(6));
                else Report(DiagnosticDescriptors.NotAModule, layer.At("Module"), error.Substring(error.IndexOf(':') + 1));
                return null;
            }
            var module = layer.Module!;
            if (PositiveInt(layer, path, "Depth", layer.Int("Depth", 1)) is not { } depth) return null;
            if (module.Layers.Count == 0) { Report(DiagnosticDescriptors.NoLayers, layer.At("Module"), module.ClassName); return null; }
            var first = module.Inputs.FirstOrDefault(i => i.Kind != InputSpec.MaskKind);
            if (first is null) { Report(DiagnosticDescriptors.NoInput, layer.At("Module"), module.ClassName); return null; }
            // A module's first input gives the trailing dimensions it expects; leading ones come from where it is used.
            bool fits = first.Shape.Count <= input.Shape.Count
                && first.Shape.Select((d, i) => d == input.Shape[input.Shape.Count - first.Shape.Count + i]).All(b => b);
            if (!fits)
            {
                Report(DiagnosticDescriptors.ShapeMismatch, layer.At("Module"), path,
                    "(B, ..., " + string.Join(", ", first.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")", NameOf(input), input.Display);
                return null;
            }
            var current = input;
            for (int i = 0; i < depth; i++)
            {
                var inner = new Scope(module, depth > 1 ? $"{path}.{i}." : path + ".");
                inner.Names[first.Name] = current;
                foreach (var extra in module.Inputs.Where(x => x != first))
                {
                    if (!scope.Names.TryGetValue(extra.Name, out var outer))
                    {
                        Report(DiagnosticDescriptors.UnknownWiring, layer.At("Module"), path, extra.Name, scope.Spec.ClassName,
                            string.Join(", ", scope.Names.Keys.Select(k => "'" + k + "'")));
                        return null;
                    }
                    inner.Names[extra.Name] = outer;
                }
                if (!CheckLayers(inner, module, ref current, topLevel: false)) return null;
            }
            return current;
        }
    }
}
