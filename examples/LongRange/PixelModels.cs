using ModelGen;

namespace ModelGen.Examples.LongRange;

// Fashion-MNIST as Long Range Arena's image task reads an image: a sequence of 784 pixels, one token per pixel, classified
// after one pre-norm Transformer block of width 32 (2 heads) and mean pooling. The six models differ only in the attention
// of that block; each compiles with its shapes checked (e.g. a sparse block of 30 would not divide the 784 tokens: MG2023).

/// <summary>Full softmax attention: 784² scores per head, which the CPU runs memory-efficiently (row log-sum-exp kept).</summary>
[Model]
[Input("pixels", 784, 1)]
public partial class PixelFull
{
    [Linear(32)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [LayerNorm] public partial Module Norm1 { get; }
    [MultiHeadAttention(2)] public partial Module Attn { get; }
    [Residual("Pos")] public partial Module Mixed { get; }
    [LayerNorm] public partial Module Norm2 { get; }
    [FeedForward(64)] public partial Module Mlp { get; }
    [Residual("Mixed")] public partial Module Block { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(10, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary>Linformer: keys and values projected onto 64 mixtures of the 784 pixels.</summary>
[Model]
[Input("pixels", 784, 1)]
public partial class PixelLinformer
{
    [Linear(32)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [LayerNorm] public partial Module Norm1 { get; }
    [LinformerAttention(2, 64)] public partial Module Attn { get; }
    [Residual("Pos")] public partial Module Mixed { get; }
    [LayerNorm] public partial Module Norm2 { get; }
    [FeedForward(64)] public partial Module Mlp { get; }
    [Residual("Mixed")] public partial Module Block { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(10, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary>Performer: FAVOR+ with 64 random features per head.</summary>
[Model]
[Input("pixels", 784, 1)]
public partial class PixelPerformer
{
    [Linear(32)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [LayerNorm] public partial Module Norm1 { get; }
    [PerformerAttention(2, 64)] public partial Module Attn { get; }
    [Residual("Pos")] public partial Module Mixed { get; }
    [LayerNorm] public partial Module Norm2 { get; }
    [FeedForward(64)] public partial Module Mlp { get; }
    [Residual("Mixed")] public partial Module Block { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(10, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary>Reformer: LSH attention of shared queries and keys, 2 hash rounds into 56 buckets, chunks of 28 sorted pixels.</summary>
[Model]
[Input("pixels", 784, 1)]
public partial class PixelReformer
{
    [Linear(32)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [LayerNorm] public partial Module Norm1 { get; }
    [ReformerAttention(2, 28)] public partial Module Attn { get; }
    [Residual("Pos")] public partial Module Mixed { get; }
    [LayerNorm] public partial Module Norm2 { get; }
    [FeedForward(64)] public partial Module Mlp { get; }
    [Residual("Mixed")] public partial Module Block { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(10, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary>BigBird: blocks of 28 pixels (an image row each), a window of ±1 row, the first row global, 2 random rows.</summary>
[Model]
[Input("pixels", 784, 1)]
public partial class PixelBigBird
{
    [Linear(32)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [LayerNorm] public partial Module Norm1 { get; }
    [SparseAttention(2, 28, GlobalBlocks = 1, RandomBlocks = 2)] public partial Module Attn { get; }
    [Residual("Pos")] public partial Module Mixed { get; }
    [LayerNorm] public partial Module Norm2 { get; }
    [FeedForward(64)] public partial Module Mlp { get; }
    [Residual("Mixed")] public partial Module Block { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(10, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary>Sliding-window (local) attention: each row of 28 pixels attends to itself and the rows above and below.</summary>
[Model]
[Input("pixels", 784, 1)]
public partial class PixelLocal
{
    [Linear(32)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [LayerNorm] public partial Module Norm1 { get; }
    [SparseAttention(2, 28, Window = 1)] public partial Module Attn { get; }
    [Residual("Pos")] public partial Module Mixed { get; }
    [LayerNorm] public partial Module Norm2 { get; }
    [FeedForward(64)] public partial Module Mlp { get; }
    [Residual("Mixed")] public partial Module Block { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(10, Pool = Pool.Mean)] public partial Module Head { get; }
}
