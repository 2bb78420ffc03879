using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelGen.Generators.Model;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>An edit that does not touch a model re-runs nothing after parsing; the specs hold no compiler objects.</summary>
public class IncrementalTests
{
    static readonly string[] Steps = { StepNames.ParseModels, StepNames.CheckShapes, StepNames.Lower };

    [Fact]
    public void UnrelatedEditLeavesEveryStepCached()
    {
        var compilation = GeneratorHarness.Compile(SampleModels.Encoder, "namespace Other; public class Unrelated { public int A; }");
        var driver = GeneratorHarness.Driver().RunGenerators(compilation);

        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Last(),
            CSharpSyntaxTree.ParseText("namespace Other; public class Unrelated { public int A; public int B; }", (CSharpParseOptions)compilation.SyntaxTrees.First().Options, path: "Model1.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var step in Steps)
        {
            var outputs = result.TrackedSteps[step].SelectMany(s => s.Outputs).ToArray();
            Assert.NotEmpty(outputs);
            Assert.All(outputs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step} re-ran: {o.Reason}"));
        }
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output re-ran: {o.Reason}"));
    }

    /// <summary>A comment above the model moves every location in it: the shape check re-runs (diagnostics carry locations) but the
    /// checked model is equal, so Lower and every generated source stay cached.</summary>
    [Fact]
    public void MovingAModelLeavesLowerAndEmitCached()
    {
        var compilation = GeneratorHarness.Compile(SampleModels.Encoder);
        var driver = GeneratorHarness.Driver().RunGenerators(compilation);
        var moved = SampleModels.Encoder.Replace("[Model]", "// a comment that moves the model down a line\n[Model]");
        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(),
            CSharpSyntaxTree.ParseText(moved, (CSharpParseOptions)compilation.SyntaxTrees.Single().Options, path: "Model0.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[StepNames.ParseModels].SelectMany(s => s.Outputs).Single().Reason);
        Assert.Equal(IncrementalStepRunReason.Cached, result.TrackedSteps[StepNames.Lower].SelectMany(s => s.Outputs).Single().Reason);
        // The shape check ran on the moved spec and produced an equal result.
        Assert.Equal(IncrementalStepRunReason.Unchanged, result.TrackedSteps[StepNames.CheckShapes].SelectMany(s => s.Outputs).Single().Reason);
        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"an output re-ran: {o.Reason}"));
    }

    /// <summary>A diagnostic follows the model when it moves: diagnostics are not cached with the generated code.</summary>
    [Fact]
    public void MovingAModelWithAnErrorMovesTheDiagnostic()
    {
        const string model = "using ModelGen; [Model] [Input(\"x\", 8, 64)] public partial class M { [TransformerEncoder(1, 5)] public partial Module E { get; } }";
        var compilation = GeneratorHarness.Compile(model);
        var driver = GeneratorHarness.Driver().RunGeneratorsAndUpdateCompilation(compilation, out _, out var before);
        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(),
            CSharpSyntaxTree.ParseText("\n\n" + model, (CSharpParseOptions)compilation.SyntaxTrees.Single().Options, path: "Model0.cs"));
        driver.RunGeneratorsAndUpdateCompilation(edited, out _, out var after);
        Assert.Equal(0, Assert.Single(before).Location.GetLineSpan().StartLinePosition.Line);
        Assert.Equal(2, Assert.Single(after).Location.GetLineSpan().StartLinePosition.Line);
    }

    [Fact]
    public void EditingTheModelRegeneratesIt()
    {
        var compilation = GeneratorHarness.Compile(SampleModels.Encoder);
        var driver = GeneratorHarness.Driver().RunGenerators(compilation);
        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(),
            CSharpSyntaxTree.ParseText(SampleModels.Encoder.Replace("[Linear(10)]", "[Linear(12)]"), (CSharpParseOptions)compilation.SyntaxTrees.Single().Options, path: "Model0.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();
        var lower = result.TrackedSteps[StepNames.Lower].SelectMany(s => s.Outputs).Single();
        Assert.Equal(IncrementalStepRunReason.Modified, lower.Reason);
        Assert.Contains(result.GeneratedSources, s => s.SourceText.ToString().Contains("new int[] { 8, 12 }"));
    }

    [Fact]
    public void OutputIsDeterministic()
    {
        var first = GeneratorHarness.Run(SampleModels.Encoder).Sources.ToArray();
        var second = GeneratorHarness.Run(SampleModels.Encoder).Sources.ToArray();
        Assert.Equal(first, second);
    }

    /// <summary>Specs cross incremental steps: a symbol, syntax node, location or compilation in them would defeat caching and leak memory.</summary>
    [Fact]
    public void SpecsHoldOnlyEquatableValues()
    {
        var forbidden = new[] { typeof(ISymbol), typeof(SyntaxNode), typeof(Location), typeof(Compilation), typeof(SemanticModel) };
        var seen = new HashSet<Type>();
        void Visit(Type t)
        {
            if (!seen.Add(t) || t.IsPrimitive || t == typeof(string) || t.IsEnum) return;
            Assert.False(forbidden.Any(f => f.IsAssignableFrom(t)), $"{t} must not appear in a spec");
            if (t.IsGenericType) foreach (var a in t.GetGenericArguments()) Visit(a);
            if (t.Namespace?.StartsWith("ModelGen.Generators", StringComparison.Ordinal) != true) return;
            foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance)) Visit(p.PropertyType);
            foreach (var f in t.GetFields(BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance)) Visit(f.FieldType);
        }
        Visit(typeof(ModelSpec));
        Visit(typeof(CheckedModel));
        Visit(typeof(LoweredModel));
        Assert.Contains(typeof(LayerSpec), seen);
        Assert.Contains(typeof(LoweredOp), seen);
    }

    [Fact]
    public void MalformedDeclarationsNeverCrashTheGenerator()
    {
        // Half-typed code, as an editor sees it mid-keystroke: the generator must report or stay silent, never throw.
        string[] sources =
        {
            "using ModelGen; [Model] [Input(\"x\", 8, 64)] public partial class M { [Linear] public partial Module A { get; } }",
            "using ModelGen; [Model] [Input(\"x\")] public partial class M { [Linear(4)] public partial Module A { get; } }",
            "using ModelGen; [Model] [Input(null!, 8, 64)] public partial class M { [Linear(4)] public partial Module A { get; } }",
            "using ModelGen; [Model] [Input(\"x\", 8, 64)] public partial class M { [Residual(null!)] public partial Module A { get; } }",
            "using ModelGen; [Model] [Input(\"x\", 8, 64)] public partial class M { [Use(null!)] public partial Module A { get; } }",
            "using ModelGen; [Model] [Input(\"x\", 8, 64)] public partial class M<T> { [Linear(4)] public partial Module A { get; } }",
            "using ModelGen; [Model] [Input(\"x\", 8, 64)] public partial class M { [MultiHeadAttention(4, KeyValue = \"x\", KeyPaddingMask = \"x\")] public partial Module A { get; } }",
        };
        foreach (var source in sources)
        {
            var result = GeneratorHarness.Run(source);
            Assert.DoesNotContain(result.CompileErrors, d => d.Id == "CS8785");
        }
    }
}
