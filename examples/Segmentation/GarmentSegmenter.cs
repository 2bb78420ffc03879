using ModelGen;

namespace ModelGen.Examples.Segmentation;

/// <summary>
/// Segmenter for 64×64 garment canvases: the same encoder as <see cref="GarmentSetr"/> (8×8 patches to width 64, learned
/// positions, four pre-norm layers) and a mask transformer decoder: the 64 patch tokens and 11 learned class tokens pass two
/// Transformer layers; each patch's score for a class is the cosine of their projections, normalised over the classes and
/// upsampled ×8 to per-pixel logits (11, 64, 64).
/// </summary>
[Model]
[Input("image", 1, 64, 64)]
public partial class GarmentSegmenter
{
    [PatchEmbedding(8, 64)] public partial Module Embed { get; }

    [LearnedPositions] public partial Module Pos { get; }

    [TransformerEncoder(4, 4, FeedForward = 128, Norm = NormPlacement.Pre)]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    [MaskTransformer(11, Depth = 2, Heads = 4)] public partial Module Decoder { get; }
}
