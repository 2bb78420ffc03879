using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace ModelGen.Generators.Tests.Fuzzing;

/// <summary>A model input as declared, in declaration order: what Forward takes.</summary>
public sealed record FuzzInput(string Name, int[] Shape, bool IsMask, int Vocab = 0)
{
    /// <summary>Token ids (a vocabulary of <see cref="Vocab"/>) that an Embedding reads.</summary>
    public bool IsTokens => Vocab > 0;

    /// <summary>Data with a gradient: neither a mask nor token ids.</summary>
    public bool HasGradient => !IsMask && !IsTokens;

    /// <summary>Its [Input] line: a mask of rank 1 pads keys, a mask of rank 2 or 3 masks scores.</summary>
    public string Line => IsTokens ? $"[Input(\"{Name}\", {Shape[0]}, Kind = InputKind.Tokens)]"
        : !IsMask ? $"[Input(\"{Name}\", {string.Join(", ", Shape)})]"
        : Shape.Length == 1 ? $"[Input(\"{Name}\", {Shape[0]}, Kind = InputKind.KeyPaddingMask)]"
        : $"[Input(\"{Name}\", {string.Join(", ", Shape)}, Kind = InputKind.AttentionMask)]";
}

/// <summary>One generated model. <see cref="Mistake"/> names the single deliberate error injected (the generator or the compiler
/// must reject the model), or is null. <see cref="Tracked"/> says every layer was chosen to fit the shape the fuzzer tracked, so a
/// model without a mistake is expected (not required) to be accepted.</summary>
public sealed record FuzzCase(int Seed, string Source, IReadOnlyList<FuzzInput> Inputs, string? Mistake, bool Tracked);

/// <summary>A seeded grammar of ModelGen declarations: inputs, then a chain of layers drawn from every layer attribute, mostly ones
/// that fit the shape so far (tracked roughly as the generator's rules do), with wiring, a [Module] placed by [Use], names that are
/// normal or tricky, and now and then one deliberate mistake.</summary>
public static class ModelFuzzer
{
    /// <summary>Every layer attribute of ModelGen.Abstractions, by kind; <see cref="FuzzTests"/> checks this list is complete.</summary>
    public static readonly IReadOnlyList<string> Kinds = new[]
    {
        "Linear", "LayerNorm", "Gelu", "Relu", "Sigmoid", "Dropout", "Residual", "FeedForward", "MeanPool", "LearnedPositions",
        "SinusoidalPositions", "ClassToken", "ClassifierHead", "PatchEmbedding", "Embedding", "MultiHeadAttention", "LinformerAttention", "PerformerAttention", "ReformerAttention", "PatchMerging", "SparseAttention", "AdditiveAttention", "LocationAttention", "TransformerEncoderLayer",
        "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder", "Transformer", "Conv2d", "ConvBnRelu", "BatchNorm", "GroupNorm", "Upsample", "MaxPool", "AvgPool", "TokensToMap", "MapToTokens",
        "PixelClassifier", "SqueezeExcitation", "SpatialAttention", "CoordinateAttention", "NonLocal", "SetrDecoder",
        "MaskTransformer", "MaskClassifier", "Use",
    };

    public static FuzzCase Generate(int seed) => new Builder(seed).Build();

    /// <summary>A per-sample shape; <see cref="Grid"/> is known when the tokens came from a patch grid (after <c>Lead</c> extra
    /// tokens such as a class token), which 2-D positions, TokensToMap and the segmentation heads need.</summary>
    sealed record Shape(int[] Dims, Grid? Grid = null)
    {
        public int Rank => Dims.Length;
        public int Last => Dims[^1];
        public bool IsSequence => Rank == 2;
        public bool IsMap => Rank == 3;
        public long Elements => Dims.Aggregate(1L, (p, d) => p * d);
        public bool SameDims(Shape other) => Dims.SequenceEqual(other.Dims);
        public override string ToString() => "(" + string.Join(", ", Dims) + ")";
    }

    sealed record Grid(int H, int W, int Lead);

    /// <summary>An edge a layer can read by name: an input or an earlier layer.</summary>
    sealed record NamedEdge(string Name, Shape Shape, bool IsMask, bool IsInput);

    /// <summary>A layer as produced: kind, arguments (positional first), output shape (null when unknown).</summary>
    sealed record Layer(string Kind, List<string> Args, Shape? Out);

    /// <summary>The names and lines of one class (the model or the module).</summary>
    sealed class Scope
    {
        public Scope(bool isModule) => IsModule = isModule;

        public bool IsModule { get; }
        public List<NamedEdge> Edges { get; } = new();
        public List<string> Lines { get; } = new();
        /// <summary>Property names as C# sees them (no '@'), and as written (for a deliberate duplicate).</summary>
        public List<string> Properties { get; } = new();
        public List<string> Spelled { get; } = new();

        /// <summary>Names folded to lower case without underscores: two names that meet in snake_case (Gn and GN, AttnQProj and
        /// Attn_q_proj) fold to the same key, so checking keys avoids every unintended MG1008.</summary>
        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);

        public IEnumerable<NamedEdge> Data => Edges.Where(e => !e.IsMask);
    }

    /// <summary>The module class, created at its first [Use].</summary>
    sealed class ModuleClass
    {
        public required Scope Scope { get; init; }
        public required Shape InputShape { get; init; }
        public required int[] DeclaredShape { get; init; }
        public required Shape OutputShape { get; set; }
        public List<string> InputLines { get; } = new();
        public bool SelfUse { get; set; }
    }

    static string Fold(string name) => name.TrimStart('@').Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

    static string Num(double v) => v.ToString("0.0###", CultureInfo.InvariantCulture);

    /// <summary>Enum references are written with this marker and resolved per class at the end: qualified with global::ModelGen
    /// when the class has a property of the enum's name (a property Pool would bind "Pool.Mean" to itself, which is CS0120: a
    /// user error, not what is being tested).</summary>
    const char EnumMarker = '\u0001';

    /// <summary>"ModelGen." in an attribute name, resolved per class: global::ModelGen. beside a property named ModelGen.</summary>
    const char QualifierMarker = '\u0002';

    static string Enum(string type, string member) => $"{EnumMarker}{type}.{member}";

    static readonly int[] Widths = { 8, 12, 16, 24, 32 };
    static readonly int[] Sides = { 8, 12, 16, 32 };

    static readonly string[] TrickyNames =
    {
        "a", "d", "shape", "batch", "InX", "Pool", "Module", "Tensor", "Value", "Key", "Input", "Weight", "Bias", "@out", "@in",
        "@event", "g_x", "AttnQProj", "ModelGen", "System", "K", "Seed", "Random", "Activation", "Grad", "Step", "Layers", "Gn",
        "Runtime", "Batch", "Accelerator", "Shape", "Parameter", "Device0", "InputGrad", "Cpu",
        // Contextual keywords: legal names, and 'field' and 'value' mean something inside accessors.
        "value", "field", "get", "set", "var", "partial", "dynamic", "record", "await", "global",
    };

    /// <summary>Inside a [Module] the generated-member rule (MG1012) does not apply, so names like the model's members, and like
    /// the module's own backing fields (s_Norm beside Norm), are legal there.</summary>
    static readonly string[] TrickyModuleNames = { "Forward", "Parameters", "Dispose", "Training", "s_Norm", "s_Attn", "Norm", "Attn", "K1", "_x", "InH" };

    static readonly Dictionary<string, string[]> NamesByKind = new(StringComparer.Ordinal)
    {
        ["Linear"] = new[] { "Proj", "Fc", "Head", "Embed", "Dense", "Lift", "Out", "Classifier" },
        ["LayerNorm"] = new[] { "Norm", "Norm1", "Norm2", "Ln", "FinalNorm" },
        ["Gelu"] = new[] { "Act", "Gelu", "Nonlinearity" },
        ["Relu"] = new[] { "Act", "Relu", "Rectify" },
        ["Sigmoid"] = new[] { "Gate", "Sigmoid", "Squash" },
        ["Dropout"] = new[] { "Drop", "Dropout", "Drop1" },
        ["Residual"] = new[] { "Res", "Skip", "Shortcut", "Sum" },
        ["FeedForward"] = new[] { "Mlp", "Ffn", "FeedForward" },
        ["MeanPool"] = new[] { "Pool", "MeanPool", "Avg" },
        ["LearnedPositions"] = new[] { "Pos", "Positions", "PosEmbed" },
        ["SinusoidalPositions"] = new[] { "Pos", "Sinusoid", "PosEnc" },
        ["ClassToken"] = new[] { "Cls", "ClassToken", "Tokens" },
        ["ClassifierHead"] = new[] { "Head", "Classifier", "Logits" },
        ["PatchEmbedding"] = new[] { "Embed", "Patches", "PatchEmbed" },
        ["Embedding"] = new[] { "Embed", "Wte", "Lookup", "TokenEmbedding" },
        ["MultiHeadAttention"] = new[] { "Attn", "SelfAttn", "CrossAttn", "Attention" },
        ["Transformer"] = new[] { "Seq2Seq", "EncDec", "Translator" },
        ["LinformerAttention"] = new[] { "Linformer", "LinAttn", "Projected" },
        ["PerformerAttention"] = new[] { "Performer", "Favor", "LinearAttn" },
        ["ReformerAttention"] = new[] { "Reformer", "Lsh", "HashAttn" },
        ["PatchMerging"] = new[] { "Merge", "Downsample", "PatchMerge" },
        ["SparseAttention"] = new[] { "Sparse", "BigBird", "LocalAttn" },
        ["AdditiveAttention"] = new[] { "Bahdanau", "AddAttn", "Align" },
        ["LocationAttention"] = new[] { "Location", "LocAttn", "Luong" },
        ["TransformerEncoderLayer"] = new[] { "Layer", "Block", "EncoderLayer" },
        ["TransformerEncoder"] = new[] { "Encoder", "Blocks", "Transformer" },
        ["TransformerDecoderLayer"] = new[] { "DecoderLayer", "DecBlock", "Decode" },
        ["TransformerDecoder"] = new[] { "Decoder", "DecBlocks", "Dec" },
        ["Conv2d"] = new[] { "Conv", "Conv1", "Conv2", "Stem" },
        ["ConvBnRelu"] = new[] { "ConvBlock", "Stage1", "Fuse" },
        ["BatchNorm"] = new[] { "Bn", "Bn1", "BatchNorm" },
        ["GroupNorm"] = new[] { "Gn", "GroupNorm", "Norm" },
        ["Upsample"] = new[] { "Up", "Upsample", "Up2" },
        ["MaxPool"] = new[] { "Pool", "MaxPool", "Down" },
        ["AvgPool"] = new[] { "AvgPool", "Pool", "Down" },
        ["TokensToMap"] = new[] { "Map", "ToMap", "Grid" },
        ["MapToTokens"] = new[] { "Tokens", "Flatten", "ToTokens" },
        ["PixelClassifier"] = new[] { "Logits", "PixelHead", "Seg" },
        ["SqueezeExcitation"] = new[] { "Se", "Squeeze", "ChannelGate" },
        ["SpatialAttention"] = new[] { "Sa", "SpatialGate", "Cbam" },
        ["CoordinateAttention"] = new[] { "Ca", "CoordAttn", "Coord" },
        ["NonLocal"] = new[] { "Nl", "NonLocal", "Context" },
        ["SetrDecoder"] = new[] { "Decoder", "Setr", "Head" },
        ["MaskTransformer"] = new[] { "Decoder", "MaskDecoder", "Segmenter" },
        ["MaskClassifier"] = new[] { "Decoder", "MaskHead", "Former" },
        ["Use"] = new[] { "Blocks", "Stack", "Body", "Stage" },
    };

    /// <summary>Mistakes that apply to the model as a whole (the rest are made at a layer).</summary>
    static readonly string[] ModelMistakes =
    {
        "negative input dimension", "zero input dimension", "input name not an identifier", "no layers", "no data input", "class not partial",
    };

    sealed class Builder
    {
        readonly Random _r;
        readonly int _seed;
        readonly Scope _model = new(isModule: false);
        readonly List<(FuzzInput Input, string Line)> _inputs = new();
        readonly List<(string Name, int Length)> _masks = new();
        int _attentionMasks;
        (int C, int H, int W)? _image;
        /// <summary>The model's token embedding (its property, vocabulary and width), when its input is token ids.</summary>
        (string Name, int Vocab, int Dim)? _embedding;
        ModuleClass? _module;
        string? _mistake;
        bool _tracked = true;

        // A planned layer mistake: made at this layer index (or the first later one where it applies).
        int _mistakeAt = -1;
        string? _modelMistake;
        int _layerIndex;

        public Builder(int seed)
        {
            _seed = seed;
            _r = new Random(seed);
        }

        bool Chance(double p) => _r.NextDouble() < p;

        static string Int(int v) => v.ToString(CultureInfo.InvariantCulture);

        T Pick<T>(IReadOnlyList<T> items) => items[_r.Next(items.Count)];

        T Pick<T>(T first, T second, params T[] rest)
        {
            int i = _r.Next(rest.Length + 2);
            return i == 0 ? first : i == 1 ? second : rest[i - 2];
        }

        static int[] Divisors(int n, int max = int.MaxValue) => Enumerable.Range(1, Math.Min(n, max)).Where(d => n % d == 0).ToArray();

        public FuzzCase Build()
        {
            if (Chance(0.15))
            {
                if (Chance(0.2)) _modelMistake = Pick(ModelMistakes);
                else _mistakeAt = 0; // set properly once the chain length is known
            }

            DeclareInputs();
            int length = _modelMistake == "no layers" ? 0 : 1 + _r.Next(8);
            if (_mistakeAt == 0) _mistakeAt = _r.Next(Math.Max(length, 1));
            if (_modelMistake is not null) _mistake = _modelMistake;

            Shape? current = _model.Edges[0].Shape;
            if (_inputs.FirstOrDefault(i => i.Input.IsTokens).Input is { } ids && length > 0)
            {
                int dim = Pick(Widths);
                var args = new List<string> { Int(ids.Vocab), Int(dim) };
                if (Chance(0.3)) args.Add($"PaddingIndex = {Pick(0, ids.Vocab - 1, -1)}");
                string name = NameFor(_model, "Embedding");
                current = new Shape(new[] { ids.Shape[0], dim });
                Emit(_model, new Layer("Embedding", args, current), name);
                _embedding = (name.TrimStart('@'), ids.Vocab, dim);
            }
            for (_layerIndex = 0; _layerIndex < length; _layerIndex++)
                current = AddLayer(_model, current);

            // A planned layer mistake that found no layer to live in goes on a final Linear: an unknown wiring name always applies.
            if (_mistakeAt >= 0 && _mistake is null)
            {
                _mistake = "unknown wiring name";
                Emit(_model, new Layer("Linear", new List<string> { "8", "Input = \"Nowhere\"" }, null), NameFor(_model, "Linear"));
            }
            return new FuzzCase(_seed, Render(), _inputs.Select(i => i.Input).ToArray(), _mistake, _tracked && _mistake is null);
        }

        // ---------------------------------------------------------------- inputs

        void DeclareInputs()
        {
            bool image = Chance(0.4);
            if (image)
            {
                int c = 1 + _r.Next(4), h = Pick(Sides), w = Chance(0.3) ? Pick(Sides) : h;
                string name = Chance(0.15) ? Pick("a", "d", "shape", "batch", "pixels", "class") : "image";
                _image = (c, h, w);
                AddInput(name, new[] { c, h, w }, isMask: false);
            }
            else if (Chance(0.15))
            {
                // Token ids: the chain starts with their Embedding (Build), and a Linear may tie its weight to it.
                int t = 1 + _r.Next(20), vocab = 2 + _r.Next(60);
                AddInput(Pick("ids", "tokens", "x", "input_ids"), new[] { t }, isMask: false, vocab);
            }
            else
            {
                int t = 1 + _r.Next(20), d = Pick(Widths);
                string name = Chance(0.2) ? Pick("a", "d", "shape", "batch", "batch_", "seed", "device", "input", "out", "tokens") : "x";
                AddInput(name, new[] { t, d }, isMask: false);
            }
            if (Chance(0.2)) DeclareMemory();
            if (!image && Chance(0.3)) DeclareMask(_model.Edges[0].Shape.Dims[0] + (Chance(0.2) ? 1 : 0));

            if (_modelMistake is "negative input dimension" or "zero input dimension")
            {
                var (input, line) = _inputs[0];
                int bad = _modelMistake == "zero input dimension" ? 0 : -1 - _r.Next(4);
                int at = _r.Next(input.Shape.Length);
                var shape = input.Shape.ToArray();
                shape[at] = bad;
                _inputs[0] = (input with { Shape = shape }, (input with { Shape = shape }).Line);
            }
            else if (_modelMistake == "input name not an identifier")
            {
                var (input, _) = _inputs[0];
                string bad = Pick("my input", "1x", "x-y", "");
                _inputs[0] = (input with { Name = bad }, (input with { Name = bad }).Line);
            }
        }

        void AddInput(string name, int[] shape, bool isMask, int vocab = 0)
        {
            var input = new FuzzInput(name, shape, isMask, vocab);
            string line = input.Line;
            // A mask may be declared before the data (the first data input still starts the chain); data keeps its order.
            if (isMask && _inputs.Count > 0 && Chance(0.2)) _inputs.Insert(0, (input, line));
            else _inputs.Add((input, line));
            _model.Keys.Add(Fold(name));
            // Token ids are no data a layer but the Embedding may read: kept out of the wiring like a mask.
            _model.Edges.Add(new NamedEdge(name, new Shape(shape), isMask || vocab > 0, IsInput: true));
        }

        NamedEdge DeclareMemory()
        {
            string name = Pick("memory", "context", "kv", "enc");
            if (_model.Keys.Contains(Fold(name))) name += _model.Edges.Count.ToString(CultureInfo.InvariantCulture);
            AddInput(name, new[] { 1 + _r.Next(20), Pick(Widths) }, isMask: false);
            return _model.Edges[^1];
        }

        /// <summary>KeyPaddingMask naming a mask of this length: one already declared, else a new input (outside a module).</summary>
        void AddKeyPadding(List<string> args, Scope scope, int length)
        {
            string? mask = _masks.Where(m => m.Length == length).Select(m => m.Name).FirstOrDefault();
            if (mask is null && _masks.Count < 2 && !scope.IsModule) mask = DeclareMask(length);
            if (mask is not null && (!scope.IsModule || ModuleSees(mask))) args.Add($"KeyPaddingMask = \"{mask}\"");
        }

        string DeclareMask(int length)
        {
            string name = _masks.Count == 0 ? Pick("padding", "mask", "pad", "key_padding") : "padding" + (_masks.Count + 1).ToString(CultureInfo.InvariantCulture);
            if (_model.Keys.Contains(Fold(name))) name += "_" + _model.Edges.Count.ToString(CultureInfo.InvariantCulture);
            _masks.Add((name, length));
            AddInput(name, new[] { length }, isMask: true);
            return name;
        }

        // ---------------------------------------------------------------- layers

        /// <summary>Adds one layer to <paramref name="scope"/> reading <paramref name="current"/> (null: the shape is unknown) and
        /// returns its output shape.</summary>
        Shape? AddLayer(Scope scope, Shape? current)
        {
            if (!scope.IsModule && _mistakeAt >= 0 && _mistake is null && _layerIndex >= _mistakeAt && current is not null)
            {
                if (TryMistake(scope, current) is { } made) return made;
            }

            // Wiring: now and then read an earlier edge rather than the previous layer.
            string? inputArg = null;
            if (current is not null && Chance(0.12))
            {
                var earlier = scope.Data.Where(e => e.Shape != current).ToList();
                if (earlier.Count > 0)
                {
                    var from = Pick(earlier);
                    inputArg = $"Input = {Wire(from)}";
                    current = from.Shape;
                }
            }

            Layer? layer = null;
            if (current is null || Chance(0.05))
            {
                // Off the tracked path: any kind, with arguments made for a shape of the rank it wants.
                _tracked = false;
                string kind = current is null ? Pick("Linear", "LayerNorm", "Gelu", "Relu", "Sigmoid", "Dropout", "FeedForward") : Pick(Kinds.Where(k => k != "Use").ToArray());
                layer = Make(scope, kind, StandIn(kind, current));
                if (layer is not null) layer = layer with { Out = current is not null && TakesAnyRank(kind) ? layer.Out : null };
            }
            else
            {
                for (int attempt = 0; attempt < 20 && layer is null; attempt++)
                {
                    string kind = Choose(scope, current);
                    try
                    {
                        layer = kind == "Use" ? MakeUse(scope, current) : Make(scope, kind, current);
                    }
                    catch (ArgumentOutOfRangeException e)
                    {
                        throw new InvalidOperationException($"the fuzzer failed to make {kind} on {(current is null ? "nothing" : string.Join("×", current.Dims))} {current?.Grid}", e);
                    }
                }
            }
            layer ??= new Layer("Gelu", new List<string>(), current);
            if (inputArg is not null) layer.Args.Add(inputArg);
            string name = NameFor(scope, layer.Kind);
            Emit(scope, layer, name);
            return layer.Out;
        }

        /// <summary>Only the kinds that take any rank keep a tracked shape after an off-path pick.</summary>
        static bool TakesAnyRank(string kind) => kind is "Linear" or "LayerNorm" or "Gelu" or "Relu" or "Sigmoid" or "Dropout" or "FeedForward";

        /// <summary>A shape of the rank a kind wants, so that it gets arguments, for a layer placed where it may not fit.</summary>
        static Shape StandIn(string kind, Shape? current) => kind switch
        {
            "PatchEmbedding" or "Conv2d" or "ConvBnRelu" or "BatchNorm" or "GroupNorm" or "Upsample" or "MaxPool" or "AvgPool" or "MapToTokens" or "PixelClassifier"
                or "SqueezeExcitation" or "SpatialAttention" or "CoordinateAttention" or "NonLocal" => new Shape(new[] { 4, 8, 8 }),
            "MeanPool" or "LearnedPositions" or "SinusoidalPositions" or "ClassToken" or "ClassifierHead" or "MultiHeadAttention" or "LinformerAttention" or "PerformerAttention" or "SparseAttention" or "AdditiveAttention"
                or "ReformerAttention" or "PatchMerging" or "LocationAttention" or "TransformerEncoderLayer" or "TransformerEncoder" or "TransformerDecoderLayer" or "TransformerDecoder" or "Transformer" or "TokensToMap" or "SetrDecoder" or "MaskTransformer" or "MaskClassifier"
                => current is { IsSequence: true } ? current : new Shape(new[] { 16, 16 }, new Grid(4, 4, 0)),
            _ => current ?? new Shape(new[] { 8, 16 }),
        };

        /// <summary>A wiring argument: the name as a string, or nameof(Property) for a layer (inputs are no C# members).</summary>
        string Wire(NamedEdge e) =>
            !e.IsInput && Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetKeywordKind(e.Name) == Microsoft.CodeAnalysis.CSharp.SyntaxKind.None
                && Microsoft.CodeAnalysis.CSharp.SyntaxFacts.GetContextualKeywordKind(e.Name) == Microsoft.CodeAnalysis.CSharp.SyntaxKind.None && Chance(0.25)
                ? $"nameof({e.Name})"
                : $"\"{e.Name}\"";

        static bool IsNamed(string arg) => System.Text.RegularExpressions.Regex.IsMatch(arg, "^[A-Za-z]+ = ");

        /// <summary>Ways of writing the same attribute that the parser must read alike: the class name with its Attribute suffix
        /// or qualified, constant expressions for sizes, named arguments in any order.</summary>
        string Spell(Layer layer)
        {
            string kind = layer.Kind;
            if (Chance(0.06)) kind = Pick(kind + "Attribute", $"{QualifierMarker}{kind}", $"global::ModelGen.{kind}Attribute", $"{QualifierMarker}{kind}Attribute");
            var args = layer.Args.Select(a =>
                int.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && Chance(0.05)
                    ? Pick($"({n})", $"0x{n:X}", n % 2 == 0 ? $"2 * {n / 2}" : $"{n} * 1", $"{n + 3} - 3")
                    : a).ToList();
            if (Chance(0.3))
            {
                var named = args.Where(IsNamed).OrderBy(_ => _r.Next()).ToList();
                args = args.Where(a => !IsNamed(a)).Concat(named).ToList();
            }
            return args.Count == 0 ? kind : $"{kind}({string.Join(", ", args)})";
        }

        void Emit(Scope scope, Layer layer, string name, string modifiers = "public")
        {
            string attribute = Spell(layer);
            if (Chance(0.08)) modifiers = Pick("internal", "private", "protected internal");
            string line = Chance(0.15)
                ? $"    [{attribute}]\n    {modifiers} partial Module {name} {{ get; }}"
                : $"    [{attribute}] {modifiers} partial Module {name} {{ get; }}";
            scope.Lines.Add(line);
            scope.Properties.Add(name.TrimStart('@'));
            scope.Spelled.Add(name);
            if (layer.Out is not null) scope.Edges.Add(new NamedEdge(name.TrimStart('@'), layer.Out, false, IsInput: false));
        }

        string NameFor(Scope scope, string kind)
        {
            for (int attempt = 0; ; attempt++)
            {
                string name = Chance(0.12) ? Pick(scope.IsModule && Chance(0.5) ? TrickyModuleNames : TrickyNames) : Pick(NamesByKind[kind]);
                // A module keeps each layer's Module in a static field s_{Name}: a layer named s_{an earlier layer} is legal C# there.
                if (scope.IsModule && scope.Properties.Count > 0 && Chance(0.1)) name = "s_" + Pick(scope.Properties);
                if (attempt > 3) name += attempt.ToString(CultureInfo.InvariantCulture);
                // A member named like its class is CS0542, a user error: the module class is Block, the model M.
                if (scope.IsModule && name == "Block") continue;
                if (scope.Keys.Add(Fold(name))) return name;
            }
        }

        /// <summary>A kind that plausibly fits the current shape, weighted toward the structures worth reaching (ViT, SETR, CNNs).</summary>
        string Choose(Scope scope, Shape s)
        {
            var w = new List<(string Kind, double Weight)>
            {
                ("Linear", 1.5), ("LayerNorm", 1.2), ("Gelu", 0.6), ("Relu", 0.6), ("Sigmoid", 0.4), ("Dropout", 0.5), ("FeedForward", 1),
                ("Residual", 1),
            };
            if (s.IsSequence)
            {
                w.AddRange(new[]
                {
                    ("MeanPool", 0.5), ("LearnedPositions", 0.8), ("SinusoidalPositions", 0.8), ("ClassToken", 0.8), ("ClassifierHead", 0.6),
                    ("MultiHeadAttention", 2.0), ("TransformerEncoderLayer", 1.5), ("TransformerEncoder", 1.5), ("TokensToMap", 0.8),
                    ("PatchMerging", s.Grid is { Lead: 0, H: var gh, W: var gw } && gh % 2 == 0 && gw % 2 == 0 ? 2.0 : 0.05),
                    ("TransformerDecoderLayer", 0.7), ("TransformerDecoder", 0.7), ("Transformer", 0.5), ("LinformerAttention", 0.6), ("PerformerAttention", 0.6), ("ReformerAttention", 0.5), ("SparseAttention", 0.6), ("AdditiveAttention", 0.5), ("LocationAttention", 0.4),
                });
                // The heads need the image's patch grid: likelier once the tokens came from one.
                double head = s.Grid is not null ? 2.5 : 0.8;
                if (_image is not null) w.AddRange(new[] { ("SetrDecoder", head), ("MaskTransformer", head * 0.8), ("MaskClassifier", head * 0.8) });
            }
            if (s.IsMap)
            {
                w.AddRange(new[]
                {
                    ("PatchEmbedding", 3.0), ("Conv2d", 2.0), ("ConvBnRelu", 1.0), ("BatchNorm", 0.8), ("GroupNorm", 0.8), ("Upsample", 0.6), ("MaxPool", 1.0),
                    ("AvgPool", 0.8), ("MapToTokens", 0.6), ("PixelClassifier", 0.8), ("SqueezeExcitation", 0.7), ("SpatialAttention", 0.7),
                    ("CoordinateAttention", 0.7), ("NonLocal", 0.6),
                });
            }
            if (!scope.IsModule && (s.IsSequence || s.IsMap || s.Rank == 1)) w.Add(("Use", 0.6));
            double total = w.Sum(x => x.Weight), roll = _r.NextDouble() * total;
            foreach (var (kind, weight) in w)
            {
                roll -= weight;
                if (roll <= 0) return kind;
            }
            return w[^1].Kind;
        }

        /// <summary>A layer of <paramref name="kind"/> with plausible arguments for input <paramref name="s"/>, or null when none fits.</summary>
        Layer? Make(Scope scope, string kind, Shape s)
        {
            var args = new List<string>();
            Layer Out(Shape? shape) => new(kind, args, shape);
            Shape Same() => s with { };
            int last = s.Last;
            switch (kind)
            {
                case "Linear" when !scope.IsModule && _embedding is { } table && table.Dim == last && Chance(0.35):
                {
                    // A language model's output projection, tied to the embedding's table.
                    args.Add(Int(table.Vocab));
                    args.Add($"TiedTo = \"{table.Name}\"");
                    if (Chance(0.15)) args.Add("Bias = false");
                    var dims = s.Dims.ToArray();
                    dims[^1] = table.Vocab;
                    return Out(new Shape(dims, s.IsSequence ? s.Grid : null));
                }
                case "Embedding":
                {
                    // Only where the shape is unknown or a deliberate misuse: the tracked chain starts with the model's own.
                    int vocab = 2 + _r.Next(30), dim = Pick(Widths);
                    args.Add(Int(vocab));
                    args.Add(Int(dim));
                    return Out(s.Rank == 1 ? new Shape(new[] { s.Dims[0], dim }) : null);
                }
                case "Linear":
                {
                    int outFeatures = Chance(0.3) ? last : Pick(4, 8, 12, 16, 24, 32, 5, 7, 10);
                    args.Add(outFeatures.ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.15)) args.Add($"InFeatures = {last}");
                    if (Chance(0.15)) args.Add("Bias = false");
                    var dims = s.Dims.ToArray();
                    dims[^1] = outFeatures;
                    // A sequence keeps its grid through a per-token projection.
                    return Out(new Shape(dims, s.IsSequence ? s.Grid : null));
                }
                case "LayerNorm":
                    if (Chance(0.1)) args.Add("Eps = 1e-6");
                    return Out(Same());
                case "Gelu" or "Relu" or "Sigmoid":
                    return Out(Same());
                case "Dropout":
                    args.Add(Num(Pick(0.0, 0.1, 0.25, 0.5)));
                    return Out(Same());
                case "Residual":
                {
                    var same = scope.Data.Where(e => e.Shape.SameDims(s)).ToList();
                    if (same.Count == 0) return null;
                    args.Add(Wire(Pick(same)));
                    return Out(Same());
                }
                case "FeedForward":
                    args.Add(Pick(8, 16, 32, 64).ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.3)) args.Add($"Activation = {Enum("Activation", "Relu")}");
                    else if (Chance(0.1)) args.Add($"Activation = {Enum("Activation", "Gelu")}");
                    if (Chance(0.15)) args.Add("Dropout = 0.1");
                    return Out(Same());
                case "MeanPool":
                    return s.IsSequence ? Out(new Shape(new[] { last })) : null;
                case "LearnedPositions":
                    return s.IsSequence ? Out(Same()) : null;
                case "SinusoidalPositions":
                    return Sinusoidal(s, args) ? Out(Same()) : null;
                case "ClassToken":
                    return s.IsSequence ? Out(new Shape(new[] { s.Dims[0] + 1, last }, s.Grid is { } g ? g with { Lead = g.Lead + 1 } : null)) : null;
                case "ClassifierHead":
                {
                    if (!s.IsSequence) return null;
                    int classes = 2 + _r.Next(9);
                    args.Add(classes.ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.3)) args.Add($"Pool = {Enum("Pool", "Mean")}");
                    else if (Chance(0.1)) args.Add($"Pool = {Enum("Pool", "ClassToken")}");
                    return Out(new Shape(new[] { classes }));
                }
                case "PatchEmbedding":
                {
                    if (!s.IsMap) return null;
                    var patches = Divisors(Gcd(s.Dims[1], s.Dims[2]), 16).Where(p => p > 1 || Chance(0.1)).ToArray();
                    if (patches.Length == 0) return null;
                    int patch = Pick(patches), dim = Pick(Widths);
                    int gh = s.Dims[1] / patch, gw = s.Dims[2] / patch;
                    if (gh * gw > 256) return null; // keeps attention over the tokens fast
                    args.Add(patch.ToString(CultureInfo.InvariantCulture));
                    args.Add(dim.ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.15)) args.Add($"Channels = {s.Dims[0]}");
                    return Out(new Shape(new[] { gh * gw, dim }, new Grid(gh, gw, 0)));
                }
                case "MultiHeadAttention":
                    return Attention(scope, s, args, cross: Chance(0.35), out _) ? Out(Same()) : null;
                case "TransformerEncoderLayer" or "TransformerEncoder":
                {
                    if (!s.IsSequence) return null;
                    if (kind == "TransformerEncoder") args.Add(Pick(1, 1, 2, 2, 3).ToString(CultureInfo.InvariantCulture)); // depth unrolls: keep compiles short
                    if (!Attention(scope, s, args, cross: false, out int heads)) return null;
                    if (Chance(0.4)) args.Add($"FeedForward = {Pick(16, 32, 48)}");
                    if (Chance(0.3)) args.Add($"Norm = {Enum("NormPlacement", "Post")}");
                    else if (Chance(0.1)) args.Add($"Norm = {Enum("NormPlacement", "Pre")}");
                    if (Chance(0.3)) args.Add($"Activation = {Enum("Activation", "Relu")}");
                    if (Chance(0.15)) args.Add("Dropout = 0.1");
                    if (Chance(0.25)) args.Add($"DropPath = {Num(Pick(0.1, 0.2))}");
                    if (Chance(0.1)) args.Add("Eps = 1e-6");
                    return Out(Same());
                }
                case "LinformerAttention":
                {
                    if (!s.IsSequence) return null;
                    int tokens = s.Dims[0];
                    var heads = Divisors(s.Last, 8);
                    int h = Pick(heads);
                    args.Add(h.ToString(CultureInfo.InvariantCulture));
                    args.Add((1 + _r.Next(tokens)).ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.3)) args.Add($"KvHeads = {Pick(Divisors(h))}");
                    if (Chance(0.3)) args.Add("ShareKeyValue = true");
                    if (Chance(0.15)) args.Add("Bias = false");
                    if (Chance(0.1)) args.Add($"ValueDim = {Pick(4, 8)}");
                    return Out(Same());
                }
                case "PerformerAttention":
                {
                    if (!s.IsSequence) return null;
                    int h = Pick(Divisors(s.Last, 8)), keyDim = s.Last / h;
                    args.Add(h.ToString(CultureInfo.InvariantCulture));
                    args.Add(Pick(1, 7, 16, 32).ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.3)) args.Add($"KvHeads = {Pick(Divisors(h))}");
                    if (Chance(0.3)) args.Add("Causal = true");
                    if (Chance(0.15)) args.Add("Bias = false");
                    if (Chance(0.1)) args.Add($"ValueDim = {Pick(4, 6)}");
                    if (Chance(0.1))
                    {
                        keyDim = Pick(4, 6);
                        args.Add($"KeyDim = {keyDim}");
                    }
                    if (Chance(0.2) && keyDim % 2 == 0) args.Add("Positions = RelativePositions.Rotary");
                    if (Chance(0.25)) AddKeyPadding(args, scope, s.Dims[0]);
                    return Out(Same());
                }
                case "PatchMerging":
                {
                    if (!s.IsSequence || s.Grid is not { Lead: 0 } grid || grid.H % 2 != 0 || grid.W % 2 != 0 || grid.H * grid.W != s.Dims[0]) return null;
                    if (grid.H != grid.W || Chance(0.3))
                    {
                        args.Add($"GridHeight = {grid.H}");
                        args.Add($"GridWidth = {grid.W}");
                    }
                    int merged = 2 * s.Last;
                    if (Chance(0.3))
                    {
                        merged = Pick(8, 16, 24);
                        args.Add($"OutDim = {merged}");
                    }
                    if (Chance(0.15)) args.Add("Eps = 1e-6");
                    return Out(new Shape(new[] { grid.H * grid.W / 4, merged }, new Grid(grid.H / 2, grid.W / 2, 0)));
                }
                case "ReformerAttention":
                {
                    if (!s.IsSequence || s.Dims[0] < 1) return null;
                    int tokens = s.Dims[0], h = Pick(Divisors(s.Last, 8));
                    args.Add(h.ToString(CultureInfo.InvariantCulture));
                    args.Add(Pick(Enumerable.Range(1, tokens).Where(d => tokens % d == 0).ToArray()).ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.4)) args.Add($"Buckets = {Pick(2, 4, 6, 8)}");
                    if (Chance(0.4)) args.Add($"Rounds = {Pick(1, 2, 3)}");
                    if (Chance(0.3)) args.Add("Causal = true");
                    if (Chance(0.15)) args.Add("Bias = false");
                    if (Chance(0.1)) args.Add($"ValueDim = {Pick(4, 6)}");
                    if (Chance(0.1)) args.Add($"KeyDim = {Pick(3, 4)}");
                    if (Chance(0.25)) AddKeyPadding(args, scope, tokens);
                    return Out(Same());
                }
                case "SparseAttention":
                {
                    if (!s.IsSequence) return null;
                    int tokens = s.Dims[0], h = Pick(Divisors(s.Last, 8)), keyDim = s.Last / h;
                    var blocks = Enumerable.Range(1, tokens).Where(d => tokens % d == 0).ToArray();
                    int blockSize = Pick(blocks), count = tokens / blockSize;
                    args.Add(h.ToString(CultureInfo.InvariantCulture));
                    args.Add(blockSize.ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.4)) args.Add($"Window = {Pick(0, 1, 2)}");
                    if (Chance(0.4)) args.Add($"GlobalBlocks = {_r.Next(Math.Min(count, 2) + 1)}");
                    if (Chance(0.4)) args.Add($"RandomBlocks = {_r.Next(Math.Min(count, 3) + 1)}");
                    if (Chance(0.2)) args.Add($"Stride = {Pick(2, 3)}");
                    if (Chance(0.2)) args.Add($"Seed = {_r.Next(100)}");
                    if (Chance(0.3)) args.Add($"KvHeads = {Pick(Divisors(h))}");
                    if (Chance(0.3)) args.Add("Causal = true");
                    if (Chance(0.1)) args.Add($"ValueDim = {Pick(4, 6)}");
                    if (Chance(0.15) && keyDim % 2 == 0) args.Add("Positions = RelativePositions.Rotary");
                    if (Chance(0.25)) AddKeyPadding(args, scope, tokens);
                    return Out(Same());
                }
                case "AdditiveAttention" or "LocationAttention":
                {
                    if (!s.IsSequence) return null;
                    if (kind == "AdditiveAttention") args.Add(Pick(1, 4, 8, 16).ToString(CultureInfo.InvariantCulture));
                    // Keys and values: another sequence of this scope (any length and width), or the input itself.
                    var others = scope.Data.Where(e => e.Shape.IsSequence && e.Shape != s).ToList();
                    int width = s.Last;
                    NamedEdge? keys = null;
                    if (others.Count > 0 && Chance(0.6))
                    {
                        keys = Pick(others);
                        args.Add($"KeyValue = {Wire(keys)}");
                        width = keys.Shape.Last;
                    }
                    if (kind == "AdditiveAttention" && Chance(0.3)) args.Add("Bias = false");
                    if (Chance(0.25))
                    {
                        // A key padding mask over the keys: the memory's when one was named, else the input's.
                        // (Wire spells a name at random, so the edge is kept, not found again by its spelling.)
                        int length = keys is null ? s.Dims[0] : keys.Shape.Dims[0];
                        string? mask = _masks.Where(m => m.Length == length).Select(m => m.Name).FirstOrDefault();
                        if (mask is null && _masks.Count < 2 && !scope.IsModule) mask = DeclareMask(length);
                        if (mask is not null && (!scope.IsModule || ModuleSees(mask))) args.Add($"KeyPaddingMask = \"{mask}\"");
                    }
                    return Out(new Shape(new[] { s.Dims[0], width }));
                }
                case "TransformerDecoderLayer" or "TransformerDecoder":
                {
                    if (!s.IsSequence) return null;
                    if (kind == "TransformerDecoder") args.Add(Pick(1, 2).ToString(CultureInfo.InvariantCulture));
                    if (!Attention(scope, s, args, cross: false, out _)) return null;
                    // The memory: a sequence of this scope (the decoder's own input too), or a new input of the model.
                    var memories = scope.Data.Where(e => e.Shape.IsSequence).ToList();
                    NamedEdge? memory = memories.Count > 0 && Chance(0.7) ? Pick(memories) : !scope.IsModule ? DeclareMemory() : memories.FirstOrDefault();
                    if (memory is null) return null;
                    args.Add($"Memory = {Wire(memory)}");
                    if (Chance(0.3))
                    {
                        int length = memory.Shape.Dims[0];
                        string? mask = _masks.Where(m => m.Length == length).Select(m => m.Name).FirstOrDefault();
                        if (mask is null && _masks.Count < 2 && !scope.IsModule) mask = DeclareMask(length);
                        if (mask is not null && (!scope.IsModule || ModuleSees(mask))) args.Add($"MemoryKeyPaddingMask = \"{mask}\"");
                    }
                    if (Chance(0.4)) args.Add($"FeedForward = {Pick(16, 32, 48)}");
                    if (Chance(0.3)) args.Add($"Norm = {Enum("NormPlacement", "Post")}");
                    if (Chance(0.3)) args.Add($"Activation = {Enum("Activation", "Relu")}");
                    if (Chance(0.15)) args.Add("Dropout = 0.1");
                    if (Chance(0.2)) args.Add($"DropPath = {Num(Pick(0.1, 0.2))}");
                    return Out(Same());
                }
                case "Transformer":
                {
                    if (!s.IsSequence) return null;
                    if (!Attention(scope, s, args, cross: false, out _)) return null;
                    // The target: a sequence of this scope as wide as the source (the source itself too).
                    var targets = scope.Data.Where(e => e.Shape.IsSequence && e.Shape.Last == s.Last).ToList();
                    if (targets.Count == 0) return null;
                    var target = Pick(targets);
                    args.Add($"Target = {Wire(target)}");
                    args.Add($"EncoderLayers = {Pick(1, 1, 2)}");
                    args.Add($"DecoderLayers = {Pick(1, 1, 2)}");
                    if (Chance(0.4)) args.Add($"FeedForward = {Pick(16, 32)}");
                    if (Chance(0.3)) args.Add($"Norm = {Enum("NormPlacement", "Post")}");
                    if (Chance(0.3)) args.Add($"Activation = {Enum("Activation", "Relu")}");
                    if (Chance(0.15)) args.Add("Dropout = 0.1");
                    return Out(new Shape(new[] { target.Shape.Dims[0], s.Last }));
                }
                case "Conv2d":
                    return Conv(s, args, convBnRelu: false) is { } conv ? Out(conv) : null;
                case "ConvBnRelu":
                    return Conv(s, args, convBnRelu: true) is { } block ? Out(block) : null;
                case "BatchNorm":
                    if (!s.IsMap) return null;
                    if (Chance(0.2)) args.Add($"Momentum = {Num(Pick(0.0, 0.5, 1.0))}");
                    if (Chance(0.15)) args.Add("Eps = 1e-3");
                    return Out(Same());
                case "GroupNorm":
                    if (!s.IsMap) return null;
                    args.Add(Pick(Divisors(s.Dims[0])).ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.1)) args.Add("Eps = 1e-4");
                    return Out(Same());
                case "Upsample":
                {
                    if (!s.IsMap) return null;
                    int factor = Pick(1, 2, 2, 3);
                    if (s.Dims[1] * factor > 64 || s.Dims[2] * factor > 64) factor = 1;
                    if (factor != 2 || Chance(0.3)) args.Add(factor.ToString(CultureInfo.InvariantCulture));
                    if (Chance(0.3)) args.Add($"Mode = {Enum("UpsampleMode", "Nearest")}");
                    else if (Chance(0.1)) args.Add($"Mode = {Enum("UpsampleMode", "Bilinear")}");
                    return Out(new Shape(new[] { s.Dims[0], s.Dims[1] * factor, s.Dims[2] * factor }));
                }
                case "MaxPool" or "AvgPool":
                {
                    if (!s.IsMap) return null;
                    int side = Math.Min(s.Dims[1], s.Dims[2]);
                    int k = Math.Min(Pick(1, 2, 2, 3), side);
                    int strideArg = Chance(0.5) ? 0 : Pick(1, 2, 3);
                    int stride = strideArg == 0 ? k : strideArg;
                    args.Add(k.ToString(CultureInfo.InvariantCulture));
                    if (strideArg != 0 || Chance(0.1)) args.Add($"Stride = {strideArg}");
                    return Out(new Shape(new[] { s.Dims[0], (s.Dims[1] - k) / stride + 1, (s.Dims[2] - k) / stride + 1 }));
                }
                case "TokensToMap":
                    return TokensToMap(s, args) is { } map ? Out(map) : null;
                case "MapToTokens":
                    if (!s.IsMap || s.Dims[1] * s.Dims[2] > 256) return null;
                    return Out(new Shape(new[] { s.Dims[1] * s.Dims[2], s.Dims[0] }, new Grid(s.Dims[1], s.Dims[2], 0)));
                case "PixelClassifier":
                {
                    if (!s.IsMap || _image is not { } image || s.Dims[1] != image.H || s.Dims[2] != image.W) return null;
                    int classes = 2 + _r.Next(5);
                    args.Add(classes.ToString(CultureInfo.InvariantCulture));
                    return Out(new Shape(new[] { classes, image.H, image.W }));
                }
                case "SqueezeExcitation" or "CoordinateAttention" or "NonLocal":
                {
                    if (!s.IsMap) return null;
                    if (kind == "NonLocal" && s.Dims[1] * s.Dims[2] > 256) return null;
                    int byDefault = kind switch { "SqueezeExcitation" => 16, "CoordinateAttention" => 8, _ => 2 };
                    if (kind == "NonLocal" && Chance(0.7)) args.Add($"Affinity = {Enum("Affinity", Pick("EmbeddedGaussian", "Gaussian", "DotProduct", "Concatenation"))}");
                    if (s.Dims[0] % byDefault == 0 && Chance(0.5)) return Out(Same());
                    args.Add($"Reduction = {Pick(Divisors(s.Dims[0]))}");
                    return Out(Same());
                }
                case "SpatialAttention":
                    if (!s.IsMap) return null;
                    if (Chance(0.6)) args.Add($"Kernel = {Pick(1, 3, 5, 7)}");
                    return Out(Same());
                case "SetrDecoder" or "MaskTransformer" or "MaskClassifier":
                    return SegmentationHead(kind, s, args) is { } logits ? Out(logits) : null;
                default:
                    return null;
            }
        }

        static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

        bool Sinusoidal(Shape s, List<string> args)
        {
            if (!s.IsSequence || s.Last % 2 != 0) return false;
            int tokens = s.Dims[0];
            if (s.Last % 4 == 0 && Chance(0.5))
            {
                // 2-D: the known grid, or any factorisation of the tokens (with or without one leading token).
                (int H, int W)? grid = null;
                if (s.Grid is { Lead: <= 1 } g) grid = (g.H, g.W);
                else
                {
                    int lead = tokens > 1 && Chance(0.3) ? 1 : 0, n = tokens - lead;
                    int gh = Pick(Divisors(n));
                    grid = (gh, n / gh);
                }
                args.Add($"GridHeight = {grid.Value.H}");
                args.Add($"GridWidth = {grid.Value.W}");
            }
            return true;
        }

        /// <summary>Heads (mostly dividing the width), grouped-query heads, head widths, masks, causal, bias; cross-attention to a
        /// second sequence when asked. Appends to <paramref name="args"/>.</summary>
        bool Attention(Scope scope, Shape s, List<string> args, bool cross, out int heads)
        {
            heads = 0;
            if (!s.IsSequence) return false;
            int width = s.Last, keys = s.Dims[0];
            int keyDim;
            if (Chance(0.12))
            {
                heads = 1 + _r.Next(4);
                args.Add(heads.ToString(CultureInfo.InvariantCulture));
                keyDim = Pick(4, 8);
                args.Add($"KeyDim = {keyDim}");
            }
            else
            {
                heads = Pick(Divisors(width, 8));
                args.Add(heads.ToString(CultureInfo.InvariantCulture));
                keyDim = width / heads;
                if (Chance(0.1))
                {
                    keyDim = Pick(4, 8);
                    args.Add($"KeyDim = {keyDim}");
                }
            }
            if (Chance(0.12)) args.Add($"ValueDim = {Pick(4, 6, 8)}");
            if (Chance(0.3)) args.Add($"KvHeads = {Pick(Divisors(heads))}");
            // After a token embedding mostly causal, so that whole chains decode step by step (the fuzz test then checks the decoding).
            if (Chance(_embedding is null ? 0.25 : 0.8)) args.Add("Causal = true");
            if (Chance(0.15)) args.Add("Bias = false");
            if (cross)
            {
                // Keys and values from another sequence: an input (declared now if there is none) or an earlier layer.
                var others = scope.Data.Where(e => e.Shape.IsSequence && e.Shape != s).ToList();
                NamedEdge? memory = others.Count > 0 && Chance(0.8) ? Pick(others) : null;
                if (memory is null && !scope.IsModule) memory = DeclareMemory();
                if (memory is null && scope.IsModule)
                {
                    // The module sees an outer sequence input once it declares an input of that name.
                    var outer = _inputs.Select(i => i.Input).Where(i => !i.IsMask && i.Shape.Length == 2).Skip(1).FirstOrDefault();
                    if (outer is not null && ModuleSees(outer.Name)) memory = scope.Edges.First(e => e.Name == outer.Name);
                }
                if (memory is not null)
                {
                    keys = memory.Shape.Dims[0];
                    if (Chance(0.8)) args.Add($"KeyValue = {Wire(memory)}");
                    else
                    {
                        var values = scope.Data.Where(e => e.Shape.IsSequence && e.Shape.Dims[0] == keys).ToList();
                        args.Add($"Key = {Wire(memory)}");
                        args.Add($"Value = {Wire(Pick(values))}");
                    }
                }
            }
            // Relative positions on self-attention: rotary (an even head width), ALiBi, a learned T5 bias, Shaw's relative keys or an adaptive span.
            bool self = !args.Any(a => a.StartsWith("Key", StringComparison.Ordinal) && !a.StartsWith("KeyDim", StringComparison.Ordinal));
            if (self && Chance(0.3))
            {
                int kind = _r.Next(5);
                if (kind == 0 && keyDim % 2 == 0)
                {
                    args.Add("Positions = RelativePositions.Rotary");
                    if (Chance(0.3)) args.Add("RotaryBase = 500");
                }
                else if (kind == 1) args.Add("Positions = RelativePositions.Alibi");
                else if (kind == 2)
                {
                    args.Add("Positions = RelativePositions.RelativeBias");
                    if (Chance(0.5)) args.Add($"RelativeBuckets = {Pick(4, 6, 8, 32)}");
                    if (Chance(0.5)) args.Add($"MaxDistance = {Pick(9, 20, 128)}");
                }
                else if (kind == 3)
                {
                    args.Add("Positions = RelativePositions.Shaw");
                    if (Chance(0.6)) args.Add($"MaxDistance = {Pick(1, 2, 4, 16)}");
                }
                else if (kind == 4)
                {
                    args.Add("Positions = RelativePositions.AdaptiveSpan");
                    if (Chance(0.6)) args.Add($"MaxDistance = {Pick(1, 4, 16)}");
                    if (Chance(0.5)) args.Add($"SpanRamp = {Pick(1, 2, 8)}");
                }
            }
            // An attention mask over the scores, shared by the heads or one per head (a new input; the model's, a module declares it too).
            if (Chance(0.12) && _attentionMasks < 2)
            {
                int queries = s.Dims[0];
                int[] shape = Chance(0.5) ? new[] { queries, keys } : new[] { heads, queries, keys };
                string name = "attn_mask" + (_attentionMasks++).ToString(CultureInfo.InvariantCulture);
                if (_model.Keys.Contains(Fold(name))) name += "_" + _model.Edges.Count.ToString(CultureInfo.InvariantCulture);
                AddInput(name, shape, isMask: true);
                if (!scope.IsModule || ModuleSees(name)) args.Add($"AttentionMask = \"{name}\"");
            }
            // A key padding mask as long as the keys: an existing one, or a new input (the model's; a module declares it too).
            if (Chance(0.35))
            {
                string? mask = _masks.Where(m => m.Length == keys).Select(m => m.Name).FirstOrDefault();
                if (mask is null && _masks.Count < 2 && Chance(0.6)) mask = DeclareMask(keys);
                if (mask is not null && (!scope.IsModule || ModuleSees(mask))) args.Add($"KeyPaddingMask = \"{mask}\"");
            }
            return true;
        }

        /// <summary>Inside the module, an outer input is visible once the module declares an input of the same name.</summary>
        bool ModuleSees(string outerInput)
        {
            if (_module is null) return false;
            if (_module.Scope.Edges.Any(e => e.Name == outerInput)) return true;
            var input = _inputs.First(i => i.Input.Name == outerInput).Input;
            if (!_module.Scope.Keys.Add(Fold(outerInput))) return false;
            _module.InputLines.Add(input.Line);
            _module.Scope.Edges.Add(new NamedEdge(outerInput, new Shape(input.Shape), input.IsMask, IsInput: true));
            return true;
        }

        /// <summary>Conv2d's arguments, or ConvBnRelu's (the same convolution without Bias and InChannels, and a BatchNorm's).</summary>
        Shape? Conv(Shape s, List<string> args, bool convBnRelu)
        {
            if (!s.IsMap) return null;
            int h = s.Dims[1], w = s.Dims[2];
            int outChannels = Pick(2, 4, 8, 12, 16);
            int kernel = Pick(1, 3, 3, 5, 2);
            int stride = Chance(0.25) ? 2 : 1;
            int paddingArg = Chance(0.6) ? -1 : Pick(0, 1, 2);
            int padding = paddingArg == -1 ? (kernel - 1) / 2 : paddingArg;
            if (h + 2 * padding < kernel || w + 2 * padding < kernel) { kernel = 1; padding = paddingArg == -1 ? 0 : paddingArg; }
            args.Add(outChannels.ToString(CultureInfo.InvariantCulture));
            if (kernel != 3 || Chance(0.4)) args.Add(kernel.ToString(CultureInfo.InvariantCulture));
            if (stride != 1 || Chance(0.1)) args.Add($"Stride = {stride}");
            if (paddingArg != -1) args.Add($"Padding = {paddingArg}");
            if (convBnRelu)
            {
                if (Chance(0.15)) args.Add($"Momentum = {Num(Pick(0.01, 0.3))}");
                if (Chance(0.1)) args.Add("Eps = 1e-3");
            }
            else
            {
                if (Chance(0.15)) args.Add("Bias = false");
                if (Chance(0.15)) args.Add($"InChannels = {s.Dims[0]}");
            }
            return new Shape(new[] { outChannels, (h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1 });
        }

        Shape? TokensToMap(Shape s, List<string> args)
        {
            if (!s.IsSequence) return null;
            int tokens = s.Dims[0], skip, gh, gw;
            if (s.Grid is { } g) (skip, gh, gw) = (g.Lead, g.H, g.W);
            else
            {
                skip = tokens > 1 && Chance(0.3) ? 1 : 0;
                int n = tokens - skip;
                gh = Pick(Divisors(n));
                gw = n / gh;
            }
            if (skip > 0 || Chance(0.1)) args.Add($"Skip = {skip}");
            if (gh != gw || Chance(0.3))
            {
                args.Add($"GridHeight = {gh}");
                args.Add($"GridWidth = {gw}");
            }
            return new Shape(new[] { s.Last, gh, gw });
        }

        /// <summary>The patch grid of the tokens after <paramref name="skip"/>, shaped like the image (as the heads find it).</summary>
        (int H, int W)? ImageGrid(int tokens, int skip)
        {
            if (_image is not { } image) return null;
            int patches = tokens - skip;
            if (patches <= 0) return null;
            int near = (int)Math.Round(Math.Sqrt((double)patches * image.H / image.W));
            for (int gh = Math.Max(1, near - 1); gh <= near + 1; gh++)
            {
                if (patches % gh != 0) continue;
                int gw = patches / gh;
                if ((long)gh * image.W == (long)gw * image.H) return (gh, gw);
            }
            return null;
        }

        Shape? SegmentationHead(string kind, Shape s, List<string> args)
        {
            if (!s.IsSequence || _image is not { } image) return null;
            int skip = s.Grid?.Lead ?? (ImageGrid(s.Dims[0], 0) is null ? 1 : 0);
            if (ImageGrid(s.Dims[0], skip) is not { } grid) return null;
            if (image.H % grid.H != 0 || image.W % grid.W != 0 || image.H / grid.H != image.W / grid.W) return null;
            int factor = image.H / grid.H, classes = 2 + _r.Next(5), width = s.Last;
            args.Add(classes.ToString(CultureInfo.InvariantCulture));
            if (skip > 0 || Chance(0.1)) args.Add($"Skip = {skip}");
            switch (kind)
            {
                case "SetrDecoder":
                {
                    bool powerOfTwo = (factor & (factor - 1)) == 0;
                    List<int> factors;
                    if (powerOfTwo && Chance(0.5)) factors = Enumerable.Repeat(2, (int)Math.Round(Math.Log2(factor))).ToList();
                    else
                    {
                        factors = Factorise(factor);
                        args.Add($"Factors = new[] {{ {string.Join(", ", factors)} }}");
                    }
                    if (factors.Count > 0 && Chance(0.25)) args.Add($"StageChannels = new[] {{ {string.Join(", ", factors.Select(_ => Pick(4, 8, 12)))} }}");
                    else if (!Chance(0.1) || image.H * image.W > 256) args.Add($"Channels = {Pick(4, 8, 16)}");
                    break;
                }
                case "MaskTransformer":
                {
                    int decoderWidth = Chance(0.3) ? Pick(8, 16) : 0;
                    if (decoderWidth != 0) args.Add($"Width = {decoderWidth}");
                    int heads = Pick(Divisors(decoderWidth == 0 ? width : decoderWidth, 8));
                    if (heads != 4 || Chance(0.3)) args.Add($"Heads = {heads}");
                    args.Add($"Depth = {(Chance(0.85) ? 1 : 2)}");
                    if (Chance(0.2)) args.Add($"MaskTokens = {classes}");
                    break;
                }
                default:
                {
                    int heads = Pick(Divisors(width, 8));
                    if (heads != 4 || Chance(0.3)) args.Add($"Heads = {heads}");
                    args.Add($"Depth = {(Chance(0.85) ? 1 : 2)}");
                    if (Chance(0.4)) args.Add($"Queries = {Pick(3, 5, 8)}");
                    break;
                }
            }
            return new Shape(new[] { classes, image.H, image.W });
        }

        /// <summary>A random split of n into factors (at least one; n = 1 gives { 1 }).</summary>
        List<int> Factorise(int n)
        {
            var factors = new List<int>();
            while (n > 1)
            {
                var d = Divisors(n).Where(x => x > 1).ToArray();
                int f = Pick(d);
                factors.Add(f);
                n /= f;
            }
            if (factors.Count == 0) factors.Add(1);
            return factors;
        }

        // ---------------------------------------------------------------- the module

        /// <summary>[Use(typeof(Block), Depth = n)]: creates the module at its first use for the current shape (a chain that keeps
        /// the shape may repeat), or places it again where the shape matches.</summary>
        Layer? MakeUse(Scope scope, Shape s)
        {
            if (scope.IsModule) return null;
            if (_module is null)
            {
                var inner = new Scope(isModule: true);
                int[] declared = s.IsSequence && Chance(0.3) ? s.Dims.ToArray() : s.IsMap && Chance(0.5) ? s.Dims.ToArray() : new[] { s.Last };
                inner.Keys.Add("h");
                inner.Edges.Add(new NamedEdge("h", s, false, IsInput: true));
                _module = new ModuleClass { Scope = inner, InputShape = s, DeclaredShape = declared, OutputShape = s };
                Shape? current = s;
                int layers = 1 + _r.Next(3);
                for (int i = 0; i < layers && current is not null; i++) current = AddLayer(inner, current);
                if (current is null) _tracked = false;
                _module.OutputShape = current ?? s;
            }
            else if (!_module.InputShape.SameDims(s)) return null;

            var args = new List<string> { "typeof(Block)" };
            bool keepsShape = _module.OutputShape.SameDims(_module.InputShape);
            if (keepsShape && Chance(0.5)) args.Add($"Depth = {1 + _r.Next(3)}");
            else if (Chance(0.15)) args.Add("Depth = 1");
            return new Layer("Use", args, _module.OutputShape with { });
        }

        // ---------------------------------------------------------------- mistakes

        /// <summary>Replaces this layer with a deliberate error that applies to the current shape, or returns null to try later.</summary>
        Shape? TryMistake(Scope scope, Shape s)
        {
            var options = new List<(string Name, Func<Layer?> Make, string? Name2)>();
            string Int(int v) => v.ToString(CultureInfo.InvariantCulture);
            int last = s.Last;

            options.Add(("negative size", () => Pick(
                new Layer("Linear", new List<string> { Int(-1 - _r.Next(8)) }, null),
                new Layer("FeedForward", new List<string> { "0" }, null),
                new Layer("Linear", new List<string> { "8", "InFeatures = -2" }, null)), null));
            options.Add(("unknown wiring name", () => Pick(
                new Layer("Linear", new List<string> { "8", $"Input = \"{Pick("Nope", "memroy", "Embedd", "X1")}\"" }, null),
                new Layer("Residual", new List<string> { $"\"{Pick("Missing", "Prev", "xx")}\"" }, null)), null));
            options.Add(("rate out of range", () => Pick(
                new Layer("Dropout", new List<string> { Pick("1.0", "1.5", "-0.1") }, null),
                new Layer("FeedForward", new List<string> { "16", "Dropout = 1.0" }, null)), null));
            options.Add(("in-features mismatch", () => new Layer("Linear", new List<string> { "8", $"InFeatures = {last + 1}" }, null), null));
            if (s.IsSequence) options.Add(("embedding of data", () => new Layer("Embedding", new List<string> { "10", Int(last) }, null), null));
            if (!scope.IsModule && _embedding is { } table)
            {
                options.Add(("tied table mismatch", () => new Layer("Linear", new List<string> { Int(table.Dim == last ? table.Vocab + 1 : table.Vocab), $"TiedTo = \"{table.Name}\"" }, null), null));
                var notAnEmbedding = scope.Properties.Where(p => p != table.Name).Select(p => p).Concat(_inputs.Select(i => i.Input.Name)).Where(n => n.Length > 0).ToList();
                if (notAnEmbedding.Count > 0)
                    options.Add(("tied to a non-embedding", () => new Layer("Linear", new List<string> { Int(table.Vocab), $"TiedTo = \"{Pick(notAnEmbedding)}\"" }, null), null));
            }
            options.Add(("reserved name", () => new Layer("Linear", new List<string> { "8" }, null), Pick("Forward", "Parameters", "Training", "Dispose", "_hidden", "s_x", "K1", "OutputShape", "Backward")));
            options.Add(("two layer attributes", () => new Layer("Linear", new List<string> { "8" }, null), "TwoAttributes"));
            options.Add(("property not partial", () => new Layer("Linear", new List<string> { "8" }, null), "NotPartial"));
            options.Add(("wiring cycle", () => new Layer("Linear", new List<string> { "8", "Input = \"SelfRef\"" }, null), "SelfRef"));
            if (scope.Properties.Count > 0)
                options.Add(("duplicate name", () => new Layer("Linear", new List<string> { "8" }, null), Pick(scope.Spelled)));
            if (scope.Keys.Contains("gn") || Chance(0.5))
                options.Add(("snake-case duplicate", () => new Layer("LayerNorm", new List<string>(), null), "GN+Gn"));
            string? likeAnInput = _inputs.Select(i => i.Input.Name).Where(n => n.Length > 0 && char.IsLower(n[0])).Select(n => char.ToUpperInvariant(n[0]) + n[1..]).FirstOrDefault();
            if (likeAnInput is not null) options.Add(("layer named like an input", () => new Layer("LayerNorm", new List<string>(), null), likeAnInput));
            var other = scope.Data.FirstOrDefault(e => !e.Shape.SameDims(s));
            if (other is not null)
                options.Add(("residual shape mismatch", () => new Layer("Residual", new List<string> { $"\"{other.Name}\"" }, null), null));
            if (_masks.Count > 0)
            {
                string mask = _masks[0].Name;
                options.Add(("mask used as data", () => Pick(
                    new Layer("Linear", new List<string> { "8", $"Input = \"{mask}\"" }, null),
                    new Layer("Residual", new List<string> { $"\"{mask}\"" }, null)), null));
            }
            options.Add(("module cycle", () => new Layer("Use", new List<string> { "typeof(Block)" }, null), "ModuleCycle"));
            options.Add(("not a module", () => new Layer("Use", new List<string> { Pick("typeof(string)", "typeof(M)") }, null), null));

            if (s.IsSequence)
            {
                var nonDivisors = Enumerable.Range(2, 7).Where(h => last % h != 0).ToArray();
                if (nonDivisors.Length > 0)
                    options.Add(("heads not dividing width", () => Pick(
                        new Layer("MultiHeadAttention", new List<string> { Int(Pick(nonDivisors)) }, null),
                        new Layer("TransformerEncoder", new List<string> { "1", Int(Pick(nonDivisors)) }, null),
                        new Layer("TransformerEncoderLayer", new List<string> { Int(Pick(nonDivisors)), "FeedForward = 16" }, null)), null));
                var heads = Divisors(last, 8).Where(h => h > 1).ToArray();
                if (heads.Length > 0)
                {
                    int h = Pick(heads);
                    int kv = Enumerable.Range(2, 8).First(k => h % k != 0);
                    options.Add(("kv heads not dividing heads", () => new Layer("MultiHeadAttention", new List<string> { Int(h), $"KvHeads = {kv}" }, null), null));
                    options.Add(("rotary positions on an odd head width", () => new Layer("MultiHeadAttention",
                        new List<string> { Int(h), "KeyDim = 5", "Positions = RelativePositions.Rotary" }, null), null));
                    options.Add(("drop path out of range", () => new Layer("TransformerEncoder", new List<string> { "2", Int(h), "DropPath = 1.0" }, null), null));
                    options.Add(("causal linformer", () => new Layer("LinformerAttention", new List<string> { Int(h), "1", "Causal = true" }, null), null));
                    if (s.Grid is { Lead: 0 } odd && (odd.H % 2 != 0 || odd.W % 2 != 0) && odd.H * odd.W == s.Dims[0])
                        options.Add(("patch merging of an odd grid", () => new Layer("PatchMerging", odd.H == odd.W ? new List<string>()
                            : new List<string> { $"GridHeight = {odd.H}", $"GridWidth = {odd.W}" }, null), null));
                    options.Add(("reformer with odd buckets", () => new Layer("ReformerAttention", new List<string> { Int(h), "1", "Buckets = 3" }, null), null));
                    options.Add(("reformer with relative positions", () => new Layer("ReformerAttention", new List<string> { Int(h), "1", "Positions = RelativePositions.Rotary" }, null), null));
                    options.Add(("performer with a score bias", () => new Layer("PerformerAttention", new List<string> { Int(h), "8", "Positions = RelativePositions.Alibi" }, null), null));
                    if (s.IsSequence && s.Dims[0] > 2)
                    {
                        int tokens = s.Dims[0], block = Enumerable.Range(2, tokens).First(d => tokens % d != 0);
                        options.Add(("sparse block not dividing the tokens", () => new Layer("SparseAttention", new List<string> { Int(h), Int(block) }, null), null));
                        options.Add(("reformer chunk not dividing the tokens", () => new Layer("ReformerAttention", new List<string> { Int(h), Int(block) }, null), null));
                    }
                    options.Add(("linformer longer than the tokens", () => new Layer("LinformerAttention", new List<string> { Int(h), Int(s.Dims[0] + 1) }, null), null));
                    options.Add(("transformer without a target", () => new Layer("Transformer", new List<string> { Int(h), "EncoderLayers = 1", "DecoderLayers = 1" }, null), null));
                    options.Add(("decoder without a memory", () => Pick(new Layer("TransformerDecoderLayer", new List<string> { Int(h) }, null),
                        new Layer("TransformerDecoder", new List<string> { "1", Int(h) }, null)), null));
                    options.Add(("data used as mask", () => new Layer("MultiHeadAttention", new List<string> { Int(h), $"KeyPaddingMask = \"{scope.Edges[0].Name}\"" }, null), null));
                    var sequences = scope.Data.Where(e => e.Shape.IsSequence).ToList();
                    var keys = sequences.FirstOrDefault();
                    var values = sequences.FirstOrDefault(e => keys is not null && e.Shape.Dims[0] != keys.Shape.Dims[0]);
                    if (keys is not null && values is not null)
                        options.Add(("key and value lengths differ", () => new Layer("MultiHeadAttention", new List<string> { Int(h), $"Key = \"{keys.Name}\"", $"Value = \"{values.Name}\"" }, null), null));
                    var wrongMask = _masks.FirstOrDefault(m => m.Length != s.Dims[0]);
                    if (wrongMask.Name is not null)
                        options.Add(("mask length mismatch", () => new Layer("TransformerEncoderLayer", new List<string> { Int(h), $"KeyPaddingMask = \"{wrongMask.Name}\"" }, null), null));
                }
                options.Add(("rank mismatch", () => Pick(
                    new Layer("Conv2d", new List<string> { "8" }, null),
                    new Layer("PatchEmbedding", new List<string> { "2", "16" }, null),
                    new Layer("MaxPool", new List<string> { "2" }, null)), null));
                options.Add(("negative depth", () => new Layer("TransformerEncoder", new List<string> { Pick("0", "-1"), Int(heads.FirstOrDefault(1)) }, null), null));
                if (IsPrime(s.Dims[0]) && s.Dims[0] > 3)
                    options.Add(("tokens do not form a grid", () => new Layer("TokensToMap", new List<string>(), null), null));
                options.Add(("grid of the wrong size", () => new Layer("TokensToMap", new List<string> { $"GridHeight = {s.Dims[0] + 1}", "GridWidth = 1" }, null), null));
                if (s.Last % 4 == 0)
                    options.Add(("sinusoidal grid does not cover the tokens", () => new Layer("SinusoidalPositions", new List<string> { $"GridHeight = {s.Dims[0] + 2}", "GridWidth = 1" }, null), null));
                if (_image is { } image && ImageGrid(s.Dims[0], s.Grid?.Lead ?? 0) is { } grid)
                    options.Add(("upsampling misses the image", () => new Layer("SetrDecoder", new List<string> { "3", $"Skip = {s.Grid?.Lead ?? 0}", "Channels = 4", $"Factors = new[] {{ {2 * image.H / grid.H} }}" }, null), null));
                if (_image is not null && ImageGrid(s.Dims[0], s.Grid?.Lead ?? 0) is not null)
                    options.Add(("mask tokens mismatch", () => new Layer("MaskTransformer", new List<string> { "3", "Heads = 1", "Depth = 1", $"Skip = {s.Grid?.Lead ?? 0}", "MaskTokens = 4" }, null), null));
            }
            if (s.IsMap)
            {
                options.Add(("even spatial-attention kernel", () => new Layer("SpatialAttention", new List<string> { $"Kernel = {Pick(2, 4, 6)}" }, null), null));
                var bad = Enumerable.Range(3, 14).Where(p => s.Dims[1] % p != 0 || s.Dims[2] % p != 0).ToArray();
                options.Add(("patch not dividing the image", () => new Layer("PatchEmbedding", new List<string> { Int(Pick(bad)), "16" }, null), null));
                var groups = Enumerable.Range(2, 7).Where(g => s.Dims[0] % g != 0).ToArray();
                if (groups.Length > 0)
                {
                    options.Add(("groups not dividing channels", () => new Layer("GroupNorm", new List<string> { Int(Pick(groups)) }, null), null));
                    options.Add(("reduction not dividing channels", () => new Layer(Pick("SqueezeExcitation", "CoordinateAttention", "NonLocal"), new List<string> { $"Reduction = {Pick(groups)}" }, null), null));
                }
                int side = Math.Min(s.Dims[1], s.Dims[2]);
                options.Add(("window larger than the map", () => Pick(
                    new Layer("MaxPool", new List<string> { Int(side + 1) }, null),
                    new Layer("Conv2d", new List<string> { "4", Int(side + 1), "Padding = 0" }, null)), null));
                options.Add(("negative convolution size", () => Pick(
                    new Layer("Conv2d", new List<string> { "-4" }, null),
                    new Layer("Conv2d", new List<string> { "4", "3", "Stride = 0" }, null),
                    new Layer("Conv2d", new List<string> { "4", "3", "Padding = -2" }, null),
                    new Layer("Upsample", new List<string> { "0" }, null),
                    new Layer("GroupNorm", new List<string> { "0" }, null)), null));
                options.Add(("rank mismatch", () => Pick(
                    new Layer("MultiHeadAttention", new List<string> { "1" }, null),
                    new Layer("ClassToken", new List<string>(), null),
                    new Layer("MeanPool", new List<string>(), null)), null));
                if (_image is { } image && (s.Dims[1] != image.H || s.Dims[2] != image.W))
                    options.Add(("pixel logits at the wrong resolution", () => new Layer("PixelClassifier", new List<string> { "3" }, null), null));
            }
            if (s.Rank == 1)
                options.Add(("rank mismatch", () => new Layer(Pick("MeanPool", "LearnedPositions", "BatchNorm", "TokensToMap"), new List<string>(), null), null));

            var (mistake, make, special) = Pick(options);
            if (special == "ModuleCycle")
            {
                // The module places itself: its class gets [Use(typeof(Block))] and the model places the module.
                _module ??= NewEmptyModule(s);
                _module.SelfUse = true;
                Emit(_model, new Layer("Use", new List<string> { "typeof(Block)" }, null), NameFor(_model, "Use"));
            }
            else if (make() is { } layer)
            {
                string name = special switch
                {
                    null or "TwoAttributes" or "NotPartial" => NameFor(scope, layer.Kind),
                    "GN+Gn" => scope.Keys.Contains("gn") ? Pick("GN", "gn") : "Gn",
                    _ => special,
                };
                if (special == "GN+Gn" && name == "Gn")
                {
                    // Both spellings: Gn now, GN right after it.
                    Emit(scope, new Layer("LayerNorm", new List<string>(), s), "Gn");
                    scope.Keys.Add("gn");
                    name = "GN";
                }
                if (special == "TwoAttributes") scope.Lines.Add($"    [Linear(8), {Pick("Gelu", "LayerNorm", "Dropout(0.1)")}] public partial Module {name} {{ get; }}");
                else if (special == "NotPartial") scope.Lines.Add($"    [Linear(8)] public Module {name} {{ get; }} = null!;");
                else Emit(scope, layer with { Out = null }, name);
                scope.Keys.Add(Fold(name));
            }
            _mistake = mistake;
            return s; // continue the chain as though it fit: the model is rejected anyway
        }

        ModuleClass NewEmptyModule(Shape s)
        {
            var inner = new Scope(isModule: true);
            inner.Keys.Add("h");
            inner.Edges.Add(new NamedEdge("h", s, false, IsInput: true));
            inner.Lines.Add("    [LayerNorm] public partial Module Norm { get; }");
            return new ModuleClass { Scope = inner, InputShape = s, DeclaredShape = new[] { s.Last }, OutputShape = s };
        }

        static bool IsPrime(int n) => n >= 2 && Enumerable.Range(2, Math.Max(0, (int)Math.Sqrt(n) - 1)).All(d => n % d != 0);

        // ---------------------------------------------------------------- text

        string Render()
        {
            var sb = new StringBuilder();
            sb.Append("using ModelGen;\n\nnamespace Fuzz;\n\n");
            if (_module is { } module)
            {
                sb.Append("[Module]\n");
                sb.Append($"[Input(\"h\", {string.Join(", ", module.DeclaredShape)})]\n");
                foreach (var line in module.InputLines.Distinct()) sb.Append(line).Append('\n');
                sb.Append("public partial class Block\n{\n");
                foreach (var line in module.Scope.Lines) sb.Append(Qualify(line, module.Scope)).Append('\n');
                if (module.SelfUse) sb.Append("    [Use(typeof(Block))] public partial Module Again { get; }\n");
                sb.Append("}\n\n");
            }
            sb.Append("[Model]\n");
            if (_modelMistake == "no data input")
            {
                foreach (var (input, line) in _inputs.Where(i => i.Input.IsMask)) sb.Append(line).Append('\n');
            }
            else foreach (var (_, line) in _inputs) sb.Append(line).Append('\n');
            sb.Append(_modelMistake == "class not partial" ? "public class M\n{\n" : "public partial class M\n{\n");
            foreach (var line in _model.Lines) sb.Append(Qualify(line, _model)).Append('\n');
            sb.Append("}\n");
            return sb.ToString();
        }

        /// <summary>Resolves the enum markers: <c>Pool.Mean</c>, or <c>global::ModelGen.Pool.Mean</c> beside a property named Pool.</summary>
        static string Qualify(string line, Scope scope)
        {
            line = line.Replace(QualifierMarker.ToString(), scope.Properties.Contains("ModelGen") ? "global::ModelGen." : "ModelGen.", StringComparison.Ordinal);
            if (!line.Contains(EnumMarker, StringComparison.Ordinal)) return line;
            var sb = new StringBuilder();
            for (int i = 0; i < line.Length; i++)
            {
                if (line[i] != EnumMarker) { sb.Append(line[i]); continue; }
                int dot = line.IndexOf('.', i);
                string type = line.Substring(i + 1, dot - i - 1);
                sb.Append(scope.Properties.Contains(type) || scope.Properties.Contains("ModelGen") ? "global::ModelGen." + type : type);
                i = dot - 1;
            }
            return sb.ToString();
        }
    }
}
