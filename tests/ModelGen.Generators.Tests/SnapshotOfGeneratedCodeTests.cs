using System.Linq;
using ModelGen.Generators.Tests.Snapshots;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>The generated source of representative models, reviewed as snapshots: a diff here is a change to what users get.</summary>
public class SnapshotOfGeneratedCodeTests
{
    [Theory]
    [InlineData(nameof(SampleModels.Encoder))]
    [InlineData(nameof(SampleModels.CrossAttention))]
    [InlineData(nameof(SampleModels.ScoreBiases))]
    [InlineData(nameof(SampleModels.EfficientAttention))]
    [InlineData(nameof(SampleModels.ModuleReuse))]
    [InlineData(nameof(SampleModels.VisionTransformer))]
    [InlineData(nameof(SampleModels.Segmentation))]
    [InlineData(nameof(SampleModels.LanguageModel))]
    public void GeneratedSource(string sample)
    {
        string source = (string)typeof(SampleModels).GetField(sample)!.GetValue(null)!;
        var result = GeneratorHarness.Run(source);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompileErrors);
        foreach (var (hint, text) in result.Sources.OrderBy(s => s.Hint, System.StringComparer.Ordinal))
            Snapshot.Verify($"{sample}#{hint.Replace(".g.cs", "")}", text, extension: "g.cs");
    }

    /// <summary>Every diagnostic of a declaration with several mistakes, as a reviewer sees them: id, message, the span underlined.</summary>
    [Fact]
    public void Diagnostics()
    {
        const string source = """
            using ModelGen;
            namespace T;
            [Model]
            [Input("x", 8, 64)]
            [Input("pad", 7, Kind = InputKind.KeyPaddingMask)]
            public partial class Broken
            {
                [TransformerEncoder(2, 5)] public partial Module Encoder { get; }
            }

            [Model]
            [Input("x", 8, 64)]
            [Input("pad", 7, Kind = InputKind.KeyPaddingMask)]
            public partial class BrokenMask
            {
                [MultiHeadAttention(4, KvHeads = 2, KeyPaddingMask = "pad")] public partial Module Attn { get; }
                [Linear(10, InFeatures = 32)] public partial Module Head { get; }
            }

            [Model]
            [Input("x", 8, 64)]
            public partial class BrokenWiring
            {
                [Residual("later")] public partial Module Res { get; }
                [Linear(64)] public partial Module later { get; }
            }
            """;
        var result = GeneratorHarness.Run(source);
        Snapshot.Verify("Diagnostics", GeneratorHarness.Describe(result.GeneratorDiagnostics, result.Compilation), extension: "txt");
    }
}
