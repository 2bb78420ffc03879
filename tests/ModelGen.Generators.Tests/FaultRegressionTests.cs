using System.Linq;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>Declarations that once produced generated code that did not compile, or MG9001 where the user was owed a clear error
/// (or none): each class of fault found by trying random but plausible models keeps one case here.</summary>
public class FaultRegressionTests
{
    static string Model(string layers, string inputs = "[Input(\"x\", 8, 64)]", string extra = "") => $$"""
        using ModelGen;
        namespace T;
        {{extra}}
        [Model]
        {{inputs}}
        public partial class M
        {
        {{layers}}
        }
        """;

    /// <summary>The generator accepts the model and the whole compilation, generated code included, has no error.</summary>
    static void Compiles(string source)
    {
        var result = GeneratorHarness.Run(source);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.True(result.CompileErrors.IsEmpty, string.Join("\n", result.CompileErrors.Select(d => d.ToString())));
        Assert.Contains(result.Sources, s => s.Hint == "T.M.Forward.g.cs");
    }

    // 1. A norm over a pooled vector keeps per-sample statistics of no dimensions: Intermediate must not emit an empty argument.
    [Theory]
    [InlineData("[MeanPool] public partial Module Pool { get; }\n[LayerNorm] public partial Module Norm { get; }")]
    [InlineData("[ClassifierHead(5)] public partial Module Head { get; }\n[LayerNorm] public partial Module Norm { get; }")]
    public void LayerNormOfAPooledVector(string layers) => Compiles(Model(layers));

    // 2. Input names equal to the generated Forward's locals.
    [Theory]
    [InlineData("a")]
    [InlineData("d")]
    [InlineData("shape")]
    [InlineData("batch")]
    [InlineData("batch_")]
    public void InputNamedLikeALocal(string name) =>
        Compiles(Model("[Linear(4)] public partial Module Head { get; }", inputs: $"[Input(\"{name}\", 8, 64)]"));

    [Fact]
    public void TwoInputsNamedLikeLocals() =>
        Compiles(Model("[MultiHeadAttention(2, KeyValue = \"d\")] public partial Module Attn { get; }", inputs: "[Input(\"a\", 8, 64)]\n[Input(\"d\", 5, 64)]"));

    // 2b. Input names equal to the training steps' parameters (a classifier's and a dense predictor's TrainStep).
    [Theory]
    [InlineData("labels")]
    [InlineData("optimizer")]
    [InlineData("labelSmoothing")]
    [InlineData("clipNorm")]
    public void ClassifierInputNamedLikeATrainStepParameter(string name) =>
        Compiles(Model("[MeanPool] public partial Module Pool { get; }\n[Linear(4)] public partial Module Head { get; }", inputs: $"[Input(\"{name}\", 8, 64)]"));

    [Theory]
    [InlineData("targets")]
    [InlineData("classWeights")]
    [InlineData("ignoreIndex")]
    [InlineData("optimizer")]
    public void DensePredictorInputNamedLikeATrainStepParameter(string name) =>
        Compiles(Model("[Conv2d(3, 1)] public partial Module Head { get; }", inputs: $"[Input(\"{name}\", 2, 8, 8)]"));

    // 3. Names whose C# identifiers meet though their paths differ: numbered, not a compile error.
    [Fact]
    public void LayerNamedInXBesideInputX() =>
        Compiles(Model("[Linear(64)] public partial Module InX { get; }\n[Linear(4)] public partial Module Head { get; }"));

    [Fact]
    public void LayerNamedLikeAnotherLayersProjection() =>
        Compiles(Model("[MultiHeadAttention(4)] public partial Module Attn { get; }\n[Linear(64)] public partial Module AttnQProj { get; }\n[Linear(64)] public partial Module AttnQProjWeight { get; }"));

    [Fact]
    public void LayerNamedLikeABuffersGradient() =>
        Compiles(Model("[Linear(64)] public partial Module X { get; }\n[Linear(64)] public partial Module g_x { get; }", inputs: "[Input(\"y\", 8, 64)]"));

    // 4. An argument the compiler cannot resolve: the user sees the compiler's own error, nothing from ModelGen.
    [Fact]
    public void UnresolvedArgumentLeavesOnlyTheCompilersError()
    {
        var result = GeneratorHarness.Run(Model("[MeanPool] public partial Module Pool { get; }\n[ClassifierHead(5, Pool = Pool.Mean)] public partial Module Head { get; }"));
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.All(result.CompileErrors, d => Assert.StartsWith("Model", d.Location.SourceTree!.FilePath));
        Assert.Contains(result.CompileErrors, d => d.Id == "CS0120");
        Assert.DoesNotContain(result.CompileErrors, d => d.Id == "CS9248"); // the properties are still implemented
    }

    [Fact]
    public void MissingConstructorArgumentLeavesOnlyTheCompilersError()
    {
        var result = GeneratorHarness.Run(Model("[Linear] public partial Module Head { get; }"));
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Equal(new[] { "CS7036" }, result.CompileErrors.Select(d => d.Id).Distinct());
    }

    // 5. A module that changes the width cannot be repeated: the second copy would read the wrong width.
    [Fact]
    public void RepeatedModuleThatChangesTheWidth()
    {
        var result = GeneratorHarness.Run(Model("[Use(typeof(Widen), Depth = 2)] public partial Module Blocks { get; }", inputs: "[Input(\"x\", 8, 16)]", extra: """
            [Module]
            [Input("h", 16)]
            public partial class Widen { [Linear(32)] public partial Module Fc { get; } }
            """));
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("MG2004", d.Id);
        Assert.Equal("Depth = 2", GeneratorHarness.Underlined(d, result.Compilation));
        Assert.Contains("Layer 'blocks.1' expects (B, ..., 16) but 'blocks.0' gives (B, 8, 32)", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    // 6. Segmentation heads on a rectangular image take the patch grid from the image input.
    const string RectangularEncoder = """
        [PatchEmbedding(4, 32)] public partial Module Embed { get; }
        [TransformerEncoder(1, 4)] public partial Module Encoder { get; }
        """;

    [Theory]
    [InlineData("[SetrDecoder(3, Channels = 8)] public partial Module Decoder { get; }")]
    [InlineData("[MaskTransformer(3, Depth = 1)] public partial Module Decoder { get; }")]
    [InlineData("[MaskClassifier(3, Depth = 1)] public partial Module Decoder { get; }")]
    public void SegmentationHeadOnARectangularImage(string head)
    {
        var source = Model(RectangularEncoder + head, inputs: "[Input(\"image\", 1, 16, 32)]");
        Compiles(source);
        var forward = GeneratorHarness.Run(source).Sources.Single(s => s.Hint == "T.M.Model.g.cs").Text;
        Assert.Contains("Per-sample output shape (B, 3, 16, 32)", forward);
    }

    [Fact]
    public void SegmentationHeadWithClassTokenOnARectangularImage() =>
        Compiles(Model(RectangularEncoder.Replace("[TransformerEncoder", "[ClassToken] public partial Module Cls { get; }\n[TransformerEncoder")
            + "[SetrDecoder(3, Channels = 8, Skip = 1)] public partial Module Decoder { get; }", inputs: "[Input(\"image\", 1, 32, 16)]"));

    // 7. Wiring messages name layers as the user wrote them, like their "known" lists.
    [Fact]
    public void WiringMessagesNameLayersByTheirProperty()
    {
        var result = GeneratorHarness.Run(Model("[Linear(64)] public partial Module Embed { get; }\n[Residual(\"Nope\")] public partial Module SkipSum { get; }"));
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("Layer 'SkipSum' reads 'Nope', which is neither an input nor a layer of 'M' (known: 'x', 'Embed')", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    // Found by the fuzzer: a layer property named with a keyword was emitted unescaped (CS1003), in a model and in a module.
    [Fact]
    public void LayerNamedWithAKeyword() =>
        Compiles(Model("[Linear(64)] public partial Module @in { get; }\n[Use(typeof(Block))] public partial Module @out { get; }\n[Linear(4)] public partial Module @event { get; }",
            extra: "[Module]\n[Input(\"h\", 64)]\npublic partial class Block { [LayerNorm] public partial Module @class { get; } }"));

    // Found by the fuzzer: a module template's backing field s_Norm met a property s_Norm (CS0102); templates keep no fields now.
    [Fact]
    public void ModuleWithAPropertyNamedLikeABackingField() =>
        Compiles(Model("[Use(typeof(Block))] public partial Module Blocks { get; }", extra: """
            [Module]
            [Input("h", 64)]
            public partial class Block
            {
                [LayerNorm] public partial Module Norm { get; }
                [LayerNorm] public partial Module s_Norm { get; }
            }
            """));

    // Found by the fuzzer: a property declared twice (the user's CS0102) got two implementations (CS9251) in generated code.
    [Fact]
    public void PropertyDeclaredTwiceLeavesOnlyTheUsersErrors()
    {
        var result = GeneratorHarness.Run(Model("[Linear(8)] public partial Module Head { get; }\n[Linear(4)] public partial Module Head { get; }"));
        Assert.Equal("MG1008", Assert.Single(result.GeneratorDiagnostics).Id);
        Assert.DoesNotContain(result.CompileErrors, d => d.Location.SourceTree?.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal) == true);
    }

    // Found in review: a layer named Activations with a fixed table (sinusoidal positions) made a field s_activations beside
    // the size table of the same name.
    [Fact]
    public void LayerWhoseTableIsNamedLikeTheSizeTable() =>
        Compiles(Model("[SinusoidalPositions] public partial Module Activations { get; }"));
}
