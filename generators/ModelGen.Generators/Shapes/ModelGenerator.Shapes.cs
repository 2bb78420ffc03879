using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Layers;
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
    /// <summary>Check shapes: infer every edge's static shape, bind every wire, resolve every size; report what does not fit.
    /// Each layer kind's own rule lives in Layers/ and is found through <see cref="LayerRegistry"/>.</summary>
    internal static CheckResult CheckShapes(ModelSpec spec)
    {
        var checker = new ShapeChecker(spec);
        try
        {
            // A parse that failed carries its exception in place of the class name (SafeParse).
            if (spec.FullName.StartsWith("!", StringComparison.Ordinal))
                checker.Diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, spec.Location, spec.ClassName, spec.FullName.Substring(1)));
            else checker.Run();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            checker.Diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, spec.Location, spec.ClassName, e.GetType().Name + ": " + e.Message));
        }
        return checker.Result();
    }

    internal sealed class ShapeChecker
    {
        readonly List<Edge> _edges = new();
        readonly List<CheckedLayer> _layers = new();
        readonly List<PropertySpec> _properties = new();
        readonly UniqueNames _buffers = new(Array.Empty<string>());
        public readonly List<DiagnosticInfo> Diagnostics = new();
        string _output = "";
        bool _incomplete;

        public ShapeChecker(ModelSpec spec) => Model = spec;

        /// <summary>The model being checked (the top level, not a module inlined into it).</summary>
        public ModelSpec Model { get; }

        /// <summary>The checked model and its diagnostics; a model with an argument that does not compile reports nothing of its own.</summary>
        public CheckResult Result()
        {
            var diagnostics = _incomplete ? ImmutableEquatableArray<DiagnosticInfo>.Empty : Diagnostics.ToImmutableEquatableArray();
            var model = new CheckedModel(ModelHeader.From(Model), _edges.ToImmutableEquatableArray(), _layers.ToImmutableEquatableArray(),
                _properties.ToImmutableEquatableArray(), _incomplete ? "" : _output, HasErrors: Diagnostics.Count > 0, _incomplete);
            return new CheckResult(model, diagnostics);
        }

        void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor d, LocationSpec at, params object[] args) =>
            Diagnostics.Add(DiagnosticInfo.Create(d, at, args));

        /// <summary>Members the generated class declares itself: a layer property of the same name would not compile.</summary>
        static readonly HashSet<string> s_generatedMembers = new(StringComparer.Ordinal)
        {
            "OutputShape", "Summary", "Parameters", "Device", "Training", "Forward", "Backward", "InputGradient", "Intermediate", "Dispose",
            "Arena", "Buf", "ForwardCpu", "BackwardCpu", "ForwardDevice", "BackwardDevice", "StartDecoding", "DecodingSession",
        };

        public void Run()
        {
            if (!Model.IsPartial) Report(DiagnosticDescriptors.ClassNotPartial, Model.Location, Model.ClassName);
            if (!Resolves(Model)) { _incomplete = true; return; }
            if (Model.Layers.Count == 0) { Report(DiagnosticDescriptors.NoLayers, Model.Location, Model.ClassName); return; }

            var scope = new Scope(Model, prefix: "");
            foreach (var input in Model.Inputs)
            {
                if (!Microsoft.CodeAnalysis.CSharp.SyntaxFacts.IsValidIdentifier(input.Name))
                {
                    Report(DiagnosticDescriptors.InputNameNotIdentifier, input.NameLocation, input.Name);
                    return;
                }
                if (input.Shape.Count == 0)
                {
                    Report(DiagnosticDescriptors.NonPositiveSize, input.Location, "Shape", $"input '{input.Name}'", "()", "at least one dimension");
                    return;
                }
                for (int i = 0; i < input.Shape.Count; i++)
                {
                    if (input.Shape[i] > 0) continue;
                    Report(DiagnosticDescriptors.NonPositiveSize, input.DimensionAt(i), $"Dimension {i + 1}", $"input '{input.Name}'", input.Shape[i], "positive");
                    return;
                }
                if (input.Kind is < InputSpec.TensorKind or > InputSpec.TokensKind)
                {
                    Report(DiagnosticDescriptors.NonPositiveSize, input.Location, "Kind", $"input '{input.Name}'", input.Kind, "one of InputKind's values");
                    return;
                }
                if (input.Kind == InputSpec.MaskKind && input.Shape.Count != 1)
                {
                    Report(DiagnosticDescriptors.RankMismatch, input.Location, input.Name, "a key padding mask of shape (keys)", input.Name, Shapes.Format(input.Shape, true));
                    return;
                }
                if (input.Kind == InputSpec.TokensKind && input.Shape.Count != 1)
                {
                    Report(DiagnosticDescriptors.RankMismatch, input.Location, input.Name, "token ids of shape (tokens)", input.Name, Shapes.Format(input.Shape, true));
                    return;
                }
                if (input.Kind is InputSpec.AttentionMaskKind or InputSpec.AttentionBiasKind && input.Shape.Count is not (2 or 3))
                {
                    Report(DiagnosticDescriptors.RankMismatch, input.Location, input.Name, InputSpec.Role(input.Kind) + " of shape (queries, keys) or (heads, queries, keys)",
                        input.Name, Shapes.Format(input.Shape, true));
                    return;
                }
                if (!scope.Claim(input.Name, input.Name, out var taken))
                {
                    Report(DiagnosticDescriptors.DuplicateName, input.NameLocation, input.Name, taken);
                    return;
                }
                var edge = new Edge(_buffers.Take("in_" + input.Name), input.Shape, input.Kind != InputSpec.TensorKind, IsInput: true, input.Kind);
                _edges.Add(edge);
                scope.Names[input.Name] = edge;
            }
            var first = Model.Inputs.FirstOrDefault(i => i.Kind is InputSpec.TensorKind or InputSpec.TokensKind);
            if (first is null)
            {
                // Each input the model has instead, by what it carries: a mask of any kind is no data.
                string masks = string.Join("; ", Model.Inputs.Select(i => $"'{i.Name}', {InputSpec.Role(i.Kind)}"));
                Report(DiagnosticDescriptors.NoInput, Model.Location, Model.ClassName, masks.Length == 0 ? "" : $" (only {masks})");
                return;
            }
            var last = scope.Names[first.Name];
            if (!CheckLayers(scope, Model, ref last, topLevel: true)) return;
            _output = last.Name;
        }

        /// <summary>False when an argument anywhere in the model (or a module it uses) does not compile: the compiler reports it.</summary>
        static bool Resolves(ModelSpec spec) =>
            spec.Inputs.All(i => i.Resolved) && spec.Layers.All(l => l.Resolved && (l.Module is null || Resolves(l.Module)));

        internal sealed class Scope
        {
            readonly Dictionary<string, string> _paths = new(StringComparer.Ordinal);

            public Scope(ModelSpec spec, string prefix)
            {
                Spec = spec;
                Prefix = prefix;
            }

            public ModelSpec Spec { get; }

            public string Prefix { get; }

            public Dictionary<string, Edge> Names { get; } = new(StringComparer.Ordinal);

            /// <summary>Takes a name and its path segment (snake_case for layers); false, saying what holds it, when the segment is taken.</summary>
            public bool Claim(string name, string segment, out string takenBy)
            {
                if (_paths.TryGetValue(segment, out var other))
                {
                    takenBy = other == name ? "an earlier input or layer" : $"'{other}' (both are '{Prefix}{segment}' in parameter and activation names)";
                    return false;
                }
                _paths[segment] = name;
                takenBy = "";
                return true;
            }
        }

        bool CheckLayers(Scope scope, ModelSpec spec, ref Edge current, bool topLevel)
        {
            var declared = new HashSet<string>(spec.Layers.Select(l => l.Property), StringComparer.Ordinal);
            foreach (var layer in spec.Layers)
            {
                if (!layer.IsValidProperty) { Report(DiagnosticDescriptors.LayerPropertyInvalid, layer.Location, layer.Property); return false; }
                if (layer.AttributeCount > 1) { Report(DiagnosticDescriptors.MultipleLayerAttributes, layer.Location, layer.Property, layer.AttributeCount); return false; }
                if (topLevel && !spec.IsModule && IsGeneratedMember(layer.Property)) { Report(DiagnosticDescriptors.ReservedLayerName, layer.Location, layer.Property); return false; }
                string segment = Shapes.SnakeCase(layer.Property);
                if (!scope.Claim(layer.Property, segment, out var taken)) { Report(DiagnosticDescriptors.DuplicateName, layer.Location, layer.Property, taken); return false; }

                string path = scope.Prefix + segment;
                var rule = LayerRegistry.Find(layer.AttributeName) ?? throw new InvalidOperationException($"no rule for [{layer.Kind}]");
                if (AttributeReader.Read(rule.Attribute, layer) is not { } attribute) { _incomplete = true; return false; }
                var input = attribute.Input is { } inputName ? Resolve(scope, declared, layer, path, "Input", inputName) : current;
                if (input is null) return false;
                bool tokens = input.Kind == InputSpec.TokensKind;
                if (input.IsMask && !(tokens && rule.ReadsTokens))
                {
                    string role = tokens ? "data (token ids are read by an [Embedding] first)" : "data";
                    Report(DiagnosticDescriptors.NotAMask, layer.At("Input"), path, LayerContext.NameOf(input), role, input.Role);
                    return false;
                }
                if (rule.ReadsTokens && !tokens)
                {
                    Report(DiagnosticDescriptors.NotAMask, layer.At("Input"), path, LayerContext.NameOf(input), "token ids", input.Role + " (declare token inputs with Kind = InputKind.Tokens)");
                    return false;
                }

                Edge? output = attribute is UseAttribute use
                    ? Use(scope, layer, use, path, input)
                    : rule.Check(attribute, new LayerContext(this, scope, declared, layer, path, input));
                if (output is null) return false;
                if (topLevel) _properties.Add(new PropertySpec(layer.Property, layer.Modifiers, layer.Kind, path));
                scope.Names[layer.Property] = output;
                current = output;
            }
            return true;
        }

        /// <summary>Names of the generated class's own members, and the prefixes of its fields (_x, s_x, K12F0_x).</summary>
        static bool IsGeneratedMember(string name) =>
            s_generatedMembers.Contains(name) || name.StartsWith("_", StringComparison.Ordinal) || name.StartsWith("s_", StringComparison.Ordinal)
            || (name.Length > 1 && name[0] == 'K' && char.IsDigit(name[1]));

        /// <summary>An edge by the name the user wrote (an input's name or a layer's property). Messages about wiring name the reading
        /// layer by its property too, as the "known" list does; inside a module they add the layer's path.</summary>
        internal Edge? Resolve(Scope scope, HashSet<string> declared, LayerSpec layer, string path, string argument, string name)
        {
            if (scope.Names.TryGetValue(name, out var edge)) return edge;
            string reader = scope.Prefix.Length == 0 ? $"'{layer.Property}'" : $"'{layer.Property}' (at '{path}')";
            if (declared.Contains(name))
            {
                string when = name == layer.Property ? "by this layer itself" : "by a layer declared after it";
                Report(DiagnosticDescriptors.WiringCycle, layer.At(argument), reader, name, when);
                return null;
            }
            var known = string.Join(", ", scope.Names.Keys.Select(k => "'" + k + "'"));
            Report(DiagnosticDescriptors.UnknownWiring, layer.At(argument), reader, name, scope.Spec.ClassName, known.Length == 0 ? "none" : known);
            return null;
        }

        internal CheckedLayer? LayerWriting(string buffer) => _layers.LastOrDefault(l => l.Output == buffer);

        internal Edge Emit(string path, string kind, LayerConfig config, string input, IEnumerable<int> shape)
        {
            var edge = new Edge(_buffers.Take(Shapes.Identifier(path)), shape.ToImmutableEquatableArray(), IsMask: false, IsInput: false);
            _edges.Add(edge);
            _layers.Add(new CheckedLayer(path, kind, config, input, edge.Name));
            return edge;
        }

        Edge? Use(Scope scope, LayerSpec layer, UseAttribute use, string path, Edge input)
        {
            if (layer.ModuleError is { } error)
            {
                if (error.StartsWith("cycle:", StringComparison.Ordinal)) Report(DiagnosticDescriptors.ModuleCycle, layer.At("Module"), error.Substring(6));
                else Report(DiagnosticDescriptors.NotAModule, layer.At("Module"), error.Substring(error.IndexOf(':') + 1));
                return null;
            }
            if (layer.Module is not { } module) { _incomplete = true; return null; }
            if (use.Depth <= 0) { Report(DiagnosticDescriptors.NonPositiveSize, layer.At("Depth"), "Depth", $"layer '{path}'", use.Depth, "positive"); return null; }
            if (module.Layers.Count == 0) { Report(DiagnosticDescriptors.NoLayers, layer.At("Module"), module.ClassName); return null; }
            var first = module.Inputs.FirstOrDefault(i => i.Kind == InputSpec.TensorKind);
            if (first is null) { Report(DiagnosticDescriptors.NoInput, layer.At("Module"), module.ClassName, ""); return null; }
            var current = input;
            for (int i = 0; i < use.Depth; i++)
            {
                // A module's first input gives the trailing dimensions it expects; leading ones come from where it is used. Each copy
                // after the first reads the previous copy's output, so a module that changes the width cannot be repeated.
                bool fits = first.Shape.Count <= current.Shape.Count
                    && first.Shape.Select((d, k) => d == current.Shape[current.Shape.Count - first.Shape.Count + k]).All(b => b);
                if (!fits)
                {
                    string expected = "(B, ..., " + string.Join(", ", first.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";
                    if (i == 0) Report(DiagnosticDescriptors.ShapeMismatch, layer.At("Module"), path, expected, LayerContext.NameOf(input), input.Display);
                    else Report(DiagnosticDescriptors.ShapeMismatch, layer.At("Depth"), $"{path}.{i}", expected, $"{path}.{i - 1}", current.Display);
                    return null;
                }
                var inner = new Scope(module, use.Depth > 1 ? $"{path}.{i}." : path + ".");
                inner.Names[first.Name] = current;
                inner.Claim(first.Name, first.Name, out _);
                foreach (var extra in module.Inputs.Where(x => x != first))
                {
                    if (!scope.Names.TryGetValue(extra.Name, out var outer))
                    {
                        Report(DiagnosticDescriptors.UnknownWiring, layer.At("Module"), $"'{layer.Property}'", extra.Name, scope.Spec.ClassName,
                            string.Join(", ", scope.Names.Keys.Select(k => "'" + k + "'")));
                        return null;
                    }
                    inner.Names[extra.Name] = outer;
                    inner.Claim(extra.Name, extra.Name, out _);
                }
                if (!CheckLayers(inner, module, ref current, topLevel: false)) return null;
            }
            return current;
        }
    }
}
