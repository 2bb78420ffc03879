using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using ModelGen.Generators.Helpers;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

/// <summary>
/// The model compiler. Parse (Parse/) → Check shapes (Shapes/) → Lower (Lower/) → Emit (Emit/), each an incremental step
/// over equatable specs, so an edit that does not touch a model re-runs nothing after Parse.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class ModelGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var models = context.SyntaxProvider.ForAttributeWithMetadataName(ModelAttributeName,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, ct) => SafeParse((INamedTypeSymbol)ctx.TargetSymbol, isModule: false, ct))
            .WithTrackingName(StepNames.ParseModels);
        var modules = context.SyntaxProvider.ForAttributeWithMetadataName(ModuleAttributeName,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, ct) => SafeParse((INamedTypeSymbol)ctx.TargetSymbol, isModule: true, ct))
            .WithTrackingName(StepNames.ParseModules);

        // Diagnostics leave through their own output: they carry locations, which the checked model does not, so an edit that
        // only moves a model (a comment above it) re-runs the shape check but leaves Lower and Emit cached.
        var checkedModels = models.Select(static (spec, _) => CheckShapes(spec)).WithTrackingName(StepNames.CheckShapes);
        context.RegisterSourceOutput(checkedModels.Select(static (r, _) => r.Diagnostics).WithTrackingName(StepNames.Diagnostics), Report);
        context.RegisterSourceOutput(modules.Select(static (spec, _) => ModuleDiagnostics(spec)).WithTrackingName(StepNames.ModuleDiagnostics), Report);

        var lowered = checkedModels.Select(static (r, _) => Lower(r.Model)).WithTrackingName(StepNames.Lower);
        var templates = modules.Select(static (spec, _) => LoweredModel.PropertiesOnly(ModelHeader.From(spec), incomplete: false)).WithTrackingName(StepNames.ModuleTemplates);
        context.RegisterSourceOutput(lowered, static (spc, model) => AddSources(spc, model));
        context.RegisterSourceOutput(templates, static (spc, model) => AddSources(spc, model));
    }

    static void Report(SourceProductionContext spc, ImmutableEquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (var d in diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
    }

    /// <summary>A [Module] is checked where it is used; on its own it only has to be partial.</summary>
    static ImmutableEquatableArray<DiagnosticInfo> ModuleDiagnostics(ModelSpec spec) =>
        spec.FullName.StartsWith("!", StringComparison.Ordinal) ? ImmutableEquatableArray.Create(DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, spec.Location, spec.ClassName, spec.FullName.Substring(1)))
        : !spec.IsPartial ? ImmutableEquatableArray.Create(DiagnosticInfo.Create(DiagnosticDescriptors.ClassNotPartial, spec.Location, spec.ClassName))
        : ImmutableEquatableArray<DiagnosticInfo>.Empty;

    /// <summary>The generator never throws: a failure becomes MG9001 on the class.</summary>
    static ModelSpec SafeParse(INamedTypeSymbol type, bool isModule, System.Threading.CancellationToken ct)
    {
        try
        {
            return Parse(type, isModule, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new ModelSpec(null, type.Name, "!" + e.GetType().Name + ": " + e.Message, ImmutableEquatableArray<string>.Empty, isModule, true,
                ImmutableEquatableArray<InputSpec>.Empty, ImmutableEquatableArray<LayerSpec>.Empty,
                LocationSpec.From(type.Locations.FirstOrDefault()));
        }
    }

    /// <summary>The generated sources. An internal failure here has no location to report (the cached model holds none): MG9001
    /// names the class instead.</summary>
    static void AddSources(SourceProductionContext spc, LoweredModel model)
    {
        string? failure = model.InternalError;
        var sources = new System.Collections.Generic.List<(string, string)>();
        try
        {
            if (!model.Header.FullName.StartsWith("!", StringComparison.Ordinal)) sources.AddRange(Emit(model));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = e.GetType().Name + ": " + e.Message;
            sources.Clear();
        }
        if (failure is not null) spc.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError, Location.None, model.Header.ClassName, failure));
        foreach (var (hint, source) in sources) spc.AddSource(hint, source);
    }
}
