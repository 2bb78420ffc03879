using ModelGen;

namespace ModelGen.Benchmarks;

/// <summary>
/// The Fashion-MNIST ViT of examples/FashionMnist/FashionVit.cs, declared again here so the benchmarks need no example
/// project: 4×4 patches (49 tokens) to width 64, class token, learned positions, 4 pre-norm layers of 4 heads with an
/// MLP of 128, final LayerNorm, class-token head over 10 classes. Same as the peer's <c>ViT(28, 4, 1, 64, 4, 4, 2, 10)</c>.
/// </summary>
[Model]
[Input("image", 1, 28, 28)]
public partial class FashionVitBench
{
    [PatchEmbedding(4, 64)] public partial Module Embed { get; }

    [ClassToken] public partial Module Tokens { get; }

    [LearnedPositions] public partial Module Pos { get; }

    [TransformerEncoder(4, 4, FeedForward = 128, Norm = NormPlacement.Pre)]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    [ClassifierHead(10, Pool = Pool.ClassToken)] public partial Module Head { get; }
}

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
