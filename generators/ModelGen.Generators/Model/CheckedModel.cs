using ModelGen.Generators.Helpers;

namespace ModelGen.Generators.Model;

/// <summary>A tensor flowing between layers: a C# buffer name and its per-sample shape.</summary>
public sealed record Edge(string Name, ImmutableEquatableArray<int> Shape, bool IsMask, bool IsInput, int Kind = InputSpec.TensorKind)
{
    /// <summary>What the edge carries, as messages name it ("data", "a key padding mask", ...).</summary>
    public string Role => InputSpec.Role(Kind);

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

/// <summary>A layer after shape checking: its kind's typed configuration (every size resolved, every wire bound to an edge's buffer),
/// the buffer it reads and the buffer it writes. Modules are inlined.</summary>
public sealed record CheckedLayer(string Path, string Kind, Layers.LayerConfig Config, string Input, string Output);

/// <summary>A user-facing layer property (top level of a model) and the state_dict prefix of its parameters.</summary>
public sealed record PropertySpec(string Name, string Modifiers, string Kind, string Prefix);

/// <summary>The output of the shape stage: the checked model (location-free, what Lower reads) and the diagnostics (reported
/// through their own output).</summary>
public sealed record CheckResult(CheckedModel Model, ImmutableEquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>A model after shape checking. <see cref="HasErrors"/>: a diagnostic was reported, nothing is generated but its properties;
/// <see cref="Incomplete"/>: an argument does not compile, which the compiler reports.</summary>
public sealed record CheckedModel(
    ModelHeader Header,
    ImmutableEquatableArray<Edge> Edges,
    ImmutableEquatableArray<CheckedLayer> Layers,
    ImmutableEquatableArray<PropertySpec> Properties,
    string Output,
    bool HasErrors,
    bool Incomplete = false)
{
    public Edge EdgeNamed(string name)
    {
        foreach (var e in Edges) if (e.Name == name) return e;
        throw new System.InvalidOperationException($"no edge '{name}'");
    }
}
