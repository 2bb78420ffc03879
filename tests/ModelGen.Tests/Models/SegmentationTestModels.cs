using ModelGen;

namespace ModelGen.Tests.Models;

/// <summary>A small SETR: 16×16 image, 4×4 patches, one encoder layer, a progressive-upsampling decoder back to 16×16.</summary>
[Model]
[Input("image", 1, 16, 16)]
public partial class TinySetr
{
    [PatchEmbedding(4, 16)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(1, 2, FeedForward = 32)] public partial Module Encoder { get; }
    [LayerNorm] public partial Module Norm { get; }
    [SetrDecoder(3, Channels = 8)] public partial Module Decoder { get; }
}

/// <summary>A small Segmenter: a class token in the encoder (skipped by the head) and a one-layer mask transformer of width 8.</summary>
[Model]
[Input("image", 1, 16, 16)]
public partial class TinySegmenter
{
    [PatchEmbedding(4, 16)] public partial Module Embed { get; }
    [ClassToken] public partial Module Cls { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(1, 2, FeedForward = 32)] public partial Module Encoder { get; }
    [LayerNorm] public partial Module Norm { get; }
    [MaskTransformer(3, Depth = 1, Heads = 2, Width = 8, Skip = 1)] public partial Module Decoder { get; }
}

/// <summary>A small MaskFormer-style model: four queries, one decoder layer, log-probabilities per pixel.</summary>
[Model]
[Input("image", 1, 16, 16)]
public partial class TinyMaskFormer
{
    [PatchEmbedding(4, 16)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(1, 2, FeedForward = 32)] public partial Module Encoder { get; }
    [MaskClassifier(3, Queries = 4, Depth = 1, Heads = 2)] public partial Module Head { get; }
}

/// <summary>Every map layer and spatial attention block in one chain, on a non-square map.</summary>
[Model]
[Input("x", 4, 6, 5)]
public partial class SpatialBlocks
{
    [Conv2d(8)] public partial Module Conv { get; }
    [BatchNorm] public partial Module Bn { get; }
    [Relu] public partial Module Act { get; }
    [SqueezeExcitation(Reduction = 4)] public partial Module Se { get; }
    [SpatialAttention(Kernel = 3)] public partial Module Sa { get; }
    [CoordinateAttention(Reduction = 4)] public partial Module Ca { get; }
    [NonLocal(Reduction = 2)] public partial Module Nl { get; }
    [GroupNorm(2)] public partial Module Gn { get; }
    [Upsample(2, Mode = UpsampleMode.Nearest)] public partial Module Up { get; }
    [MaxPool(2)] public partial Module MaxPool { get; }
    [Conv2d(6, 3, Stride = 2)] public partial Module Down { get; }
    [AvgPool(1)] public partial Module Avg { get; }
    [Sigmoid] public partial Module Out { get; }
}

/// <summary>Non-local blocks with the other three affinities, and tokens through a map and back.</summary>
[Model]
[Input("x", 6, 4, 3)]
public partial class NonLocalVariants
{
    [NonLocal(Affinity = Affinity.Gaussian, Reduction = 3)] public partial Module Gaussian { get; }
    [NonLocal(Affinity = Affinity.DotProduct)] public partial Module Dot { get; }
    [NonLocal(Affinity = Affinity.Concatenation)] public partial Module Concat { get; }
    [MapToTokens] public partial Module Tokens { get; }
    [ClassToken] public partial Module Cls { get; }
    [TokensToMap(Skip = 1, GridHeight = 4, GridWidth = 3)] public partial Module Map { get; }
    [Conv2d(2, 1)] public partial Module Head { get; }
}

/// <summary>One [ConvBnRelu], strided.</summary>
[Model]
[Input("x", 3, 9, 7)]
public partial class ConvBnReluBlock
{
    [ConvBnRelu(5, Stride = 2)] public partial Module Block { get; }
}

/// <summary>The same as three layers.</summary>
[Model]
[Input("x", 3, 9, 7)]
public partial class ConvBnReluChain
{
    [Conv2d(5, Stride = 2, Bias = false)] public partial Module Conv { get; }
    [BatchNorm] public partial Module Bn { get; }
    [Relu] public partial Module Act { get; }
}
