using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelGen.Generators;

namespace ModelGen.Generators.Tests;

/// <summary>Runs the generator over source text the way the compiler does, and compiles the result.</summary>
public static class GeneratorHarness
{
    static readonly CSharpParseOptions s_parse = new(LanguageVersion.Preview);

    static readonly Lazy<MetadataReference[]> s_references = new(() =>
    {
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var paths = trusted.Concat(new[]
        {
            typeof(ModelGen.Tensor).Assembly.Location,
            typeof(ILGPU.Context).Assembly.Location,
        }).Distinct();
        return paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
    });

    public static CSharpCompilation Compile(params string[] sources) =>
        CSharpCompilation.Create("UserModels",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, s_parse, path: $"Model{i}.cs")),
            s_references.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver Driver() => CSharpGeneratorDriver.Create(
        new[] { new ModelGenerator().AsSourceGenerator() },
        parseOptions: s_parse,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public sealed record Result(GeneratorRunResult Run, ImmutableArray<Diagnostic> GeneratorDiagnostics, ImmutableArray<Diagnostic> CompileErrors, Compilation Compilation)
    {
        public IEnumerable<(string Hint, string Text)> Sources => Run.GeneratedSources.Select(s => (s.HintName, s.SourceText.ToString()));

        /// <summary>Warnings in the generated files: a user who builds with warnings as errors must not meet any.</summary>
        public IEnumerable<Diagnostic> GeneratedWarnings => Compilation.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Warning && d.Location.SourceTree?.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal) == true);
    }

    /// <summary>Runs the generator; CompileErrors are errors of the whole compilation (user code + generated code).</summary>
    public static Result Run(params string[] sources)
    {
        var compilation = Compile(sources);
        var driver = Driver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var run = driver.GetRunResult().Results.Single();
        if (run.Exception is not null) throw new InvalidOperationException("The generator threw", run.Exception);
        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray();
        return new Result(run, generatorDiagnostics, errors, output);
    }

    /// <summary>Diagnostics as the snapshot shows them: id, severity, message, and the source line with the span underlined.</summary>
    public static string Describe(IEnumerable<Diagnostic> diagnostics, Compilation compilation)
    {
        var sb = new StringBuilder();
        foreach (var d in diagnostics.OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id, StringComparer.Ordinal))
        {
            sb.Append(d.Id).Append(' ').Append(d.Severity.ToString().ToLowerInvariant()).Append(": ").Append(d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            if (TreeOf(d, compilation) is { } tree)
            {
                var span = d.Location.GetLineSpan();
                var line = tree.GetText().Lines[span.StartLinePosition.Line];
                string text = line.ToString();
                int start = span.StartLinePosition.Character;
                int end = span.EndLinePosition.Line == span.StartLinePosition.Line ? span.EndLinePosition.Character : text.Length;
                sb.Append("  ").Append(span.StartLinePosition.Line + 1).Append(": ").Append(text.TrimEnd()).Append('\n');
                sb.Append("  ").Append(new string(' ', (span.StartLinePosition.Line + 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length + 2 + start)).Append(new string('^', Math.Max(1, end - start))).Append('\n');
            }
        }
        return sb.ToString();
    }

    /// <summary>The text a diagnostic points at.</summary>
    public static string Underlined(Diagnostic d, Compilation compilation) => TreeOf(d, compilation)!.GetText().ToString(d.Location.SourceSpan);

    /// <summary>Generator diagnostics carry file/span locations; find the tree they point into.</summary>
    static SyntaxTree? TreeOf(Diagnostic d, Compilation compilation) =>
        d.Location.SourceTree ?? compilation.SyntaxTrees.FirstOrDefault(t => t.FilePath == d.Location.GetLineSpan().Path);
}
