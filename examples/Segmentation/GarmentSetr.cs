using ModelGen;

namespace ModelGen.Examples.Segmentation;

/// <summary>
/// SETR with a progressive-upsampling decoder for 64×64 garment canvases: 8×8 patches (an 8×8 grid of 64 tokens) embedded to
/// width 64, learned positions, four pre-norm Transformer layers with 4 heads and an MLP of 128, a final LayerNorm, then the
/// tokens as a 64-channel 8×8 map upsampled ×2 three times (3×3 convolutions to 64, 32 and 32 channels, BatchNorm, ReLU,
/// bilinear) to per-pixel logits over 11 classes at 64×64. The same model as bench/peers/torch_setr.py.
/// Every shape is checked when this file compiles: with Factors = new[] { 2, 2 } the build fails with MG2012.
/// </summary>
[Model]
[Input("image", 1, 64, 64)]
public partial class GarmentSetr
{
    [PatchEmbedding(8, 64)] public partial Module Embed { get; }

    [LearnedPositions] public partial Module Pos { get; }

    [TransformerEncoder(4, 4, FeedForward = 128, Norm = NormPlacement.Pre)]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    [SetrDecoder(11, StageChannels = new[] { 64, 32, 32 })] public partial Module Decoder { get; }
}
