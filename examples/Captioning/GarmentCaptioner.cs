using ModelGen;

namespace ModelGen.Examples.Captioning;

/// <summary>
/// Reads a garment canvas (1, 64, 64) with a ViT encoder (8×8 patches, 3 layers) and decodes the garments' classes left to right
/// with a Transformer decoder (2 causal layers attending to the encoding): ids (5) are BOS and the classes so far, the output
/// (5, 13) the next token's logits at each position. The output projection is tied to the token embedding; the generated
/// <c>StartDecoding</c> decodes greedily through key/value caches.
/// </summary>
[Model]
[Input("canvas", 1, 64, 64)]
[Input("ids", Captions.Length, Kind = InputKind.Tokens)]
public partial class GarmentCaptioner
{
    [PatchEmbedding(8, 64)] public partial Module Patches { get; }
    [LearnedPositions] public partial Module PatchPositions { get; }
    [TransformerEncoder(3, 4, FeedForward = 128)] public partial Module Encoder { get; }
    [LayerNorm] public partial Module EncoderNorm { get; }

    [Embedding(Captions.Vocab, 64, Input = "ids", PaddingIndex = Captions.Pad, Std = 0.02)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module TokenPositions { get; }
    [TransformerDecoder(2, 4, Memory = "EncoderNorm", FeedForward = 128, Causal = true)] public partial Module Decoder { get; }
    [LayerNorm] public partial Module DecoderNorm { get; }
    [Linear(Captions.Vocab, TiedTo = "Embed")] public partial Module Head { get; }
}
