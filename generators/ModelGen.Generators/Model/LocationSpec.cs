using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace ModelGen.Generators.Model;

/// <summary>A source location as plain values, so it can sit in a cached spec; it becomes a <see cref="Location"/> only when reported.</summary>
public sealed record LocationSpec(string FilePath, int Start, int Length, int StartLine, int StartColumn, int EndLine, int EndColumn)
{
    public static readonly LocationSpec None = new(string.Empty, 0, 0, 0, 0, 0, 0);

    public static LocationSpec From(Location? location)
    {
        if (location is null || location.SourceTree is null) return None;
        var span = location.GetLineSpan();
        return new LocationSpec(location.SourceTree.FilePath, location.SourceSpan.Start, location.SourceSpan.Length,
            span.StartLinePosition.Line, span.StartLinePosition.Character, span.EndLinePosition.Line, span.EndLinePosition.Character);
    }

    public Location ToLocation() => FilePath.Length == 0
        ? Location.None
        : Location.Create(FilePath, new TextSpan(Start, Length),
            new LinePositionSpan(new LinePosition(StartLine, StartColumn), new LinePosition(EndLine, EndColumn)));
}

/// <summary>A diagnostic to report: descriptor id, location and message arguments, all equatable.</summary>
public sealed record DiagnosticInfo(string Id, LocationSpec Location, Helpers.ImmutableEquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationSpec location, params object[] arguments)
    {
        var args = new string[arguments.Length];
        for (int i = 0; i < arguments.Length; i++) args[i] = Convert.ToString(arguments[i], System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
        return new DiagnosticInfo(descriptor.Id, location, new Helpers.ImmutableEquatableArray<string>(args));
    }

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(DiagnosticDescriptors.ById(Id), Location.ToLocation(), System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Cast<object>(Arguments)));
}
