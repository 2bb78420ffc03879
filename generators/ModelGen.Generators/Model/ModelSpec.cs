using System;
using System.Globalization;
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

/// <summary>An [Input]: its per-sample shape (the batch is chosen at run time).</summary>
public sealed record InputSpec(string Name, ImmutableEquatableArray<int> Shape, int Kind, LocationSpec Location)
{
    public const int TensorKind = 0;
    public const int MaskKind = 1;
}

/// <summary>A layer property: its attribute (by short name) and arguments, and for [Use] the module's own spec.</summary>
public sealed record LayerSpec(
    string Property,
    string Modifiers,
    bool IsValidProperty,
    string Kind,
    int AttributeCount,
    ImmutableEquatableArray<ArgSpec> Args,
    LocationSpec Location,
    ModelSpec? Module,
    string? ModuleError)
{
    public ArgSpec? Arg(string name)
    {
        foreach (var a in Args) if (a.Name == name) return a;
        return null;
    }

    public int Int(string name, int fallback) =>
        Arg(name) is { } a ? int.Parse(a.Value, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) =>
        Arg(name) is { } a ? double.Parse(a.Value, CultureInfo.InvariantCulture) : fallback;

    public bool Bool(string name, bool fallback) => Arg(name) is { } a ? a.Value == "true" : fallback;

    public string? String(string name) => Arg(name)?.Value;

    /// <summary>Where to point a diagnostic about an argument: the argument itself, else the attribute.</summary>
    public LocationSpec At(string name) => Arg(name)?.Location ?? Location;
}

/// <summary>One attribute argument (constructor or named), its value as an invariant string, and where it is written.</summary>
public sealed record ArgSpec(string Name, string Value, LocationSpec Location);
