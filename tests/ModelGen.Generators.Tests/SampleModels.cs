namespace ModelGen.Generators.Tests;

/// <summary>Representative declarations, as a user would write them.</summary>
public static class SampleModels
{
    public const string Encoder = """
        using ModelGen;

        namespace Samples;

        /// <summary>A causal, padded, grouped-query Transformer encoder with a classifier.</summary>
        [Model]
        [Input("x", 8, 32)]
        [Input("padding", 8, Kind = InputKind.KeyPaddingMask)]
        public partial class TinyEncoder
        {
            [TransformerEncoder(2, 4, KvHeads = 2, FeedForward = 64, Causal = true, KeyPaddingMask = "padding")]
            public partial Module Encoder { get; }

            [LayerNorm] public partial Module Norm { get; }

            [Linear(10)] public partial Module Head { get; }
        }
        """;

    /// <summary>Score biases: ALiBi with a per-sample boolean mask (summed by one op), and a learned T5 relative bias.</summary>
    public const string ScoreBiases = """
        using ModelGen;

        namespace Samples;

        [Model]
        [Input("x", 6, 16)]
        [Input("mask", 6, 6, Kind = InputKind.AttentionMask)]
        public partial class Biased
        {
            [MultiHeadAttention(2, Positions = RelativePositions.Alibi, AttentionMask = "mask")] public partial Module Attn { get; }
            [TransformerEncoderLayer(2, FeedForward = 32, Causal = true, Positions = RelativePositions.RelativeBias, RelativeBuckets = 8, MaxDistance = 16)]
            public partial Module Block { get; }
        }
        """;

    public const string EfficientAttention = """
        using ModelGen;

        namespace Samples;

        [Model]
        [Input("x", 10, 16)]
        [Input("pad", 10, Kind = InputKind.KeyPaddingMask)]
        public partial class Favor
        {
            [PerformerAttention(2, 12)] public partial Module Attn { get; }
            [PerformerAttention(4, 6, KvHeads = 2, Causal = true)] public partial Module Causal { get; }
            [ReformerAttention(2, 5, Buckets = 4, Causal = true, KeyPaddingMask = "pad")] public partial Module Lsh { get; }
            [SparseAttention(2, 2, GlobalBlocks = 1, RandomBlocks = 1, Seed = 4)] public partial Module Sparse { get; }
        }
        """;

    public const string LanguageModel = """
        using ModelGen;

        namespace Samples;

        [Model]
        [Input("ids", 16, Kind = InputKind.Tokens)]
        public partial class TinyGpt
        {
            [Embedding(96, 32, PaddingIndex = 0)] public partial Module Embed { get; }
            [LearnedPositions] public partial Module Pos { get; }
            [TransformerEncoder(2, 4, Causal = true)] public partial Module Blocks { get; }
            [LayerNorm] public partial Module Norm { get; }
            [Linear(96, TiedTo = "Embed")] public partial Module Head { get; }
        }
        """;

    public const string CrossAttention = """
        using ModelGen;

        namespace Samples;

        [Model]
        [Input("x", 6, 16)]
        [Input("memory", 10, 24)]
        public partial class CrossAttender
        {
            [MultiHeadAttention(2, KeyValue = "memory", KeyDim = 8, ValueDim = 4)] public partial Module Attn { get; }
            [Residual("x")] public partial Module Res { get; }
            [LayerNorm] public partial Module Norm { get; }
            [FeedForward(32, Activation = Activation.Relu, Dropout = 0.1)] public partial Module Mlp { get; }
            [Dropout(0.1)] public partial Module Drop { get; }
        }
        """;

    public const string ModuleReuse = """
        using ModelGen;

        namespace Samples;

        /// <summary>A post-norm attention block declared once.</summary>
        [Module]
        [Input("x", 16)]
        public partial class Block
        {
            [MultiHeadAttention(2)] public partial Module Attn { get; }
            [Residual("x")] public partial Module Res { get; }
            [LayerNorm] public partial Module Norm { get; }
        }

        [Model]
        [Input("tokens", 5, 16)]
        public partial class Stacked
        {
            [Use(typeof(Block), Depth = 2)] public partial Module Blocks { get; }
            [Gelu] public partial Module Act { get; }
            [Linear(4, InFeatures = 16, Bias = false)] public partial Module Head { get; }
        }
        """;

    public const string VisionTransformer = """
        using ModelGen;

        namespace Samples;

        /// <summary>ViT with 2-D sine-cosine positions, stochastic depth and a class-token head.</summary>
        [Model]
        [Input("image", 3, 32, 32)]
        public partial class Vit
        {
            [PatchEmbedding(8, 32)] public partial Module Embed { get; }
            [ClassToken] public partial Module Tokens { get; }
            [SinusoidalPositions(GridHeight = 4, GridWidth = 4)] public partial Module Pos { get; }
            [TransformerEncoder(2, 4, FeedForward = 64, DropPath = 0.1)] public partial Module Encoder { get; }
            [LayerNorm] public partial Module Norm { get; }
            [ClassifierHead(10)] public partial Module Head { get; }
        }
        """;

    public const string Segmentation = """
        using ModelGen;

        namespace Samples;

        /// <summary>SETR on 32×32 images, with squeeze-and-excitation and CBAM spatial attention on the patch map.</summary>
        [Model]
        [Input("image", 1, 32, 32)]
        public partial class Setr
        {
            [PatchEmbedding(8, 32)] public partial Module Embed { get; }
            [LearnedPositions] public partial Module Pos { get; }
            [TransformerEncoder(1, 4, FeedForward = 64)] public partial Module Encoder { get; }
            [TokensToMap] public partial Module Map { get; }
            [SqueezeExcitation(Reduction = 4)] public partial Module Se { get; }
            [SpatialAttention] public partial Module Sa { get; }
            [MapToTokens] public partial Module Tokens { get; }
            [SetrDecoder(5, StageChannels = new[] { 16, 8, 8 })] public partial Module Decoder { get; }
        }
        """;
}
