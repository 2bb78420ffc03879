using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
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

        var lowered = models.Select(static (spec, _) => CheckShapes(spec)).WithTrackingName(StepNames.CheckShapes)
            .Select(static (model, _) => Lower(model)).WithTrackingName(StepNames.Lower);

        context.RegisterSourceOutput(lowered, static (spc, model) =>
        {
            foreach (var d in model.Diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
            foreach (var (hint, source) in SafeEmit(model, spc)) spc.AddSource(hint, source);
        });
        context.RegisterSourceOutput(modules, static (spc, spec) =>
        {
            if (!spec.IsPartial) spc.ReportDiagnostic(DiagnosticInfo.Create(DiagnosticDescriptors.ClassNotPartial, spec.Location, spec.ClassName).ToDiagnostic());
            else foreach (var (hint, source) in SafeEmit(new LoweredModel(spec, Helpers.ImmutableEquatableArray<Edge>.Empty, null,
                Helpers.ImmutableEquatableArray<PropertySpec>.Empty, Helpers.ImmutableEquatableArray<BufferSpec>.Empty,
                Helpers.ImmutableEquatableArray<ParamSpec>.Empty, Helpers.ImmutableEquatableArray<ConstantSpec>.Empty, Helpers.ImmutableEquatableArray<LoweredOp>.Empty,
                Helpers.ImmutableEquatableArray<DiagnosticInfo>.Empty), spc)) spc.AddSource(hint, source);
        });
    }

    /// <summary>The generator never throws: a failure becomes MG9001 on the class.</summary>
    static ModelSpec SafeParse(INamedTypeSymbol type, bool isModule, System.Threading.CancellationToken ct)
    {
        try
        {
            return Parse(type, isModule, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new ModelSpec(null, type.Name, "!" + e.GetType().Name + ": " + e.Message, Helpers.ImmutableEquatableArray<string>.Empty, isModule, true,
                Helpers.ImmutableEquatableArray<InputSpec>.Empty, Helpers.ImmutableEquatableArray<LayerSpec>.Empty,
                LocationSpec.From(type.Locations.FirstOrDefault()));
        }
    }

    static System.Collections.Generic.List<(string, string)> SafeEmit(LoweredModel model, SourceProductionContext spc)
    {
        try
        {
            if (model.Spec.FullName.StartsWith("!", StringComparison.Ordinal))
            {
                spc.ReportDiagnostic(DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, model.Spec.Location, model.Spec.ClassName, model.Spec.FullName.Substring(1)).ToDiagnostic());
                return new();
            }
            return Emit(model).ToList();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            spc.ReportDiagnostic(DiagnosticInfo.Create(DiagnosticDescriptors.InternalError, model.Spec.Location, model.Spec.ClassName, e.GetType().Name + ": " + e.Message).ToDiagnostic());
            return new();
        }
    }
}
