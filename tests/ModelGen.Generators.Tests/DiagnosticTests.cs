using System.Linq;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>One test per diagnostic id: the id, the argument it points at, and a message that names the numbers.</summary>
public class DiagnosticTests
{
    static string Model(string layers, string inputs = "[Input(\"x\", 8, 64)]", string modifiers = "public partial") => $$"""
        using ModelGen;
        namespace T;
        [Model]
        {{inputs}}
        {{modifiers}} class M
        {
        {{layers}}
        }
        """;

    static void Expect(string source, string id, string underlined, params string[] messageParts)
    {
        var result = GeneratorHarness.Run(source);
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal(id, d.Id);
        Assert.Equal(Microsoft.CodeAnalysis.DiagnosticSeverity.Error, d.Severity);
        Assert.Equal(underlined, GeneratorHarness.Underlined(d, result.Compilation));
        string message = d.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var part in messageParts) Assert.Contains(part, message);
        Assert.DoesNotContain(result.Sources, s => s.Hint == "T.M.Forward.g.cs");
        // The properties are still implemented (unless the class is not partial), so the diagnostic is the only error.
        bool partialClass = !result.CompileErrors.Any(e => e.Id == "CS0751"); // partial members in a class that is not partial: the user's own error
        Assert.DoesNotContain(result.CompileErrors, e => (partialClass && e.Id == "CS9248") || e.Id == "CS0260" || e.Location.SourceTree?.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal) == true);
    }

    [Fact]
    public void MG1001_ClassNotPartial() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }", modifiers: "public"), "MG1001", "M", "'M' must be declared partial");

    [Fact]
    public void MG1002_LayerPropertyNotPartial() =>
        Expect(Model("[Linear(4)] public Module A { get; } = null!;"), "MG1002", "Linear(4)", "Layer 'A'");

    [Fact]
    public void MG1003_UnknownWiringName() =>
        Expect(Model("[Linear(4, Input = \"nope\")] public partial Module A { get; }"), "MG1003", "Input = \"nope\"", "'nope'", "known: 'x'");

    [Fact]
    public void MG1004_WiringCycle() =>
        Expect(Model("""
            [Linear(64)] public partial Module A { get; }
            [Residual("B")] public partial Module B { get; }
            """), "MG1004", "\"B\"", "reads 'B'", "by this layer itself");

    [Fact]
    public void MG1004_ForwardReferenceIsACycle() =>
        Expect(Model("""
            [Linear(64, Input = "B")] public partial Module A { get; }
            [Linear(64)] public partial Module B { get; }
            """), "MG1004", "Input = \"B\"", "declared after it");

    [Fact]
    public void MG1005_ModuleCycle() => Expect("""
        using ModelGen;
        namespace T;
        [Module, Input("x", 8)] public partial class P { [Use(typeof(Q))] public partial Module Inner { get; } }
        [Module, Input("x", 8)] public partial class Q { [Use(typeof(P))] public partial Module Inner { get; } }
        [Model, Input("x", 4, 8)] public partial class M { [Use(typeof(P))] public partial Module Outer { get; } }
        """, "MG1005", "typeof(P)", "T.P -> T.Q -> T.P");

    [Fact]
    public void MG1006_NoInput() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }", inputs: ""), "MG1006", "M", "'M' declares no data [Input]; the first layer");

    [Fact]
    public void MG1006_OnlyAMaskInput() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }", inputs: "[Input(\"padding\", 8, Kind = InputKind.KeyPaddingMask)]"), "MG1006", "M",
            "declares no data [Input] (only 'padding', a key padding mask)");

    [Fact]
    public void MG1006_OnlyMasksOfTwoKinds() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }",
                inputs: "[Input(\"padding\", 8, Kind = InputKind.KeyPaddingMask)] [Input(\"mask\", 8, 8, Kind = InputKind.AttentionMask)]"), "MG1006", "M",
            "(only 'padding', a key padding mask; 'mask', an attention mask)");

    [Fact]
    public void MG1007_NoLayers() => Expect(Model(""), "MG1007", "M", "no layer properties");

    [Fact]
    public void MG1008_DuplicateName() =>
        Expect(Model("[Linear(4)] public partial Module x { get; }"), "MG1008", "Linear(4)", "'x' is already used by an earlier input or layer");

    [Fact]
    public void MG1008_NamesThatMeetInSnakeCase() =>
        Expect(Model("[Linear(4)] public partial Module Gn { get; }\n[Linear(4)] public partial Module GN { get; }"), "MG1008", "Linear(4)",
            "'GN' is already used by 'Gn' (both are 'gn' in parameter and activation names)");

    [Fact]
    public void MG1008_LayerMeetsAnInputInSnakeCase() =>
        Expect(Model("[Linear(4)] public partial Module X { get; }"), "MG1008", "Linear(4)", "'X' is already used by 'x'");

    [Fact]
    public void MG1011_InputNameNotAnIdentifier() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }", inputs: "[Input(\"my input\", 8, 64)]"), "MG1011", "\"my input\"", "'my input' is not a C# identifier");

    [Fact]
    public void MG1012_LayerNamedLikeAGeneratedMember() =>
        Expect(Model("[Linear(4)] public partial Module Parameters { get; }"), "MG1012", "Linear(4)", "Layer 'Parameters' has the name of a member ModelGen generates");

    [Fact]
    public void MG1009_UseOfNonModule() => Expect("""
        using ModelGen;
        namespace T;
        public class NotAModule { }
        [Model, Input("x", 4, 8)] public partial class M { [Use(typeof(NotAModule))] public partial Module A { get; } }
        """, "MG1009", "typeof(NotAModule)", "typeof(NotAModule)");

    [Fact]
    public void MG1010_TwoLayerAttributes() =>
        Expect(Model("[Linear(4), Gelu] public partial Module A { get; }"), "MG1010", "Linear(4)", "Layer 'A' has 2 layer attributes");

    [Fact]
    public void MG2001_NonPositiveSize() =>
        Expect(Model("[Linear(0)] public partial Module A { get; }"), "MG2001", "0", "OutFeatures of layer 'a' is 0");

    [Fact]
    public void MG2001_NonPositiveInputDimension() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }", inputs: "[Input(\"x\", 8, -3)]"), "MG2001", "-3", "Dimension 2 of input 'x' is -3; it must be positive");

    [Fact]
    public void MG2001_ZeroTokensUnderlinesTheZero() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }", inputs: "[Input(\"tokens\", 0, 32)]"), "MG2001", "0", "Dimension 1 of input 'tokens' is 0");

    [Fact]
    public void MG2001_EvenSpatialAttentionKernel()
    {
        Expect(Model("[SpatialAttention(Kernel = 4)] public partial Module Attn { get; }", inputs: "[Input(\"x\", 8, 16, 16)]"), "MG2001", "Kernel = 4",
            "Kernel of layer 'attn' is 4; it must be odd");
        Assert.Equal("Size or rate out of range", DiagnosticDescriptors.NonPositiveSize.Title.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void MG2001_DropoutOutOfRange() =>
        Expect(Model("[Dropout(1.5)] public partial Module A { get; }"), "MG2001", "1.5", "P of layer 'a' is 1.5; it must be in [0, 1)");

    [Fact]
    public void MG2001_DropPathOutOfRange() =>
        Expect(Model("[TransformerEncoder(2, 4, DropPath = 1.0)] public partial Module Encoder { get; }"), "MG2001", "DropPath = 1.0",
            "DropPath of layer 'encoder' is 1; it must be in [0, 1)");

    [Fact]
    public void MG2002_DimNotDivisibleByHeads() =>
        Expect(Model("[TransformerEncoder(4, 5)] public partial Module Encoder { get; }"), "MG2002", "5", "width 64 is not divisible by Heads 5");

    [Fact]
    public void MG2003_HeadsNotDivisibleByKvHeads() =>
        Expect(Model("[MultiHeadAttention(4, KvHeads = 3)] public partial Module Attn { get; }"), "MG2003", "KvHeads = 3", "Heads 4 is not divisible by KvHeads 3");

    [Fact]
    public void MG2004_ConsecutiveDimsDisagree() =>
        Expect(Model("""
            [Linear(32)] public partial Module A { get; }
            [Linear(10, InFeatures = 64)] public partial Module B { get; }
            """), "MG2004", "InFeatures = 64", "Layer 'b' expects (B, 8, 64) but 'a' gives (B, 8, 32)");

    [Fact]
    public void MG2004_ResidualShapesDisagree() =>
        Expect(Model("""
            [Linear(32)] public partial Module A { get; }
            [Residual("x")] public partial Module R { get; }
            """), "MG2004", "\"x\"", "Layer 'r' expects (B, 8, 32) but 'x' gives (B, 8, 64)");

    [Fact]
    public void MG2004_ModuleWidthDisagrees() => Expect("""
        using ModelGen;
        namespace T;
        [Module, Input("x", 32)] public partial class Blk { [LayerNorm] public partial Module N { get; } }
        [Model, Input("x", 4, 8)] public partial class M { [Use(typeof(Blk))] public partial Module A { get; } }
        """, "MG2004", "typeof(Blk)", "expects (B, ..., 32) but 'x' gives (B, 4, 8)");

    [Fact]
    public void MG2004_PatchEmbeddingChannelsDisagree() =>
        Expect(Model("[PatchEmbedding(4, 16, Channels = 3)] public partial Module Patches { get; }", inputs: "[Input(\"image\", 1, 28, 28)]"),
            "MG2004", "Channels = 3", "expects (B, 3, 28, 28) but 'image' gives (B, 1, 28, 28)");

    [Fact]
    public void MG2005_CrossAttentionKeyValueLengthsDisagree() =>
        Expect(Model("[MultiHeadAttention(4, Key = \"k\", Value = \"v\")] public partial Module Attn { get; }",
            inputs: "[Input(\"x\", 8, 64)] [Input(\"k\", 10, 32)] [Input(\"v\", 12, 32)]"),
            "MG2005", "Value = \"v\"", "keys from 'k' are (B, 10, 32) but values from 'v' are (B, 12, 32)");

    [Fact]
    public void MG2006_MaskLengthDisagrees() =>
        Expect(Model("[MultiHeadAttention(4, KeyPaddingMask = \"pad\")] public partial Module Attn { get; }",
            inputs: "[Input(\"x\", 8, 64)] [Input(\"pad\", 9, Kind = InputKind.KeyPaddingMask)]"),
            "MG2006", "KeyPaddingMask = \"pad\"", "mask 'pad' has length 9 but the keys have length 8");

    [Fact]
    public void MG2007_DataUsedAsMask() =>
        Expect(Model("[MultiHeadAttention(4, KeyPaddingMask = \"y\")] public partial Module Attn { get; }",
            inputs: "[Input(\"x\", 8, 64)] [Input(\"y\", 8)]"),
            "MG2007", "KeyPaddingMask = \"y\"", "uses 'y' as a key padding mask");

    [Fact]
    public void MG2008_AttentionNeedsASequence() =>
        Expect(Model("[MultiHeadAttention(4)] public partial Module Attn { get; }", inputs: "[Input(\"x\", 64)]"),
            "MG2008", "MultiHeadAttention(4)", "needs a sequence (B, tokens, width) but 'x' gives (B, 64)");

    [Fact]
    public void MG2008_PatchEmbeddingNeedsAnImage() =>
        Expect(Model("[PatchEmbedding(4, 16)] public partial Module Patches { get; }"),
            "MG2008", "PatchEmbedding(4, 16)", "needs an image (B, channels, height, width) but 'x' gives (B, 8, 64)");

    [Fact]
    public void MG2009_ImageNotDivisibleByPatch() =>
        Expect(Model("[PatchEmbedding(5, 16)] public partial Module Patches { get; }", inputs: "[Input(\"image\", 1, 28, 28)]"),
            "MG2009", "5", "image 28×28 is not divisible by Patch 5", "height 28 % 5 = 3");

    [Fact]
    public void MG2010_SinusoidalGridDoesNotCoverTheTokens() =>
        Expect(Model("[SinusoidalPositions(GridHeight = 7, GridWidth = 6)] public partial Module Pos { get; }", inputs: "[Input(\"x\", 49, 64)]"),
            "MG2010", "GridHeight = 7", "a 7×6 grid has 42 positions, but 'x' has 49 tokens (expected 42, or 43 with a class token)");

    [Fact]
    public void MG2010_SinusoidalNeedsAnEvenWidth() =>
        Expect(Model("[SinusoidalPositions] public partial Module Pos { get; }", inputs: "[Input(\"x\", 10, 63)]"),
            "MG2010", "SinusoidalPositions", "need an even width, but 'x' gives width 63");

    const string Image64 = "[Input(\"image\", 1, 64, 64)]";

    [Fact]
    public void MG2011_GroupsDoNotDivideTheChannels() =>
        Expect(Model("[Conv2d(12)] public partial Module Conv { get; }\n[GroupNorm(5)] public partial Module Gn { get; }", inputs: Image64),
            "MG2011", "5", "Layer 'gn': 12 channels are not divisible by Groups 5");

    [Fact]
    public void MG2011_ChannelReductionDoesNotDivide() =>
        Expect(Model("[Conv2d(48)] public partial Module Conv { get; }\n[SqueezeExcitation(Reduction = 32)] public partial Module Se { get; }", inputs: Image64),
            "MG2011", "Reduction = 32", "Layer 'se': 48 channels are not divisible by Reduction 32");

    [Fact]
    public void MG2011_NonLocalReductionDoesNotDivide() =>
        Expect(Model("[NonLocal(Reduction = 8)] public partial Module Nl { get; }", inputs: "[Input(\"x\", 12, 8, 8)]"),
            "MG2011", "Reduction = 8", "12 channels are not divisible by Reduction 8");

    const string SetrEncoder = "[PatchEmbedding(8, 32)] public partial Module Embed { get; }\n";

    [Fact]
    public void MG2012_UpsamplingFactorsMissTheImage() =>
        Expect(Model(SetrEncoder + "[SetrDecoder(11, Factors = new[] { 2, 2 })] public partial Module Decoder { get; }", inputs: Image64),
            "MG2012", "Factors = new[] { 2, 2 }", "upsampling by 2·2 = 4 takes the 8×8 patch grid to 32×32, but the image input 'image' is 64×64");

    [Fact]
    public void MG2012_GridToImageIsNotAPowerOfTwo() =>
        Expect(Model("[PatchEmbedding(6, 32)] public partial Module Embed { get; }\n[SetrDecoder(5)] public partial Module Decoder { get; }", inputs: "[Input(\"image\", 1, 48, 48)]"),
            "MG2012", "SetrDecoder(5)", "8×8 patch grid to 64×64, but the image input 'image' is 48×48");

    [Fact]
    public void MG2013_DecoderStopsShortOfTheInputResolution() =>
        Expect(Model(SetrEncoder + "[TokensToMap] public partial Module Map { get; }\n[Upsample(4)] public partial Module Up { get; }\n[PixelClassifier(11)] public partial Module Logits { get; }", inputs: Image64),
            "MG2013", "PixelClassifier(11)", "Layer 'logits' would give per-pixel logits at 32×32 (from 'up'), but the image input 'image' is 64×64");

    [Fact]
    public void MG2014_ClassTokenLeftInTheGrid() =>
        Expect(Model(SetrEncoder + "[ClassToken] public partial Module Cls { get; }\n[TokensToMap] public partial Module Map { get; }", inputs: Image64),
            "MG2014", "TokensToMap", "'cls' has 65 tokens; without the 0 skipped that leaves 65, which do not form a square grid");

    [Fact]
    public void MG2014_RectangularGridOfTheWrongSize() =>
        Expect(Model("[TokensToMap(GridHeight = 4, GridWidth = 5)] public partial Module Map { get; }", inputs: "[Input(\"x\", 24, 16)]"),
            "MG2014", "GridHeight = 4", "a 4×5 grid (20 positions)");

    [Fact]
    public void MG2015_KernelLargerThanTheMap() =>
        Expect(Model("[Conv2d(8, 7, Padding = 0)] public partial Module Conv { get; }", inputs: "[Input(\"x\", 8, 4, 4)]"),
            "MG2015", "7", "a 7×7 window with padding 0 does not fit 'x' of size 4×4");

    [Fact]
    public void MG2016_MaskTokensDifferFromTheClasses() =>
        Expect(Model(SetrEncoder + "[MaskTransformer(11, MaskTokens = 10)] public partial Module Decoder { get; }", inputs: Image64),
            "MG2016", "MaskTokens = 10", "Layer 'decoder': 10 mask tokens for 11 classes");

    [Fact]
    public void MG2017_RotaryPositionsOnAnOddHeadWidth() =>
        Expect(Model("[MultiHeadAttention(2, KeyDim = 15, Positions = RelativePositions.Rotary)] public partial Module Attn { get; }"),
            "MG2017", "Positions = RelativePositions.Rotary", "Layer 'attn': rotary positions rotate feature pairs, but the head width is 15");

    [Fact]
    public void MG2017_RotaryPositionsOnAnOddHeadWidthInAnEncoder() =>
        Expect(Model("[TransformerEncoder(2, 4, Positions = RelativePositions.Rotary)] public partial Module Encoder { get; }", inputs: "[Input(\"x\", 8, 36)]"),
            "MG2017", "Positions = RelativePositions.Rotary", "the head width is 9");

    [Fact]
    public void MG2018_RotaryPositionsOnCrossAttention() =>
        Expect(Model("[MultiHeadAttention(4, KeyValue = \"memory\", Positions = RelativePositions.Rotary)] public partial Module Cross { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"memory\", 5, 64)]"),
            "MG2018", "Positions = RelativePositions.Rotary", "the keys come from 'memory'");

    [Fact]
    public void MG2018_AlibiOnCrossAttention() =>
        Expect(Model("[MultiHeadAttention(4, KeyValue = \"memory\", Positions = RelativePositions.Alibi)] public partial Module Cross { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"memory\", 5, 64)]"),
            "MG2018", "Positions = RelativePositions.Alibi", "ALiBi positions compare the positions of queries and keys", "the keys come from 'memory'");

    [Fact]
    public void MG2019_AttentionMaskOfTheWrongShape() =>
        Expect(Model("[MultiHeadAttention(4, AttentionMask = \"mask\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"mask\", 8, 9, Kind = InputKind.AttentionMask)]"),
            "MG2019", "AttentionMask = \"mask\"", "attention mask 'mask' is (B, 8, 9)", "8 queries by 8 keys in 4 heads", "(8, 8) or (4, 8, 8)");

    [Fact]
    public void MG2019_AttentionBiasWithTheWrongHeads() =>
        Expect(Model("[TransformerEncoder(2, 4, AttentionMask = \"bias\")] public partial Module Encoder { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"bias\", 2, 8, 8, Kind = InputKind.AttentionBias)]"),
            "MG2019", "AttentionMask = \"bias\"", "attention mask 'bias' is (B, 2, 8, 8)", "(4, 8, 8)");

    [Fact]
    public void MG2019_CrossAttentionMaskNeedsTheKeysLength() =>
        Expect(Model("[MultiHeadAttention(2, KeyValue = \"memory\", AttentionMask = \"mask\")] public partial Module Cross { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"memory\", 5, 64)] [Input(\"mask\", 8, 8, Kind = InputKind.AttentionMask)]"),
            "MG2019", "AttentionMask = \"mask\"", "8 queries by 5 keys", "(8, 5)");

    [Fact]
    public void MG2007_DataUsedAsAttentionMask() =>
        Expect(Model("[MultiHeadAttention(4, AttentionMask = \"y\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"y\", 8, 8)]"),
            "MG2007", "AttentionMask = \"y\"", "uses 'y' as an attention mask", "InputKind.AttentionMask");

    [Fact]
    public void MG2007_PaddingMaskUsedAsAttentionMask() =>
        Expect(Model("[MultiHeadAttention(4, AttentionMask = \"pad\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"pad\", 8, Kind = InputKind.KeyPaddingMask)]"),
            "MG2007", "AttentionMask = \"pad\"", "uses 'pad' as an attention mask, but it is declared as a key padding mask");

    [Fact]
    public void MG2007_AttentionMaskUsedAsKeyPaddingMask() =>
        Expect(Model("[MultiHeadAttention(4, KeyPaddingMask = \"mask\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"mask\", 8, 8, Kind = InputKind.AttentionMask)]"),
            "MG2007", "KeyPaddingMask = \"mask\"", "uses 'mask' as a key padding mask, but it is declared as an attention mask");

    [Fact]
    public void MG2007_AttentionBiasFedToALayer() =>
        Expect(Model("[Linear(4, Input = \"bias\")] public partial Module A { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"bias\", 8, 8, Kind = InputKind.AttentionBias)]"),
            "MG2007", "Input = \"bias\"", "uses 'bias' as data, but it is declared as an attention bias");

    [Fact]
    public void MG2008_AttentionMaskOfRankOne() =>
        Expect(Model("[MultiHeadAttention(4, AttentionMask = \"mask\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"mask\", 8, Kind = InputKind.AttentionMask)]"),
            "MG2008", "Input(\"mask\", 8, Kind = InputKind.AttentionMask)", "an attention mask of shape (queries, keys) or (heads, queries, keys)", "(B, 8)");

    [Fact]
    public void MG2001_UnknownInputKind() =>
        Expect(Model("[Linear(4)] public partial Module A { get; }", inputs: "[Input(\"x\", 8, 64)] [Input(\"m\", 8, Kind = (InputKind)9)]"),
            "MG2001", "Input(\"m\", 8, Kind = (InputKind)9)", "Kind of input 'm' is 9", "one of InputKind's values");

    [Fact]
    public void MG2001_TooFewRelativeBuckets() =>
        Expect(Model("[MultiHeadAttention(4, Positions = RelativePositions.RelativeBias, RelativeBuckets = 3)] public partial Module Attn { get; }"),
            "MG2001", "RelativeBuckets = 3", "RelativeBuckets of layer 'attn' is 3; it must be at least 4 (half for each side of the query)");

    [Fact]
    public void MG2001_MaxDistanceWithinTheExactBuckets() =>
        Expect(Model("[MultiHeadAttention(4, Positions = RelativePositions.RelativeBias, Causal = true, RelativeBuckets = 16, MaxDistance = 8)] public partial Module Attn { get; }"),
            "MG2001", "MaxDistance = 8", "MaxDistance of layer 'attn' is 8; it must be greater than the 8 buckets of exact distances");

    [Fact]
    public void MG2001_UnknownPositions() =>
        Expect(Model("[MultiHeadAttention(4, Positions = (RelativePositions)7)] public partial Module Attn { get; }"),
            "MG2001", "Positions = (RelativePositions)7", "Positions of layer 'attn' is 7", "one of RelativePositions' values");

    [Fact]
    public void MG2020_DecoderWithoutAMemory() =>
        Expect(Model("[TransformerDecoderLayer(4)] public partial Module Decoder { get; }"),
            "MG2020", "TransformerDecoderLayer(4)", "Layer 'decoder': a Transformer decoder cross-attends to a memory", "Memory = \"...\"");

    [Fact]
    public void MG2008_DecoderMemoryIsNotASequence() =>
        Expect(Model("[TransformerDecoder(2, 4, Memory = \"memory\")] public partial Module Decoder { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"memory\", 64)]"),
            "MG2008", "Memory = \"memory\"", "needs a memory (B, tokens, width) but 'memory' gives (B, 64)");

    [Fact]
    public void MG2006_MemoryPaddingMaskOfTheWrongLength() =>
        Expect(Model("[TransformerDecoderLayer(4, Memory = \"memory\", MemoryKeyPaddingMask = \"pad\")] public partial Module Decoder { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"memory\", 5, 32)] [Input(\"pad\", 8, Kind = InputKind.KeyPaddingMask)]"),
            "MG2006", "MemoryKeyPaddingMask = \"pad\"", "mask 'pad' has length 8 but the keys have length 5");

    [Fact]
    public void MG2007_MemoryIsAMask() =>
        Expect(Model("[TransformerDecoderLayer(4, Memory = \"pad\")] public partial Module Decoder { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"pad\", 8, Kind = InputKind.KeyPaddingMask)]"),
            "MG2007", "Memory = \"pad\"", "uses 'pad' as a decoder's memory, but it is declared as a key padding mask");

    [Fact]
    public void MG2021_CausalLinformer() =>
        Expect(Model("[LinformerAttention(4, 4, Causal = true)] public partial Module Attn { get; }"),
            "MG2021", "Causal = true", "Layer 'attn': Linformer projects the 8 keys onto 4 mixtures of all of them, so Causal cannot apply");

    [Fact]
    public void MG2021_PaddedLinformer() =>
        Expect(Model("[LinformerAttention(4, 4, KeyPaddingMask = \"pad\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"pad\", 8, Kind = InputKind.KeyPaddingMask)]"),
            "MG2021", "KeyPaddingMask = \"pad\"", "so KeyPaddingMask cannot apply");

    [Fact]
    public void MG2001_LinformerProjectsOntoMoreThanTheTokens() =>
        Expect(Model("[LinformerAttention(4, 9)] public partial Module Attn { get; }"),
            "MG2001", "9", "ProjectedLength of layer 'attn' is 9; it must be between 1 and the 8 tokens");

    [Fact]
    public void MG2022_PerformerWithAlibi() =>
        Expect(Model("[PerformerAttention(4, 16, Positions = RelativePositions.Alibi)] public partial Module Attn { get; }"),
            "MG2022", "Positions = RelativePositions.Alibi",
            "Layer 'attn': Performer estimates softmax attention with 16 random features and never forms the 8×8 scores, so ALiBi cannot apply");

    [Fact]
    public void MG2022_PerformerWithAnAttentionMask_EvenWhenPadded() =>
        Expect(Model("[PerformerAttention(4, 16, KeyPaddingMask = \"pad\", AttentionMask = \"mask\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"pad\", 8, Kind = InputKind.KeyPaddingMask)] [Input(\"mask\", 8, 8, Kind = InputKind.AttentionMask)]"),
            "MG2022", "AttentionMask = \"mask\"", "so AttentionMask cannot apply");

    [Fact]
    public void MG2006_PerformerPaddingOfAnotherLength() =>
        Expect(Model("[PerformerAttention(4, 16, KeyPaddingMask = \"pad\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"pad\", 7, Kind = InputKind.KeyPaddingMask)]"),
            "MG2006", "KeyPaddingMask = \"pad\"", "Layer 'attn': key padding mask 'pad' has length 7 but the keys have length 8");

    [Fact]
    public void MG2028_ReformerChunkNotDividingTheTokens() =>
        Expect(Model("[ReformerAttention(4, 3)] public partial Module Attn { get; }"),
            "MG2028", "3", "Layer 'attn': Reformer attention sorts the 8 tokens of a hash round into chunks of 3, but 3 does not divide 8; choose a chunk that divides the tokens (e.g. 2)");

    [Fact]
    public void MG2029_ReformerWithAlibi() =>
        Expect(Model("[ReformerAttention(4, 4, Positions = RelativePositions.Alibi)] public partial Module Attn { get; }"),
            "MG2029", "Positions = RelativePositions.Alibi", "Layer 'attn': Reformer attention shares its queries and keys and scores each token only against its hash chunks, so ALiBi cannot apply");

    [Fact]
    public void MG2029_ReformerWithGroupedKeyValueHeads() =>
        Expect(Model("[ReformerAttention(4, 4, KvHeads = 2)] public partial Module Attn { get; }"), "MG2029", "KvHeads = 2", "so KvHeads = 2 cannot apply");

    [Fact]
    public void MG2029_ReformerWithAnAttentionMask() =>
        Expect(Model("[ReformerAttention(4, 4, AttentionMask = \"mask\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"mask\", 8, 8, Kind = InputKind.AttentionMask)]"),
            "MG2029", "AttentionMask = \"mask\"", "so AttentionMask cannot apply");

    [Fact]
    public void MG2001_ReformerWithOddBuckets() =>
        Expect(Model("[ReformerAttention(4, 4, Buckets = 5)] public partial Module Attn { get; }"),
            "MG2001", "Buckets = 5", "Buckets of layer 'attn' is 5; it must be even and at least 2 (or 0 for twice the chunks of a round)");

    [Fact]
    public void MG2006_ReformerPaddingOfAnotherLength() =>
        Expect(Model("[ReformerAttention(4, 4, KeyPaddingMask = \"pad\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"pad\", 6, Kind = InputKind.KeyPaddingMask)]"),
            "MG2006", "KeyPaddingMask = \"pad\"", "Layer 'attn': key padding mask 'pad' has length 6 but the keys have length 8");

    [Fact]
    public void MG2030_PatchMergingOfAnOddGrid() =>
        Expect(Model("[PatchEmbedding(4, 48)] public partial Module Embed { get; }\n[PatchMerging] public partial Module Merge { get; }",
                inputs: "[Input(\"image\", 3, 28, 28)]"),
            "MG2030", "PatchMerging", "Layer 'merge': patch merging joins 2×2 neighbours of the 7×7 grid of 'embed', but its height 7 is odd");

    [Fact]
    public void MG2030_PatchMergingOfAGridOfOddWidth_PointsAtGridWidth() =>
        Expect(Model("[PatchMerging(GridHeight = 4, GridWidth = 3)] public partial Module Merge { get; }", inputs: "[Input(\"x\", 12, 16)]"),
            "MG2030", "GridWidth = 3", "but its width 3 is odd");

    [Fact]
    public void MG2014_PatchMergingOfTokensThatFormNoSquare() =>
        Expect(Model("[PatchMerging] public partial Module Merge { get; }", inputs: "[Input(\"x\", 12, 16)]"), "MG2014", "PatchMerging", "a square grid");

    [Fact]
    public void MG2001_PerformerWithoutFeatures() =>
        Expect(Model("[PerformerAttention(4, 0)] public partial Module Attn { get; }"),
            "MG2001", "0", "Features of layer 'attn' is 0; it must be positive");

    [Fact]
    public void MG2001_ShawWithoutAClippingDistance() =>
        Expect(Model("[MultiHeadAttention(4, Positions = RelativePositions.Shaw, MaxDistance = 0)] public partial Module Attn { get; }"),
            "MG2001", "MaxDistance = 0", "MaxDistance of layer 'attn' is 0; it must be at least 1 (the clipping distance of the relative keys)");

    [Fact]
    public void MG2001_AdaptiveSpanWithoutARamp() =>
        Expect(Model("[MultiHeadAttention(4, Positions = RelativePositions.AdaptiveSpan, SpanRamp = 0)] public partial Module Attn { get; }"),
            "MG2001", "SpanRamp = 0", "SpanRamp of layer 'attn' is 0; it must be at least 1 token");

    [Fact]
    public void MG2024_SparseAttentionWithShawsRelativeKeys() =>
        Expect(Model("[SparseAttention(4, 4, Positions = RelativePositions.Shaw)] public partial Module Attn { get; }"),
            "MG2024", "Positions = RelativePositions.Shaw", "so Shaw's relative keys cannot apply to the scores");

    const string TokenInput = "[Input(\"ids\", 8, Kind = InputKind.Tokens)]";

    [Fact]
    public void MG2026_TiedToALinear() =>
        Expect(Model("[Embedding(40, 64)] public partial Module Embed { get; }\n[Linear(40)] public partial Module Proj { get; }\n" +
                "[Linear(40, TiedTo = \"Proj\")] public partial Module Head { get; }", inputs: TokenInput),
            "MG2026", "TiedTo = \"Proj\"", "Layer 'head' ties its weight to 'Proj', which is a [Linear] layer; only an [Embedding] layer's table can be tied");

    [Fact]
    public void MG2026_TiedToAnInput() =>
        Expect(Model("[Linear(40, TiedTo = \"x\")] public partial Module Head { get; }"),
            "MG2026", "TiedTo = \"x\"", "which is the input 'x'");

    [Fact]
    public void MG2027_TiedTableOfAnotherVocabulary() =>
        Expect(Model("[Embedding(40, 64)] public partial Module Embed { get; }\n[Linear(30, TiedTo = \"Embed\")] public partial Module Head { get; }", inputs: TokenInput),
            "MG2027", "TiedTo = \"Embed\"",
            "Layer 'head' would use the table of 'Embed', (40, 64) as (vocab, dim), as its weight (out 30, in 64): the out features must be the vocabulary and the incoming width the embedding's");

    [Fact]
    public void MG2027_TiedTableOfAnotherWidth() =>
        Expect(Model("[Embedding(40, 64)] public partial Module Embed { get; }\n[Linear(32)] public partial Module Down { get; }\n[Linear(40, TiedTo = \"Embed\")] public partial Module Head { get; }", inputs: TokenInput),
            "MG2027", "TiedTo = \"Embed\"", "(out 40, in 32)");

    [Fact]
    public void MG1004_TiedToALaterLayer() =>
        Expect(Model("[Linear(40, TiedTo = \"Embed\")] public partial Module Head { get; }\n[Embedding(40, 64)] public partial Module Embed { get; }"),
            "MG1004", "TiedTo = \"Embed\"", "by a layer declared after it");

    [Fact]
    public void MG2007_EmbeddingOfData() =>
        Expect(Model("[Embedding(40, 64)] public partial Module Embed { get; }"),
            "MG2007", "Embedding(40, 64)", "Layer 'embed' uses 'x' as token ids, but it is declared as data (declare token inputs with Kind = InputKind.Tokens)");

    [Fact]
    public void MG2007_LinearOfTokenIds() =>
        Expect(Model("[Linear(16)] public partial Module Proj { get; }", inputs: TokenInput),
            "MG2007", "Linear(16)", "Layer 'proj' uses 'ids' as data (token ids are read by an [Embedding] first), but it is declared as token ids");

    [Fact]
    public void MG2008_TokenIdsOfRankTwo() =>
        Expect(Model("[Embedding(40, 64)] public partial Module Embed { get; }", inputs: "[Input(\"ids\", 8, 2, Kind = InputKind.Tokens)]"),
            "MG2008", "Input(\"ids\", 8, 2, Kind = InputKind.Tokens)", "needs token ids of shape (tokens) but 'ids' gives (B, 8, 2)");

    [Fact]
    public void MG2001_EmbeddingPaddingOutsideTheVocabulary() =>
        Expect(Model("[Embedding(40, 64, PaddingIndex = 40)] public partial Module Embed { get; }", inputs: TokenInput),
            "MG2001", "PaddingIndex = 40", "-1 (none) or an id in [0, 40)");

    [Fact]
    public void MG2001_EmbeddingOfZeroDeviation() =>
        Expect(Model("[Embedding(40, 64, Std = 0)] public partial Module Embed { get; }", inputs: TokenInput),
            "MG2001", "Std = 0", "positive");

    [Fact]
    public void MG2025_TransformerWithoutATarget() =>
        Expect(Model("[Transformer(4, EncoderLayers = 1, DecoderLayers = 1)] public partial Module Model { get; }"),
            "MG2025", "Transformer(4, EncoderLayers = 1, DecoderLayers = 1)",
            "Layer 'model': an encoder–decoder Transformer decodes a target sequence; name it with Target = \"...\" (an input or an earlier layer, (B, tokens, 64))");

    [Fact]
    public void MG2004_TransformerTargetOfAnotherWidth() =>
        Expect(Model("[Transformer(4, Target = \"tgt\", EncoderLayers = 1, DecoderLayers = 1)] public partial Module Model { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"tgt\", 5, 32)]"),
            "MG2004", "Target = \"tgt\"", "Layer 'model' expects (B, tokens, 64) like the source but 'tgt' gives (B, 5, 32)");

    [Fact]
    public void MG2023_SparseBlockNotDividingTheTokens() =>
        Expect(Model("[SparseAttention(4, 3)] public partial Module Attn { get; }"),
            "MG2023", "3", "Layer 'attn': sparse attention splits the 8 tokens into blocks of 3, but 3 does not divide 8; choose a block that divides the tokens (e.g. 2)");

    [Fact]
    public void MG2024_SparseAttentionWithAnAttentionMask() =>
        Expect(Model("[SparseAttention(4, 4, AttentionMask = \"mask\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"mask\", 8, 8, Kind = InputKind.AttentionMask)]"),
            "MG2024", "AttentionMask = \"mask\"", "sparse attention computes only the blocks of its pattern, so AttentionMask cannot apply");

    [Fact]
    public void MG2001_SparseAttentionWithMoreGlobalBlocksThanBlocks() =>
        Expect(Model("[SparseAttention(4, 4, GlobalBlocks = 3)] public partial Module Attn { get; }"),
            "MG2001", "GlobalBlocks = 3", "GlobalBlocks of layer 'attn' is 3; it must be between 0 and the 2 blocks");

    [Fact]
    public void MG2006_AdditiveAttentionPaddingOfAnotherLength() =>
        Expect(Model("[AdditiveAttention(8, KeyValue = \"memory\", KeyPaddingMask = \"pad\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"memory\", 5, 32)] [Input(\"pad\", 8, Kind = InputKind.KeyPaddingMask)]"),
            "MG2006", "KeyPaddingMask = \"pad\"", "Layer 'attn': key padding mask 'pad' has length 8 but the keys have length 5");

    [Fact]
    public void MG2008_AdditiveAttentionOverAnImage() =>
        Expect(Model("[AdditiveAttention(8, KeyValue = \"image\")] public partial Module Attn { get; }",
                inputs: "[Input(\"x\", 8, 64)] [Input(\"image\", 1, 8, 8)]"),
            "MG2008", "KeyValue = \"image\"", "needs keys and values as (B, tokens, width) but 'image' gives (B, 1, 8, 8)");

    [Fact]
    public void MG2001_AdditiveAttentionWithoutAHiddenWidth() =>
        Expect(Model("[AdditiveAttention(0)] public partial Module Attn { get; }"),
            "MG2001", "0", "Hidden of layer 'attn' is 0; it must be positive");

    [Fact]
    public void MG2001_RotaryBaseOfOne() =>
        Expect(Model("[MultiHeadAttention(4, Positions = RelativePositions.Rotary, RotaryBase = 1)] public partial Module Attn { get; }"),
            "MG2001", "RotaryBase = 1", "RotaryBase of layer 'attn' is 1; it must be greater than 1");

    [Fact]
    public void MG2012_MaskHeadGridDoesNotScaleToTheImage() =>
        Expect(Model("[MaskClassifier(5, Input = \"tokens\")] public partial Module Head { get; }", inputs: "[Input(\"image\", 1, 30, 30)]\n[Input(\"tokens\", 16, 32)]"),
            "MG2012", "MaskClassifier(5, Input = \"tokens\")", "bilinear upsampling by 7 takes the 4×4 patch grid to 28×28, but the image input 'image' is 30×30");

    [Fact]
    public void MG2008_ConvolutionOnASequence() =>
        Expect(Model("[Conv2d(8)] public partial Module Conv { get; }"), "MG2008", "Conv2d(8)", "needs a feature map (B, channels, height, width) but 'x' gives (B, 8, 64)");

    [Fact]
    public void MG2004_ConvolutionChannelsDisagree() =>
        Expect(Model("[Conv2d(8, InChannels = 3)] public partial Module Conv { get; }", inputs: Image64),
            "MG2004", "InChannels = 3", "expects (B, 3, 64, 64) but 'image' gives (B, 1, 64, 64)");

    [Fact]
    public void MG2009_BothSidesNamedWhenNeitherDivides() =>
        Expect(Model("[PatchEmbedding(4, 16)] public partial Module Patches { get; }", inputs: "[Input(\"image\", 1, 30, 30)]"),
            "MG2009", "4", "height 30 % 4 = 2, width 30 % 4 = 2");

    [Fact]
    public void EveryDescriptorHasATestDocAndRegistryLine()
    {
        var root = RepoRoot();
        var tests = System.IO.File.ReadAllText(System.IO.Path.Combine(root, "tests/ModelGen.Generators.Tests/DiagnosticTests.cs"));
        var shipped = System.IO.File.ReadAllText(System.IO.Path.Combine(root, "generators/ModelGen.Generators/AnalyzerReleases.Shipped.md"))
            + System.IO.File.ReadAllText(System.IO.Path.Combine(root, "generators/ModelGen.Generators/AnalyzerReleases.Unshipped.md"));
        foreach (var d in DiagnosticDescriptors.All)
        {
            if (d.Id != "MG9001") Assert.Contains($"{d.Id}_", tests);
            Assert.Contains($"{d.Id} |", shipped);
            Assert.True(System.IO.File.Exists(System.IO.Path.Combine(root, "docs/diagnostics", d.Id + ".md")), $"docs/diagnostics/{d.Id}.md is missing");
        }
    }

    internal static string RepoRoot()
    {
        var dir = new System.IO.DirectoryInfo(System.AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "ModelGen.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new System.InvalidOperationException("ModelGen.sln not found above the test directory");
    }
}
