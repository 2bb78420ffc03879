using System.Linq;
using ModelGen.Generators.Helpers;

namespace ModelGen.Generators.Model;

/// <summary>A [Model] or [Module] class as parsed: only strings, numbers and equatable arrays, so the step caches.</summary>
public sealed record ModelSpec(
    string? Namespace,
    string ClassName,
    string FullName,
    ImmutableEquatableArray<string> ContainingTypes,
    bool IsModule,
    bool IsPartial,
    ImmutableEquatableArray<InputSpec> Inputs,
    ImmutableEquatableArray<LayerSpec> Layers,
    LocationSpec Location);

/// <summary>An [Input]: its per-sample shape (the batch is chosen at run time), where each dimension is written, and whether every
/// argument compiled (an argument with an error of the user's own is left to the compiler to report).</summary>
public sealed record InputSpec(string Name, ImmutableEquatableArray<int> Shape, int Kind, LocationSpec Location,
    ImmutableEquatableArray<LocationSpec> DimensionLocations, LocationSpec NameLocation, bool Resolved = true)
{
    /// <summary>Where dimension <paramref name="index"/> is written, else the attribute.</summary>
    public LocationSpec DimensionAt(int index) => index < DimensionLocations.Count ? DimensionLocations[index] : Location;

    public const int TensorKind = 0;
    public const int MaskKind = 1;
    public const int AttentionMaskKind = 2;
    public const int AttentionBiasKind = 3;
    public const int TokensKind = 4;

    /// <summary>What an input of this kind is, as messages name it.</summary>
    public static string Role(int kind) => kind switch
    {
        MaskKind => "a key padding mask",
        AttentionMaskKind => "an attention mask",
        AttentionBiasKind => "an attention bias",
        TokensKind => "token ids",
        _ => "data",
    };
}

/// <summary>A layer property: its attribute (short name and metadata name) and arguments, and for [Use] the module's own spec.
/// The attribute is read as its real type when shapes are checked (<see cref="AttributeReader"/>); <see cref="Resolved"/> is false
/// when an argument does not compile, which the compiler reports.</summary>
public sealed record LayerSpec(
    string Property,
    string Modifiers,
    bool IsValidProperty,
    string Kind,
    string AttributeName,
    int AttributeCount,
    ImmutableEquatableArray<ArgSpec> Args,
    LocationSpec Location,
    ModelSpec? Module,
    string? ModuleError,
    bool Resolved = true)
{
    public ArgSpec? Arg(string name)
    {
        foreach (var a in Args) if (a.Name == name) return a;
        return null;
    }

    /// <summary>Where to point a diagnostic about an argument: the argument itself, else the attribute.</summary>
    public LocationSpec At(string name) => Arg(name)?.Location ?? Location;
}

/// <summary>One attribute argument: its name (a constructor parameter's, capitalized, or a property's), its value as an invariant
/// string (null for null), its position among the constructor's parameters (−1 for a named argument), and where it is written.</summary>
public sealed record ArgSpec(string Name, string? Value, LocationSpec Location, int Position = -1);

/// <summary>What Lower and Emit need of a model's declaration: names and properties, no locations. A model moved in its file (a
/// comment added above it) keeps an equal header, so every step after shape checking stays cached; diagnostics, which do need
/// locations, leave through their own output.</summary>
public sealed record ModelHeader(
    string? Namespace,
    string ClassName,
    string FullName,
    ImmutableEquatableArray<string> ContainingTypes,
    bool IsModule,
    bool IsPartial,
    ImmutableEquatableArray<LayerHeader> Layers)
{
    public static ModelHeader From(ModelSpec spec) => new(spec.Namespace, spec.ClassName, spec.FullName, spec.ContainingTypes, spec.IsModule, spec.IsPartial,
        spec.Layers.Where(l => l.IsValidProperty).Select(l => new LayerHeader(l.Property, l.Modifiers, l.Kind)).ToImmutableEquatableArray());
}

/// <summary>A layer property as the generated class implements it.</summary>
public sealed record LayerHeader(string Property, string Modifiers, string Kind);
