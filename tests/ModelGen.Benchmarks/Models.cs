using ModelGen;

namespace ModelGen.Benchmarks;

/// <summary>
/// ViT-Tiny/16 at 224×224: 16×16 patches (196 tokens + class token) to width 192, learned positions, 12 pre-norm layers
/// of 3 heads with an MLP of 768, final LayerNorm, class-token head over 1000 classes (~5.7 M parameters). Same as the
/// peer's <c>ViT(224, 16, 3, 192, 12, 3, 4, 1000)</c>.
/// </summary>
[Model]
[Input("image", 3, 224, 224)]
public partial class VitTiny
{
    [PatchEmbedding(16, 192)] public partial Module Embed { get; }

    [ClassToken] public partial Module Tokens { get; }

    [LearnedPositions] public partial Module Pos { get; }

    [TransformerEncoder(12, 3, FeedForward = 768, Norm = NormPlacement.Pre)]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    [ClassifierHead(1000, Pool = Pool.ClassToken)] public partial Module Head { get; }
}
