using System.Globalization;
using ModelGen.Generators.Helpers;

namespace ModelGen.Generators.Model;

/// <summary>A tensor flowing between layers: a C# buffer name and its per-sample shape.</summary>
public sealed record Edge(string Name, ImmutableEquatableArray<int> Shape, bool IsMask, bool IsInput)
{
    public int Last => Shape[Shape.Count - 1];

    public long PerSample
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>(B, 16, 64)</summary>
    public string Display => Shapes.Format(Shape, batch: true);
}

/// <summary>A resolved number or flag of a checked layer.</summary>
public sealed record NamedValue(string Name, string Value);

/// <summary>A layer after shape checking: every size resolved, every wire bound to an edge. Modules are inlined.</summary>
public sealed record CheckedLayer(
    string Path,
    string Kind,
    ImmutableEquatableArray<NamedValue> Config,
    ImmutableEquatableArray<NamedValue> Wires,
    string Output)
{
    public int Int(string name)
    {
        foreach (var v in Config) if (v.Name == name) return int.Parse(v.Value, CultureInfo.InvariantCulture);
        throw new System.InvalidOperationException($"layer '{Path}' has no resolved '{name}'");
    }

    public double Double(string name)
    {
        foreach (var v in Config) if (v.Name == name) return double.Parse(v.Value, CultureInfo.InvariantCulture);
        throw new System.InvalidOperationException($"layer '{Path}' has no resolved '{name}'");
    }

    public bool Bool(string name)
    {
        foreach (var v in Config) if (v.Name == name) return v.Value == "true";
        throw new System.InvalidOperationException($"layer '{Path}' has no resolved '{name}'");
    }

    public string Text(string name)
    {
        foreach (var v in Config) if (v.Name == name) return v.Value;
        throw new System.InvalidOperationException($"layer '{Path}' has no resolved '{name}'");
    }

    public string? Wire(string name)
    {
        foreach (var v in Wires) if (v.Name == name) return v.Value;
        return null;
    }
}

/// <summary>A user-facing layer property (top level of a model) and the state_dict prefix of its parameters.</summary>
public sealed record PropertySpec(string Name, string Modifiers, string Kind, string Prefix);

/// <summary>The output of the shape stage.</summary>
public sealed record CheckedModel(
    ModelSpec Spec,
    ImmutableEquatableArray<Edge> Edges,
    ImmutableEquatableArray<CheckedLayer> Layers,
    ImmutableEquatableArray<PropertySpec> Properties,
    string Output,
    ImmutableEquatableArray<DiagnosticInfo> Diagnostics)
{
    public Edge EdgeNamed(string name)
    {
        foreach (var e in Edges) if (e.Name == name) return e;
        throw new System.InvalidOperationException($"no edge '{name}'");
    }
}
