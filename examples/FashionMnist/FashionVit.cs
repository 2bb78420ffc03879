using ModelGen;

namespace ModelGen.Examples.FashionMnist;

/// <summary>
/// A Vision Transformer for 28×28 grey images: 4×4 patches (49 tokens) embedded to width 64, a class token, learned
/// positions, four pre-norm Transformer layers with 4 heads and an MLP of twice the width, and a class-token head.
/// Every shape below is checked when this file compiles: make the patch 5 and the build fails with MG2009.
/// </summary>
[Model]
[Input("image", 1, 28, 28)]
public partial class FashionVit
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
/// <see cref="FashionVit"/> with one head fewer in each layer (3 heads of width 16): what <c>--analyse</c> fills from a trained
/// model without the least important head of each layer (<see cref="ModelGen.Analysis.AttentionAnalysis.PruneHeads"/>).
/// </summary>
[Model]
[Input("image", 1, 28, 28)]
public partial class FashionVitPruned
{
    [PatchEmbedding(4, 64)] public partial Module Embed { get; }

    [ClassToken] public partial Module Tokens { get; }

    [LearnedPositions] public partial Module Pos { get; }

    [TransformerEncoder(4, 3, KeyDim = 16, FeedForward = 128, Norm = NormPlacement.Pre)]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    [ClassifierHead(10, Pool = Pool.ClassToken)] public partial Module Head { get; }
}
