using ModelGen;

namespace ModelGen.Tests.Models;

/// <summary>Pre-norm, causal, padded, grouped-query encoder with a final norm and a per-token head.</summary>
[Model]
[Input("x", 12, 32)]
[Input("padding", 12, Kind = InputKind.KeyPaddingMask)]
public partial class GqaEncoder
{
    [TransformerEncoder(2, 4, KvHeads = 2, FeedForward = 64, Causal = true, KeyPaddingMask = "padding")]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }

    [Linear(10)] public partial Module Head { get; }
}

/// <summary>Post-norm, ReLU, padded multi-head encoder without a final norm or head.</summary>
[Model]
[Input("x", 9, 24)]
[Input("padding", 9, Kind = InputKind.KeyPaddingMask)]
public partial class PostNormEncoder
{
    [TransformerEncoder(2, 4, FeedForward = 48, Norm = NormPlacement.Post, Activation = Activation.Relu, KeyPaddingMask = "padding")]
    public partial Module Encoder { get; }
}

/// <summary>Multi-query (one key/value head), causal, no projection bias, separate head widths.</summary>
[Model]
[Input("x", 7, 16)]
public partial class MqaEncoder
{
    [TransformerEncoder(3, 4, KvHeads = 1, KeyDim = 6, ValueDim = 5, FeedForward = 40, Causal = true, Bias = false)]
    public partial Module Encoder { get; }

    [LayerNorm] public partial Module Norm { get; }
}

/// <summary>A block declared once and used in a chain.</summary>
[Module]
[Input("x", 16)]
public partial class AttentionBlock
{
    [LayerNorm] public partial Module Norm { get; }
    [MultiHeadAttention(2)] public partial Module Attn { get; }
    [Residual("x")] public partial Module Res { get; }
}

/// <summary>Cross-attention, a reused module, feed-forward with dropout, mean pooling and a classifier: every op kind.</summary>
[Model]
[Input("x", 6, 16)]
[Input("memory", 5, 12)]
public partial class Mixed
{
    [LearnedPositions] public partial Module Pos { get; }
    [Use(typeof(AttentionBlock), Depth = 2)] public partial Module Blocks { get; }
    [MultiHeadAttention(4, KvHeads = 2, KeyValue = "memory")] public partial Module Cross { get; }
    [Residual("Blocks")] public partial Module Res { get; }
    [FeedForward(24, Dropout = 0.25)] public partial Module Mlp { get; }
    [Relu] public partial Module Act { get; }
    [Dropout(0.1)] public partial Module Drop { get; }
    [MeanPool] public partial Module Pool { get; }
    [Gelu] public partial Module Act2 { get; }
    [Linear(3)] public partial Module Head { get; }
}

/// <summary>A small Vision Transformer: patches, class token, learned positions, pre-norm encoder, class-token head.</summary>
[Model]
[Input("image", 2, 12, 8)]
public partial class TinyVit
{
    [PatchEmbedding(4, 16, Channels = 2)] public partial Module Embed { get; }
    [ClassToken] public partial Module Tokens { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(2, 2, FeedForward = 32)] public partial Module Encoder { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(5)] public partial Module Head { get; }
}

/// <summary>Mean-pooled ViT variant without a class token.</summary>
[Model]
[Input("image", 1, 8, 8)]
public partial class MeanPoolVit
{
    [PatchEmbedding(2, 8)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(1, 2, FeedForward = 16, Norm = NormPlacement.Post)] public partial Module Encoder { get; }
    [ClassifierHead(3, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary>A ViT with fixed 2-D sine-cosine positions over its 4×4 patch grid (after the class token).</summary>
[Model]
[Input("image", 1, 8, 8)]
public partial class SinusoidalVit
{
    [PatchEmbedding(2, 8)] public partial Module Embed { get; }
    [ClassToken] public partial Module Tokens { get; }
    [SinusoidalPositions(GridHeight = 4, GridWidth = 4)] public partial Module Pos { get; }
    [TransformerEncoder(1, 2, FeedForward = 16)] public partial Module Encoder { get; }
    [ClassifierHead(3)] public partial Module Head { get; }
}

/// <summary>Fixed 1-D positions on a token sequence.</summary>
[Model]
[Input("x", 6, 8)]
public partial class SinusoidalSequence
{
    [SinusoidalPositions] public partial Module Pos { get; }
    [MultiHeadAttention(2, Causal = true)] public partial Module Attn { get; }
    [MeanPool] public partial Module Pool { get; }
}

/// <summary><see cref="TinyVit"/> with stochastic depth: layer 0 gets rate 0 (no op), layer 1 rate 0.5.</summary>
[Model]
[Input("image", 2, 12, 8)]
public partial class DropPathVit
{
    [PatchEmbedding(4, 16, Channels = 2)] public partial Module Embed { get; }
    [ClassToken] public partial Module Tokens { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(2, 2, FeedForward = 32, DropPath = 0.5)] public partial Module Encoder { get; }
    [LayerNorm] public partial Module Norm { get; }
    [ClassifierHead(5)] public partial Module Head { get; }
}

/// <summary>Self-attention with rotary positions on queries and keys, as PyTorch's twin writes it (Peers/conv_ops_reference.py).</summary>
[Model]
[Input("x", 11, 24)]
public partial class RotaryAttention
{
    [MultiHeadAttention(3, Positions = RelativePositions.Rotary)] public partial Module Attn { get; }
}

/// <summary>Rotary positions in a causal, padded, grouped-query encoder stack (two layers share one angle table).</summary>
[Model]
[Input("x", 10, 32)]
[Input("padding", 10, Kind = InputKind.KeyPaddingMask)]
public partial class RotaryEncoder
{
    [TransformerEncoder(2, 4, KvHeads = 2, FeedForward = 48, Causal = true, KeyPaddingMask = "padding", Positions = RelativePositions.Rotary, RotaryBase = 500)]
    public partial Module Encoder { get; }

    [Linear(6)] public partial Module Head { get; }
}

/// <summary>Causal self-attention with ALiBi's fixed distance biases (PyTorch's twin: nn.MultiheadAttention's function with the
/// biases as its float attn_mask).</summary>
[Model]
[Input("x", 9, 24)]
public partial class AlibiAttention
{
    [MultiHeadAttention(3, Positions = RelativePositions.Alibi, Causal = true)] public partial Module Attn { get; }
}

/// <summary>Self-attention with T5's learned relative position bias; 8 buckets and a maximum distance of 10 put the distances of
/// 12 tokens in exact and logarithmic buckets on both sides.</summary>
[Model]
[Input("x", 12, 24)]
public partial class T5BiasAttention
{
    [MultiHeadAttention(4, Positions = RelativePositions.RelativeBias, RelativeBuckets = 8, MaxDistance = 10)] public partial Module Attn { get; }
}

/// <summary>Self-attention with a boolean attention mask per sample shared by the heads.</summary>
[Model]
[Input("x", 7, 16)]
[Input("mask", 7, 7, Kind = InputKind.AttentionMask)]
public partial class MaskedAttention
{
    [MultiHeadAttention(2, AttentionMask = "mask")] public partial Module Attn { get; }
}

/// <summary>A learned relative bias and an additive attention mask per head, on causal attention: one op sums them per sample.</summary>
[Model]
[Input("x", 8, 16)]
[Input("bias", 2, 8, 8, Kind = InputKind.AttentionBias)]
public partial class BiasedT5Attention
{
    [MultiHeadAttention(2, Positions = RelativePositions.RelativeBias, RelativeBuckets = 6, MaxDistance = 5, Causal = true, AttentionMask = "bias")]
    public partial Module Attn { get; }
}

/// <summary>ALiBi and a boolean attention mask in a grouped-query encoder stack, and a T5 bias in a second stack, for the
/// device kernels against the CPU.</summary>
[Model]
[Input("x", 10, 32)]
[Input("mask", 10, 10, Kind = InputKind.AttentionMask)]
public partial class ScoreBiasEncoder
{
    [TransformerEncoder(2, 4, KvHeads = 2, FeedForward = 48, Positions = RelativePositions.Alibi, AttentionMask = "mask")]
    public partial Module Encoder { get; }

    [TransformerEncoder(1, 2, FeedForward = 48, Positions = RelativePositions.RelativeBias, RelativeBuckets = 8, MaxDistance = 6)]
    public partial Module Relative { get; }

    [Linear(6)] public partial Module Head { get; }
}

/// <summary>A pre-norm causal decoder layer cross-attending to a padded memory, as torch.nn.TransformerDecoderLayer (ReLU).</summary>
[Model]
[Input("x", 7, 16)]
[Input("memory", 9, 16)]
[Input("memory_padding", 9, Kind = InputKind.KeyPaddingMask)]
public partial class PreNormDecoderLayer
{
    [TransformerDecoderLayer(2, FeedForward = 24, Causal = true, Norm = NormPlacement.Pre, Activation = Activation.Relu,
        Memory = "memory", MemoryKeyPaddingMask = "memory_padding")]
    public partial Module Decoder { get; }
}

/// <summary>A decoder reading a memory 12 wide, narrower than its own 16 (nn.MultiheadAttention's kdim = vdim = 12).</summary>
[Model]
[Input("x", 5, 16)]
[Input("memory", 4, 12)]
public partial class CrossDecoder
{
    [TransformerDecoder(1, 2, FeedForward = 16, Memory = "memory")] public partial Module Decoder { get; }
}

/// <summary>Two post-norm decoder layers (GELU), as torch.nn.TransformerDecoder of TransformerDecoderLayers.</summary>
[Model]
[Input("x", 6, 16)]
[Input("memory", 5, 16)]
public partial class PostNormDecoder
{
    [TransformerDecoder(2, 4, FeedForward = 32, Causal = true, Norm = NormPlacement.Post, Memory = "memory")]
    public partial Module Decoder { get; }
}

/// <summary>An encoder–decoder: the encoder reads the source, the decoder the target and the encoded source (a memory of
/// another length and width), with grouped-query heads and rotary positions on the decoder's self-attention.</summary>
[Model]
[Input("target", 6, 16)]
[Input("source", 8, 24)]
public partial class EncoderDecoder
{
    [TransformerEncoder(1, 2, FeedForward = 32, Input = "source")] public partial Module Encoder { get; }

    [TransformerDecoder(2, 4, KvHeads = 2, FeedForward = 32, Causal = true, Positions = RelativePositions.Rotary, Input = "target", Memory = "Encoder")]
    public partial Module Decoder { get; }

    [Linear(5)] public partial Module Head { get; }
}

/// <summary>Causal attention over 400 tokens in 4 heads: 2.5 MB of probabilities per sample, so the CPU backend keeps only each
/// row's log-sum-exp (memory-efficient attention) and recomputes the probabilities on request.</summary>
[Model]
[Input("x", 400, 16)]
public partial class LongAttention
{
    [MultiHeadAttention(4, Causal = true)] public partial Module Attn { get; }
}

/// <summary>Linformer self-attention: 20 tokens' keys and values projected onto 6 mixtures each (E and F).</summary>
[Model]
[Input("x", 20, 16)]
public partial class LinformerModel
{
    [LinformerAttention(2, 6)] public partial Module Attn { get; }
}

/// <summary>Linformer with one projection for keys and values and grouped-query heads.</summary>
[Model]
[Input("x", 15, 16)]
public partial class SharedLinformer
{
    [LinformerAttention(4, 5, KvHeads = 2, ShareKeyValue = true)] public partial Module Attn { get; }
}

/// <summary>Performer (FAVOR+) self-attention: 20 tokens, two heads of width 8, 24 random features.</summary>
[Model]
[Input("x", 20, 16)]
public partial class PerformerModel
{
    [PerformerAttention(2, 24)] public partial Module Attn { get; }
}

/// <summary>Causal Performer with grouped-query heads and rotary positions, 11 features (not a multiple of the head width).</summary>
[Model]
[Input("x", 13, 16)]
public partial class CausalPerformer
{
    [PerformerAttention(4, 11, KvHeads = 2, Causal = true, Positions = RelativePositions.Rotary)] public partial Module Attn { get; }
}

/// <summary>Performer over padded sequences, one key/value head: padded keys get no features.</summary>
[Model]
[Input("x", 12, 16)]
[Input("pad", 12, Kind = InputKind.KeyPaddingMask)]
public partial class PaddedPerformer
{
    [PerformerAttention(2, 16, KvHeads = 1, KeyPaddingMask = "pad")] public partial Module Attn { get; }
}

/// <summary>Causal Performer with a key padding mask: a query whose keys so far are all padded gives 0 before out_proj.</summary>
[Model]
[Input("x", 10, 12)]
[Input("pad", 10, Kind = InputKind.KeyPaddingMask)]
public partial class CausalPaddedPerformer
{
    [PerformerAttention(3, 9, Causal = true, KeyPaddingMask = "pad")] public partial Module Attn { get; }
}

/// <summary>Local sparse attention with a global block over padded sequences.</summary>
[Model]
[Input("x", 16, 16)]
[Input("pad", 16, Kind = InputKind.KeyPaddingMask)]
public partial class PaddedSparse
{
    [SparseAttention(2, 4, Window = 1, GlobalBlocks = 1, KeyPaddingMask = "pad")] public partial Module Attn { get; }
}

/// <summary>Swin's patch merging of a 4×6 grid of 12-wide tokens to 2×3 tokens of 24.</summary>
[Model]
[Input("x", 24, 12)]
public partial class MergingModel
{
    [PatchMerging(GridHeight = 4, GridWidth = 6)] public partial Module Merge { get; }
}

/// <summary>torchvision's VisionTransformer at a small size (32×32 images, patches of 8, width 32, 2 layers of 4 heads, MLP 64,
/// LayerNorm eps 1e-6), which timm's ViT shares: the declaration that reads both zoos' checkpoints.</summary>
[Model]
[Input("image", 3, 32, 32)]
public partial class ZooVit
{
    [PatchEmbedding(8, 32)] public partial Module Embed { get; }
    [ClassToken] public partial Module Tokens { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(2, 4, FeedForward = 64, Eps = 1e-6)] public partial Module Encoder { get; }
    [LayerNorm(Eps = 1e-6)] public partial Module Norm { get; }
    [ClassifierHead(10)] public partial Module Head { get; }
}

/// <summary>Reformer LSH attention: 24 tokens, two heads of width 8, 6 buckets, 2 hash rounds, chunks of 4.</summary>
[Model]
[Input("x", 24, 16)]
public partial class ReformerModel
{
    [ReformerAttention(2, 4, Buckets = 6)] public partial Module Attn { get; }
}

/// <summary>Causal Reformer with a key padding mask: 3 rounds, the default buckets (2·16 / 4 = 8), values 5 wide, no biases.</summary>
[Model]
[Input("x", 16, 12)]
[Input("pad", 16, Kind = InputKind.KeyPaddingMask)]
public partial class CausalReformer
{
    [ReformerAttention(3, 4, Rounds = 3, Causal = true, KeyPaddingMask = "pad", ValueDim = 5, Bias = false)] public partial Module Attn { get; }
}

/// <summary>nn.Transformer in small: 2 encoder and 2 decoder layers, post-norm, ReLU, a causal decoder; 7 source and 5 target tokens.</summary>
[Model]
[Input("src", 7, 16)]
[Input("tgt", 5, 16)]
public partial class TinyTransformer
{
    [Transformer(2, Input = "src", Target = "tgt", EncoderLayers = 2, DecoderLayers = 2, FeedForward = 24, Norm = NormPlacement.Post,
        Activation = Activation.Relu, Causal = true)]
    public partial Module Model { get; }
}

/// <summary>A pre-norm Transformer of one layer each with GELU, not causal.</summary>
[Model]
[Input("src", 6, 16)]
[Input("tgt", 8, 16)]
public partial class PreNormTransformer
{
    [Transformer(4, Input = "src", Target = "tgt", EncoderLayers = 1, DecoderLayers = 1, FeedForward = 32)]
    public partial Module Model { get; }
}

/// <summary>Adaptive attention span: 16 tokens, spans of at most 8 fading over 3, causal.</summary>
[Model]
[Input("x", 16, 16)]
public partial class AdaptiveSpanModel
{
    [MultiHeadAttention(2, Causal = true, Positions = RelativePositions.AdaptiveSpan, MaxDistance = 8, SpanRamp = 3)] public partial Module Attn { get; }
}

/// <summary>Fuzz seed 15033: an adaptive span beside an attention mask (the two score biases summed), grouped heads.</summary>
[Model]
[Input("x", 14, 12)]
[Input("mask", 14, 14, Kind = InputKind.AttentionMask)]
public partial class MaskedAdaptiveSpan
{
    [MultiHeadAttention(2, KeyDim = 8, KvHeads = 1, Positions = RelativePositions.AdaptiveSpan, AttentionMask = "mask")] public partial Module Attn { get; }
}

[Model]
[Input("x", 14, 12)]
[Input("attn_mask0", 14, 14, Kind = InputKind.AttentionMask)]
public partial class FuzzSpan15033
{
    [MultiHeadAttention(2, KeyDim = 8, KvHeads = 1, Positions = RelativePositions.AdaptiveSpan, AttentionMask = "attn_mask0")] public partial Module d { get; }
    [TransformerDecoderLayer(2, Memory = nameof(d), FeedForward = 16, Activation = Activation.Relu)] public partial Module DecoderLayer { get; }
    [TransformerEncoderLayer(6, Bias = false, DropPath = 0.2)] public partial Module Block { get; }
}

/// <summary>Two encoder layers of 4 heads (width 16, head width 4) and a head: a model to prune.</summary>
[Model]
[Input("x", 9, 16)]
public partial class FourHeadEncoder
{
    [TransformerEncoder(2, 4, FeedForward = 24)] public partial Module Encoder { get; }
    [ClassifierHead(3, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary><see cref="FourHeadEncoder"/> with one head of each layer pruned: 3 heads, each still 4 wide.</summary>
[Model]
[Input("x", 9, 16)]
public partial class PrunedFourHeadEncoder
{
    [TransformerEncoder(2, 3, KeyDim = 4, FeedForward = 24)] public partial Module Encoder { get; }
    [ClassifierHead(3, Pool = Pool.Mean)] public partial Module Head { get; }
}

/// <summary>Shaw's relative position representations: 9 tokens, keys within ±3 positions told apart.</summary>
[Model]
[Input("x", 9, 16)]
public partial class ShawModel
{
    [MultiHeadAttention(2, Positions = RelativePositions.Shaw, MaxDistance = 3)] public partial Module Attn { get; }
}

/// <summary>Causal attention with Shaw's relative keys clipped at 2 and an attention mask besides (the two biases summed).</summary>
[Model]
[Input("x", 7, 16)]
[Input("mask", 7, 7, Kind = InputKind.AttentionMask)]
public partial class CausalShaw
{
    [MultiHeadAttention(4, Causal = true, Positions = RelativePositions.Shaw, MaxDistance = 2, AttentionMask = "mask")] public partial Module Attn { get; }
}

/// <summary>BigBird-style sparse attention: 24 tokens in 6 blocks of 4, a window of ±1 block, 1 global block, 1 random block.</summary>
[Model]
[Input("x", 24, 16)]
public partial class SparseModel
{
    [SparseAttention(2, 4, GlobalBlocks = 1, RandomBlocks = 1, Seed = 3)] public partial Module Attn { get; }
}

/// <summary>Causal strided sparse attention with grouped heads and rotary positions: 20 tokens in blocks of 5.</summary>
[Model]
[Input("x", 20, 16)]
public partial class CausalSparse
{
    [SparseAttention(4, 5, KvHeads = 2, Causal = true, Window = 0, Stride = 2, Positions = RelativePositions.Rotary)] public partial Module Attn { get; }
}

/// <summary>Exact softmax attention beside Performers of 16 to 1024 features on the same 32 tokens: the approximation error.</summary>
[Model]
[Input("x", 32, 16)]
public partial class ExactAttention32
{
    [MultiHeadAttention(2)] public partial Module Attn { get; }
}

[Model]
[Input("x", 32, 16)]
public partial class Performer16
{
    [PerformerAttention(2, 16)] public partial Module Attn { get; }
}

[Model]
[Input("x", 32, 16)]
public partial class Performer64
{
    [PerformerAttention(2, 64)] public partial Module Attn { get; }
}

[Model]
[Input("x", 32, 16)]
public partial class Performer256
{
    [PerformerAttention(2, 256)] public partial Module Attn { get; }
}

[Model]
[Input("x", 32, 16)]
public partial class Performer1024
{
    [PerformerAttention(2, 1024)] public partial Module Attn { get; }
}

/// <summary>Bahdanau's additive attention from 5 decoder states (width 12) over 7 encoder states (width 20), hidden 9.</summary>
[Model]
[Input("x", 5, 12)]
[Input("memory", 7, 20)]
public partial class AdditiveAttender
{
    [AdditiveAttention(9, KeyValue = "memory")] public partial Module Attn { get; }
}

/// <summary>Additive and location-based attention over padded encoder states.</summary>
[Model]
[Input("x", 5, 12)]
[Input("memory", 7, 20)]
[Input("pad", 7, Kind = InputKind.KeyPaddingMask)]
public partial class PaddedAttenders
{
    [AdditiveAttention(9, KeyValue = "memory", KeyPaddingMask = "pad")] public partial Module Attn { get; }
    [LocationAttention(KeyValue = "memory", KeyPaddingMask = "pad", Input = "x")] public partial Module Loc { get; }
    [Residual("Attn")] public partial Module Both { get; }
}

[Model]
[Input("x", 5, 12)]
[Input("memory", 7, 20)]
[Input("pad", 7, Kind = InputKind.KeyPaddingMask)]
public partial class PaddedAdditive
{
    [AdditiveAttention(9, KeyValue = "memory", KeyPaddingMask = "pad")] public partial Module Attn { get; }
}

[Model]
[Input("x", 5, 12)]
[Input("memory", 7, 20)]
[Input("pad", 7, Kind = InputKind.KeyPaddingMask)]
public partial class PaddedLocation
{
    [LocationAttention(KeyValue = "memory", KeyPaddingMask = "pad")] public partial Module Attn { get; }
}

/// <summary>Luong's location-based attention of 5 decoder states over 7 encoder states.</summary>
[Model]
[Input("x", 5, 12)]
[Input("memory", 7, 20)]
public partial class LocationAttender
{
    [LocationAttention(KeyValue = "memory")] public partial Module Attn { get; }
}

/// <summary>Additive self-attention with a hidden width of 1 (a fuzzer case: one pairwise group once took the wrong layout).</summary>
[Model]
[Input("x", 6, 10)]
public partial class NarrowAdditiveSelfAttention
{
    [AdditiveAttention(1)] public partial Module Attn { get; }
}

/// <summary>A causal language model in small: 12 token ids over a vocabulary of 23 (id 0 pads), learned positions, one pre-norm
/// block, a final norm and the output projection tied to the embedding.</summary>
[Model]
[Input("ids", 12, Kind = InputKind.Tokens)]
public partial class TinyLanguageModel
{
    [Embedding(23, 16, PaddingIndex = 0)] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerEncoder(1, 2, FeedForward = 32, Causal = true)] public partial Module Blocks { get; }
    [LayerNorm] public partial Module Norm { get; }
    [Linear(23, TiedTo = "Embed")] public partial Module Head { get; }
}

/// <summary>An encoder–decoder over token ids in small: 6 feature vectors (some padded) encoded without a mask, then 9 target ids
/// decoded by a post-norm causal decoder of two layers that reads the encoding as its memory.</summary>
[Model]
[Input("features", 6, 12)]
[Input("ids", 9, Kind = InputKind.Tokens)]
[Input("feature_padding", 6, Kind = InputKind.KeyPaddingMask)]
public partial class TinyCaptioner
{
    [Linear(16)] public partial Module Lift { get; }
    [TransformerEncoder(1, 2, FeedForward = 24)] public partial Module Encoder { get; }
    [Embedding(19, 16, Input = "ids")] public partial Module Embed { get; }
    [LearnedPositions] public partial Module Pos { get; }
    [TransformerDecoder(2, 4, Memory = "Encoder", FeedForward = 24, Causal = true, Norm = NormPlacement.Post, MemoryKeyPaddingMask = "feature_padding")]
    public partial Module Decoder { get; }
    [Linear(19)] public partial Module Head { get; }
}

/// <summary>A language model with sine-cosine positions and rotary, grouped-query attention, its head tied without a bias: what
/// incremental decoding carries besides learned positions.</summary>
[Model]
[Input("ids", 10, Kind = InputKind.Tokens)]
public partial class RotaryLanguageModel
{
    [Embedding(17, 16, Std = 0.02)] public partial Module Embed { get; }
    [SinusoidalPositions] public partial Module Pos { get; }
    [TransformerEncoder(2, 4, KvHeads = 2, FeedForward = 32, Causal = true, Positions = RelativePositions.Rotary)] public partial Module Blocks { get; }
    [LayerNorm] public partial Module Norm { get; }
    [Linear(17, TiedTo = "Embed", Bias = false)] public partial Module Head { get; }
}

/// <summary>A language model whose attentions bias their scores: T5's learned relative bias (8 buckets, max distance 6) in a block,
/// then ALiBi: incremental decoding adds each position's row of the biases.</summary>
[Model]
[Input("ids", 11, Kind = InputKind.Tokens)]
public partial class BiasedLanguageModel
{
    [Embedding(15, 16)] public partial Module Embed { get; }
    [TransformerEncoderLayer(2, Causal = true, FeedForward = 32, Positions = RelativePositions.RelativeBias, RelativeBuckets = 8, MaxDistance = 6)]
    public partial Module Block { get; }
    [MultiHeadAttention(4, Causal = true, Positions = RelativePositions.Alibi)] public partial Module Attn { get; }
    [Linear(15)] public partial Module Head { get; }
}

/// <summary>Causal cross-attention from token positions to an input memory (fuzz seed 50306): position t reads the memory's first
/// t + 1 keys, in the full forward and in each decoding step.</summary>
[Model]
[Input("ids", 6, Kind = InputKind.Tokens)]
[Input("enc", 9, 12)]
public partial class CausalCrossAttender
{
    [Embedding(11, 16)] public partial Module Embed { get; }
    [MultiHeadAttention(4, ValueDim = 6, Causal = true, KeyValue = "enc")] public partial Module Attn { get; }
}
