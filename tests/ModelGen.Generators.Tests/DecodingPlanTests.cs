using System.Linq;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>Incremental decoding is generated exactly for the models that can run one position at a time: a token input through an
/// [Embedding] and a causal chain to the output, with any encoder before the embedding as the memory.</summary>
public class DecodingPlanTests
{
    static string Source(string inputs, string layers) => $$"""
        using ModelGen;
        namespace T;
        [Model]
        {{inputs}}
        public partial class M
        {
        {{layers}}
        }
        """;

    const string Ids = "[Input(\"ids\", 10, Kind = InputKind.Tokens)]";

    static bool Decodes(string source)
    {
        var result = GeneratorHarness.Run(source);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompileErrors);
        Assert.Empty(result.GeneratedWarnings);
        return result.Sources.Single(s => s.Hint == "T.M.Model.g.cs").Text.Contains("public DecodingSession StartDecoding(", System.StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Ids, "[Embedding(30, 16)] public partial Module E { get; }\n[TransformerEncoder(2, 2, Causal = true, Norm = NormPlacement.Post)] public partial Module B { get; }\n[Linear(30, TiedTo = \"E\")] public partial Module H { get; }")]
    [InlineData(Ids, "[Embedding(30, 16)] public partial Module E { get; }\n[MultiHeadAttention(2, Causal = true, KvHeads = 1)] public partial Module A { get; }\n[Residual(\"E\")] public partial Module R { get; }\n[Dropout(0.1)] public partial Module D { get; }\n[Gelu] public partial Module G { get; }\n[FeedForward(32)] public partial Module F { get; }")]
    [InlineData("[Input(\"x\", 5, 8)]" + Ids, "[TransformerEncoder(1, 2)] public partial Module Enc { get; }\n[Embedding(30, 16, Input = \"ids\")] public partial Module E { get; }\n[TransformerDecoderLayer(2, Memory = \"Enc\", Causal = true)] public partial Module D { get; }\n[LayerNorm] public partial Module N { get; }")]
    [InlineData(Ids, "[Embedding(30, 16)] public partial Module E { get; }\n[SinusoidalPositions] public partial Module P { get; }\n[TransformerEncoderLayer(2, Causal = true, Positions = RelativePositions.Rotary)] public partial Module B { get; }")]
    [InlineData(Ids, "[Embedding(30, 16)] public partial Module E { get; }\n[MultiHeadAttention(2, Causal = true, Positions = RelativePositions.Alibi)] public partial Module A { get; }\n[TransformerEncoderLayer(2, Causal = true, Positions = RelativePositions.RelativeBias)] public partial Module B { get; }")]
    public void CausalChains_Decode(string inputs, string layers) => Assert.True(Decodes(Source(inputs, layers)));

    [Theory]
    [InlineData(Ids, "[Embedding(30, 16)] public partial Module E { get; }\n[TransformerEncoderLayer(2)] public partial Module B { get; }")]
    [InlineData(Ids, "[Embedding(30, 16)] public partial Module E { get; }\n[MultiHeadAttention(2, Causal = true, Positions = RelativePositions.Shaw)] public partial Module A { get; }")]
    [InlineData(Ids, "[Embedding(30, 16)] public partial Module E { get; }\n[MeanPool] public partial Module P { get; }")]
    [InlineData("[Input(\"x\", 10, 16)]", "[TransformerEncoderLayer(2, Causal = true)] public partial Module B { get; }")]
    [InlineData("[Input(\"x\", 5, 8)]" + Ids, "[Embedding(30, 16, Input = \"ids\")] public partial Module E { get; }\n[TransformerDecoderLayer(2, Memory = \"E\", Causal = true)] public partial Module D { get; }")]
    [InlineData("[Input(\"image\", 1, 8, 8)]" + Ids, "[PatchEmbedding(2, 16)] public partial Module Pe { get; }\n[Embedding(30, 16, Input = \"ids\")] public partial Module E { get; }\n[TransformerDecoderLayer(2, Memory = \"Pe\", Causal = true, Positions = RelativePositions.AdaptiveSpan)] public partial Module D { get; }")]
    public void OtherModels_HaveNoDecoding(string inputs, string layers) => Assert.False(Decodes(Source(inputs, layers)));
}
