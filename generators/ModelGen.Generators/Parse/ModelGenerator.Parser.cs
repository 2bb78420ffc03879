using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal const string ModelAttributeName = "ModelGen.ModelAttribute";
    internal const string ModuleAttributeName = "ModelGen.ModuleAttribute";
    const string InputAttributeName = "ModelGen.InputAttribute";
    const string LayerAttributeName = "ModelGen.LayerAttribute";
    const string ModuleTypeName = "ModelGen.Module";

    /// <summary>Parse: a class symbol into a <see cref="ModelSpec"/>. [Use] modules are parsed into the spec recursively.</summary>
    internal static ModelSpec Parse(INamedTypeSymbol type, bool isModule, CancellationToken ct) =>
        Parse(type, isModule, ImmutableStack(type), ct);

    static List<string> ImmutableStack(INamedTypeSymbol type) => new() { type.ToDisplayString() };

    static ModelSpec Parse(INamedTypeSymbol type, bool isModule, List<string> useStack, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var syntax = type.DeclaringSyntaxReferences.Select(r => r.GetSyntax(ct)).OfType<ClassDeclarationSyntax>().ToArray();
        bool isPartial = syntax.Length > 0 && syntax.All(s => s.Modifiers.Any(SyntaxKind.PartialKeyword));
        var location = LocationSpec.From(syntax.FirstOrDefault()?.Identifier.GetLocation() ?? type.Locations.FirstOrDefault());

        var inputs = new List<InputSpec>();
        foreach (var attr in type.GetAttributes())
        {
            if (attr.AttributeClass?.ToDisplayString() != InputAttributeName) continue;
            var args = attr.ConstructorArguments;
            string name = args.Length > 0 ? args[0].Value as string ?? "" : "";
            var shape = args.Length > 1 && args[1].Kind == TypedConstantKind.Array
                ? args[1].Values.Select(v => v.Value is int i ? i : 0).ToArray()
                : Array.Empty<int>();
            var kindArg = attr.NamedArguments.FirstOrDefault(n => n.Key == "Kind").Value;
            int kind = kindArg.Value is int k ? k : 0;
            bool resolved = attr.AttributeConstructor is not null && args.All(Compiles) && (kindArg.IsNull || Compiles(kindArg));
            var attrSyntax = attr.ApplicationSyntaxReference?.GetSyntax(ct) as AttributeSyntax;
            var positional = attrSyntax?.ArgumentList?.Arguments.Where(a => a.NameEquals is null).ToArray() ?? Array.Empty<AttributeArgumentSyntax>();
            var attrLocation = LocationOf(attr, ct);
            // [Input("x", 12, 32)] writes one argument per dimension; [Input("x", new[] { 12, 32 })] one for them all.
            LocationSpec DimensionAt(int i) =>
                positional.Length == shape.Length + 1 ? LocationSpec.From(positional[i + 1].GetLocation())
                : positional.Length == 2 ? LocationSpec.From(positional[1].GetLocation())
                : attrLocation;
            var dimensions = Enumerable.Range(0, shape.Length).Select(DimensionAt).ToImmutableEquatableArray();
            var nameLocation = positional.Length > 0 ? LocationSpec.From(positional[0].GetLocation()) : attrLocation;
            inputs.Add(new InputSpec(name, shape.ToImmutableEquatableArray(), kind, attrLocation, dimensions, nameLocation, resolved));
        }

        var layers = new List<LayerSpec>();
        // Declaration order is data flow: members in source order (partial declarations concatenated in syntax order).
        foreach (var member in type.GetMembers().OfType<IPropertySymbol>().OrderBy(p => p.Locations.FirstOrDefault()?.SourceTree?.FilePath, StringComparer.Ordinal).ThenBy(p => p.Locations.FirstOrDefault()?.SourceSpan.Start ?? 0))
        {
            var layerAttributes = member.GetAttributes().Where(a => IsLayerAttribute(a.AttributeClass)).ToArray();
            if (layerAttributes.Length == 0) continue;
            var attr = layerAttributes[0];
            var propertySyntax = member.DeclaringSyntaxReferences.Select(r => r.GetSyntax(ct)).OfType<PropertyDeclarationSyntax>().FirstOrDefault();
            bool valid = member.IsPartialDefinition
                && member.Type.ToDisplayString() == ModuleTypeName
                && member.SetMethod is null && !member.IsStatic && member.GetMethod is not null;
            string modifiers = propertySyntax is null ? "public" : string.Join(" ", propertySyntax.Modifiers.Where(m => !m.IsKind(SyntaxKind.PartialKeyword)).Select(m => m.Text));

            string kind = attr.AttributeClass!.Name.EndsWith("Attribute", StringComparison.Ordinal)
                ? attr.AttributeClass.Name.Substring(0, attr.AttributeClass.Name.Length - "Attribute".Length)
                : attr.AttributeClass.Name;
            var args = ArgumentsOf(attr, ct);

            ModelSpec? module = null;
            string? moduleError = null;
            if (kind == "Use" && attr.ConstructorArguments.Length == 1 && attr.ConstructorArguments[0].Value is INamedTypeSymbol used)
            {
                string usedName = used.ToDisplayString();
                if (!used.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == ModuleAttributeName))
                    moduleError = "not-module:" + used.Name;
                else if (useStack.Contains(usedName))
                    moduleError = "cycle:" + string.Join(" -> ", useStack.Concat(new[] { usedName }));
                else
                {
                    useStack.Add(usedName);
                    module = Parse(used, isModule: true, useStack, ct);
                    useStack.RemoveAt(useStack.Count - 1);
                }
            }

            bool resolved = attr.AttributeConstructor is not null && attr.ConstructorArguments.All(Compiles) && attr.NamedArguments.All(n => Compiles(n.Value));
            layers.Add(new LayerSpec(member.Name, modifiers, valid, kind, attr.AttributeClass.ToDisplayString(), layerAttributes.Length,
                args.ToImmutableEquatableArray(), LocationOf(attr, ct) is { FilePath.Length: > 0 } l ? l : LocationSpec.From(member.Locations.FirstOrDefault()),
                module, moduleError, resolved));
        }

        var containing = new List<string>();
        for (var t = type.ContainingType; t is not null; t = t.ContainingType) containing.Insert(0, t.Name);

        return new ModelSpec(
            type.ContainingNamespace.IsGlobalNamespace ? null : type.ContainingNamespace.ToDisplayString(),
            type.Name,
            type.ToDisplayString(),
            containing.ToImmutableEquatableArray(),
            isModule,
            isPartial,
            inputs.ToImmutableEquatableArray(),
            layers.ToImmutableEquatableArray(),
            location);
    }

    static bool IsLayerAttribute(INamedTypeSymbol? type)
    {
        for (var t = type?.BaseType; t is not null; t = t.BaseType)
            if (t.ToDisplayString() == LayerAttributeName) return true;
        return false;
    }

    static LocationSpec LocationOf(AttributeData attr, CancellationToken ct) =>
        LocationSpec.From(attr.ApplicationSyntaxReference?.GetSyntax(ct).GetLocation());

    /// <summary>Constructor arguments (named by their parameter) and named arguments, each with the location of its syntax.</summary>
    static List<ArgSpec> ArgumentsOf(AttributeData attr, CancellationToken ct)
    {
        var result = new List<ArgSpec>();
        var syntax = attr.ApplicationSyntaxReference?.GetSyntax(ct) as AttributeSyntax;
        var argSyntax = syntax?.ArgumentList?.Arguments ?? default;
        var ctorParams = attr.AttributeConstructor?.Parameters ?? ImmutableArrayEmpty;
        var attrLocation = LocationSpec.From(syntax?.GetLocation());
        for (int i = 0; i < attr.ConstructorArguments.Length && i < ctorParams.Length; i++)
        {
            string name = Capitalize(ctorParams[i].Name);
            var location = FindArgument(argSyntax, ctorParams[i].Name, i) ?? attrLocation;
            result.Add(new ArgSpec(name, Format(attr.ConstructorArguments[i]), location, i));
        }
        foreach (var named in attr.NamedArguments)
        {
            var location = argSyntax.FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == named.Key) is { } s ? LocationSpec.From(s.GetLocation()) : attrLocation;
            result.Add(new ArgSpec(named.Key, Format(named.Value), location));
        }
        return result;
    }

    static readonly System.Collections.Immutable.ImmutableArray<IParameterSymbol> ImmutableArrayEmpty = System.Collections.Immutable.ImmutableArray<IParameterSymbol>.Empty;

    static LocationSpec? FindArgument(SeparatedSyntaxList<AttributeArgumentSyntax> args, string parameterName, int position)
    {
        if (args.Count == 0) return null;
        var byName = args.FirstOrDefault(a => a.NameColon?.Name.Identifier.Text == parameterName);
        if (byName is not null) return LocationSpec.From(byName.GetLocation());
        if (position < args.Count && args[position].NameEquals is null && args[position].NameColon is null)
            return LocationSpec.From(args[position].GetLocation());
        return null;
    }

    /// <summary>False for an argument the compiler could not evaluate (a name that does not resolve, a non-constant): the user
    /// sees the compiler's own error, and the generator reports nothing of its own about that model.</summary>
    static bool Compiles(TypedConstant c) =>
        c.Kind != TypedConstantKind.Error && (c.Kind != TypedConstantKind.Array || c.IsNull || c.Values.All(Compiles));

    static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s.Substring(1);

    static string? Format(TypedConstant c) => c.Kind switch
    {
        TypedConstantKind.Type => (c.Value as ITypeSymbol)?.ToDisplayString() ?? "",
        TypedConstantKind.Array => c.IsNull ? null : string.Join(",", c.Values.Select(Format)),
        _ => c.Value switch
        {
            null => null,
            bool b => b ? "true" : "false",
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            var v => v.ToString() ?? "",
        },
    };
}
