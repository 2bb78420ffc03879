using System;
using System.IO;
using System.Linq;
using ModelGen.Generators.Layers;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>The registry is complete: every layer attribute a user can write has its rule (in a file of its name), a line in the
/// README, a generator test and a declaration that runs in the runtime tests. A new attribute without them fails here.</summary>
public class LayerRegistryTests
{
    static readonly Type[] s_attributes = typeof(LayerAttribute).Assembly.GetTypes()
        .Where(t => typeof(LayerAttribute).IsAssignableFrom(t) && !t.IsAbstract).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    static string Root => DiagnosticTests.RepoRoot();

    static string Kind(Type attribute) => LayerRule.KindOf(attribute);

    static string AllText(string directory) => string.Join("\n", Directory.GetFiles(Path.Combine(Root, directory), "*.cs", SearchOption.AllDirectories)
        .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains(".verified.", StringComparison.Ordinal))
        .Select(File.ReadAllText));

    /// <summary>A declaration of the kind in C# source: [Kind], [Kind(…)] or [Kind, …].</summary>
    static bool Declares(string source, Type attribute) =>
        new[] { "[" + Kind(attribute) + "]", "[" + Kind(attribute) + "(", "[" + Kind(attribute) + "," }.Any(source.Contains);

    [Fact]
    public void EveryLayerAttributeHasExactlyOneRule()
    {
        Assert.True(s_attributes.Length >= 30, $"found only {s_attributes.Length} layer attributes");
        foreach (var attribute in s_attributes)
            Assert.True(LayerRegistry.Rules.Count(r => r.Attribute == attribute) == 1, $"[{Kind(attribute)}] needs exactly one rule in LayerRegistry.Rules");
        Assert.Equal(s_attributes.Length, LayerRegistry.Rules.Count);
        Assert.All(LayerRegistry.Rules, r => Assert.Same(r, LayerRegistry.Find(r.Attribute.FullName!)));
    }

    [Fact]
    public void EveryRuleLivesInAFileOfItsKind()
    {
        var files = Directory.GetFiles(Path.Combine(Root, "generators/ModelGen.Generators/Layers"), "*.cs", SearchOption.AllDirectories).Select(Path.GetFileNameWithoutExtension).ToHashSet();
        foreach (var rule in LayerRegistry.Rules)
        {
            Assert.Equal(rule.Kind + "Rule", rule.GetType().Name);
            Assert.True(files.Contains(rule.Kind), $"{rule.GetType().Name} belongs in Layers/<family>/{rule.Kind}.cs");
        }
    }

    [Fact]
    public void EveryLayerIsInTheReadme()
    {
        string readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var missing = s_attributes.Where(a => !readme.Contains("`" + Kind(a) + "`", StringComparison.Ordinal)).Select(Kind).ToArray();
        Assert.True(missing.Length == 0, "README.md does not list " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryLayerHasAGeneratorTestAndARuntimeTest()
    {
        string generatorTests = AllText("tests/ModelGen.Generators.Tests");
        string runtimeTests = AllText("tests/ModelGen.Tests");
        var noGeneratorTest = s_attributes.Where(a => !Declares(generatorTests, a)).Select(Kind).ToArray();
        var noRuntimeTest = s_attributes.Where(a => !Declares(runtimeTests, a)).Select(Kind).ToArray();
        Assert.True(noGeneratorTest.Length == 0, "no generator test declares " + string.Join(", ", noGeneratorTest));
        Assert.True(noRuntimeTest.Length == 0, "no runtime test (tests/ModelGen.Tests) declares and runs " + string.Join(", ", noRuntimeTest));
    }
}
