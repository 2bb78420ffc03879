using ModelGen;

namespace ModelGen.Examples.FashionMnist;

/// <summary>
/// A Transformer that reads a 28×28 image as a sequence of 28 rows: each row (28 pixels) is a token.
/// Every shape below is checked when this file compiles; change Heads to 5 and the build fails with MG2002.
/// </summary>
[Model]
[Input("image", 28, 28)]
public partial class RowTransformer
{
    [Linear(64)] public partial Module Embed { get; }

    [LearnedPositions] public partial Module Positions { get; }

    [TransformerEncoder(3, 4, FeedForward = 128, Norm = NormPlacement.Pre)]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    [MeanPool] public partial Module Pool { get; }

    [Linear(10)] public partial Module Head { get; }
}
