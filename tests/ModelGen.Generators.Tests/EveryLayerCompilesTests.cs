using System.Linq;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>One small valid declaration per layer kind: accepted without a diagnostic, and the user's code with the generated code
/// compiles without an error.</summary>
public class EveryLayerCompilesTests
{
    const string Sequence = "[Input(\"x\", 10, 16)]";
    const string Map = "[Input(\"x\", 4, 8, 6)]";
    const string Image = "[Input(\"image\", 1, 16, 16)]";
    const string Encoded = "[PatchEmbedding(4, 16)] public partial Module Embed { get; }\n[TransformerEncoder(1, 2)] public partial Module Encoder { get; }\n";

    [Theory]
    [InlineData(Sequence, "[Linear(8, Bias = false)] public partial Module L { get; }")]
    [InlineData(Sequence, "[LayerNorm(Eps = 1e-6)] public partial Module L { get; }")]
    [InlineData(Sequence, "[Gelu] public partial Module L { get; }")]
    [InlineData(Sequence, "[Relu] public partial Module L { get; }")]
    [InlineData(Sequence, "[Sigmoid] public partial Module L { get; }")]
    [InlineData(Sequence, "[Dropout(0.2)] public partial Module L { get; }")]
    [InlineData(Sequence, "[Linear(16)] public partial Module A { get; }\n[Residual(\"x\")] public partial Module L { get; }")]
    [InlineData(Sequence, "[FeedForward(32, Activation = Activation.Relu)] public partial Module L { get; }")]
    [InlineData(Sequence, "[MeanPool] public partial Module L { get; }")]
    [InlineData(Sequence, "[LearnedPositions] public partial Module L { get; }")]
    [InlineData("[Input(\"ids\", 9, Kind = InputKind.Tokens)]", "[Embedding(50, 16, PaddingIndex = 0)] public partial Module L { get; }")]
    [InlineData("[Input(\"ids\", 9, Kind = InputKind.Tokens)]", "[Embedding(50, 16)] public partial Module Embed { get; }\n[TransformerEncoderLayer(2, Causal = true)] public partial Module Block { get; }\n[Linear(50, TiedTo = \"Embed\")] public partial Module L { get; }")]
    [InlineData(Sequence, "[SinusoidalPositions] public partial Module L { get; }")]
    [InlineData(Sequence, "[ClassToken] public partial Module L { get; }")]
    [InlineData(Sequence, "[ClassifierHead(3, Pool = Pool.Mean)] public partial Module L { get; }")]
    [InlineData(Image, "[PatchEmbedding(4, 16)] public partial Module L { get; }")]
    [InlineData(Sequence, "[MultiHeadAttention(4, KvHeads = 2, Causal = true)] public partial Module L { get; }")]
    [InlineData(Sequence, "[MultiHeadAttention(4, Positions = RelativePositions.Alibi)] public partial Module L { get; }")]
    [InlineData(Sequence, "[TransformerEncoderLayer(2, Causal = true, Positions = RelativePositions.Shaw, MaxDistance = 3)] public partial Module L { get; }")]
    [InlineData(Sequence, "[MultiHeadAttention(2, Positions = RelativePositions.AdaptiveSpan, MaxDistance = 6, SpanRamp = 2)] public partial Module L { get; }")]
    [InlineData(Sequence + "[Input(\"tgt\", 6, 16)]", "[Transformer(2, Target = \"tgt\", EncoderLayers = 1, DecoderLayers = 2, Causal = true, Positions = RelativePositions.RelativeBias)] public partial Module L { get; }")]
    [InlineData(Sequence, "[LinformerAttention(2, 4, ShareKeyValue = true)] public partial Module L { get; }")]
    [InlineData(Sequence, "[PerformerAttention(2, 7, KvHeads = 1, Causal = true, Positions = RelativePositions.Rotary)] public partial Module L { get; }")]
    [InlineData(Sequence, "[ReformerAttention(2, 2, Buckets = 4, Rounds = 3, Causal = true, ValueDim = 3)] public partial Module L { get; }")]
    [InlineData(Sequence, "[ReformerAttention(4, 5, Bias = false)] public partial Module L { get; }")]
    [InlineData(Image, "[PatchEmbedding(4, 16)] public partial Module E { get; }\n[PatchMerging] public partial Module L { get; }")]
    [InlineData("[Input(\"x\", 12, 16)]", "[PatchMerging(GridHeight = 2, GridWidth = 6, OutDim = 20, Eps = 1e-6)] public partial Module L { get; }")]
    [InlineData(Sequence + "[Input(\"pad\", 10, Kind = InputKind.KeyPaddingMask)]", "[PerformerAttention(2, 5, Causal = true, KeyPaddingMask = \"pad\")] public partial Module L { get; }")]
    [InlineData(Sequence + "[Input(\"pad\", 10, Kind = InputKind.KeyPaddingMask)]", "[SparseAttention(2, 5, Causal = true, KeyPaddingMask = \"pad\")] public partial Module L { get; }")]
    [InlineData(Sequence, "[SparseAttention(2, 2, GlobalBlocks = 1, RandomBlocks = 1, Stride = 2, Causal = true)] public partial Module L { get; }")]
    [InlineData(Sequence + "[Input(\"memory\", 5, 12)]", "[AdditiveAttention(8, KeyValue = \"memory\", Bias = false)] public partial Module L { get; }")]
    [InlineData(Sequence, "[LocationAttention] public partial Module L { get; }")]
    [InlineData(Sequence, "[MultiHeadAttention(4, Positions = RelativePositions.RelativeBias, Causal = true)] public partial Module L { get; }")]
    [InlineData(Sequence, "[TransformerEncoderLayer(2, Norm = NormPlacement.Post)] public partial Module L { get; }")]
    [InlineData(Sequence, "[TransformerEncoder(2, 4, DropPath = 0.1)] public partial Module L { get; }")]
    [InlineData(Sequence + "[Input(\"memory\", 5, 12)]", "[TransformerDecoderLayer(4, Causal = true, Memory = \"memory\", Dropout = 0.1)] public partial Module L { get; }")]
    [InlineData(Sequence + "[Input(\"memory\", 5, 16)]", "[TransformerDecoder(2, 4, Norm = NormPlacement.Post, Memory = \"memory\", DropPath = 0.1)] public partial Module L { get; }")]
    [InlineData(Map, "[Conv2d(5, 3, Stride = 2)] public partial Module L { get; }")]
    [InlineData(Map, "[ConvBnRelu(5, Stride = 2)] public partial Module L { get; }")]
    [InlineData(Map, "[BatchNorm] public partial Module L { get; }")]
    [InlineData(Map, "[GroupNorm(2)] public partial Module L { get; }")]
    [InlineData(Map, "[Upsample(2, Mode = UpsampleMode.Nearest)] public partial Module L { get; }")]
    [InlineData(Map, "[MaxPool(2)] public partial Module L { get; }")]
    [InlineData(Map, "[AvgPool(3, Stride = 1)] public partial Module L { get; }")]
    [InlineData("[Input(\"x\", 12, 16)]", "[TokensToMap(GridHeight = 3, GridWidth = 4)] public partial Module L { get; }")]
    [InlineData(Map, "[MapToTokens] public partial Module L { get; }")]
    [InlineData("[Input(\"image\", 4, 8, 6)]", "[PixelClassifier(3)] public partial Module L { get; }")]
    [InlineData(Map, "[SqueezeExcitation(Reduction = 2)] public partial Module L { get; }")]
    [InlineData(Map, "[SpatialAttention(Kernel = 3)] public partial Module L { get; }")]
    [InlineData(Map, "[CoordinateAttention(Reduction = 2)] public partial Module L { get; }")]
    [InlineData(Map, "[NonLocal(Affinity = Affinity.Concatenation)] public partial Module L { get; }")]
    [InlineData(Image, Encoded + "[SetrDecoder(3, Channels = 8)] public partial Module L { get; }")]
    [InlineData(Image, Encoded + "[MaskTransformer(3, Depth = 1)] public partial Module L { get; }")]
    [InlineData(Image, Encoded + "[MaskClassifier(3, Depth = 1)] public partial Module L { get; }")]
    [InlineData(Sequence, "[Use(typeof(Block), Depth = 2)] public partial Module L { get; }")]
    public void Compiles(string input, string layers)
    {
        var source = $$"""
            using ModelGen;
            namespace T;
            [Module]
            [Input("h", 16)]
            public partial class Block { [Linear(16)] public partial Module Fc { get; } }
            [Model]
            {{input}}
            public partial class M
            {
            {{layers}}
            }
            """;
        var result = GeneratorHarness.Run(source);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.True(result.CompileErrors.IsEmpty, string.Join("\n", result.CompileErrors.Select(d => d.ToString())));
        Assert.True(!result.GeneratedWarnings.Any(), string.Join("\n", result.GeneratedWarnings.Select(d => d.ToString())));
        Assert.Contains(result.Sources, s => s.Hint == "T.M.Forward.g.cs");
    }
}
