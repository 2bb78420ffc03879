using System;

namespace ModelGen;

/// <summary>Base of every layer attribute. A layer reads the previous layer's output unless <see cref="Input"/> names another edge (an input or an earlier layer).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public abstract class LayerAttribute : Attribute
{
    /// <summary>Only ModelGen's own layer kinds: each has a rule in the generator.</summary>
    private protected LayerAttribute()
    {
    }

    /// <summary>The edge this layer reads: an input name or an earlier layer's property name.</summary>
    public string? Input { get; set; }
}

/// <summary>y = x·Wᵀ + b over the last dimension. Parameters <c>weight</c> (out, in) and <c>bias</c> (out).</summary>
public sealed class LinearAttribute : LayerAttribute
{
    public LinearAttribute(int outFeatures) => OutFeatures = outFeatures;

    public int OutFeatures { get; }

    /// <summary>When set, the width this layer expects; a different incoming width is a compile-time error.</summary>
    public int InFeatures { get; set; }

    public bool Bias { get; set; } = true;

    /// <summary>The name of an earlier <see cref="EmbeddingAttribute"/> layer whose table (vocab, dim) this layer uses as its weight
    /// (out = vocab, in = dim): the output projection of a language model tied to its input embedding, as in the original
    /// Transformer and GPT-2. The layer then has no <c>weight</c> of its own, only its <c>bias</c>; both uses add to one gradient.</summary>
    public string? TiedTo { get; set; }
}

/// <summary>Layer normalization over the last dimension. Parameters <c>weight</c> and <c>bias</c>.</summary>
public sealed class LayerNormAttribute : LayerAttribute
{
    public double Eps { get; set; } = 1e-5;
}

/// <summary>GELU (exact, erf form).</summary>
public sealed class GeluAttribute : LayerAttribute
{
}

/// <summary>ReLU.</summary>
public sealed class ReluAttribute : LayerAttribute
{
}

/// <summary>Inverted dropout while training; identity in evaluation.</summary>
public sealed class DropoutAttribute : LayerAttribute
{
    public DropoutAttribute(double p) => P = p;

    public double P { get; }
}

/// <summary>Residual sum: the incoming edge plus the edge named by <see cref="From"/>; both must have the same shape.</summary>
public sealed class ResidualAttribute : LayerAttribute
{
    public ResidualAttribute(string from) => From = from;

    public string From { get; }
}

/// <summary>Feed-forward block: Linear(D→Hidden), activation, dropout, Linear(Hidden→D). Parameters <c>fc1.*</c>, <c>fc2.*</c>.</summary>
public sealed class FeedForwardAttribute : LayerAttribute
{
    public FeedForwardAttribute(int hidden) => Hidden = hidden;

    public int Hidden { get; }

    public Activation Activation { get; set; } = Activation.Gelu;

    public double Dropout { get; set; }
}

/// <summary>Options shared by attention and the Transformer layers that contain it.</summary>
public abstract class AttentionOptionsAttribute : LayerAttribute
{
    private protected AttentionOptionsAttribute(int heads) => Heads = heads;

    /// <summary>Query heads.</summary>
    public int Heads { get; }

    /// <summary>Key/value heads for grouped-query (1 = multi-query). 0 means equal to <see cref="Heads"/>.</summary>
    public int KvHeads { get; set; }

    /// <summary>Width of each query/key head. 0 means model width / heads.</summary>
    public int KeyDim { get; set; }

    /// <summary>Width of each value head. 0 means <see cref="KeyDim"/>.</summary>
    public int ValueDim { get; set; }

    /// <summary>Mask keys after the query position.</summary>
    public bool Causal { get; set; }

    /// <summary>Name of a <see cref="InputKind.KeyPaddingMask"/> input.</summary>
    public string? KeyPaddingMask { get; set; }

    /// <summary>Name of an <see cref="InputKind.AttentionMask"/> input (a nonzero entry masks that query–key score) or an
    /// <see cref="InputKind.AttentionBias"/> input (added to the scaled scores), of shape (queries, keys) shared by the heads
    /// or (heads, queries, keys). Combines with <see cref="Causal"/>, <see cref="KeyPaddingMask"/> and the positions.</summary>
    public string? AttentionMask { get; set; }

    /// <summary>Bias on the q/k/v/out projections.</summary>
    public bool Bias { get; set; } = true;

    /// <summary>Positions inside the attention (self-attention only): <see cref="RelativePositions.Rotary"/> rotates queries and
    /// keys by their token position (the head width must be even); <see cref="RelativePositions.Alibi"/> and
    /// <see cref="RelativePositions.RelativeBias"/> add a bias for each query–key distance to the scores.</summary>
    public RelativePositions Positions { get; set; }

    /// <summary>The buckets of <see cref="RelativePositions.RelativeBias"/>: T5's 32 by default (half of them for keys after the
    /// query unless the attention is causal; the first half of each side exact distances, the rest logarithmic).</summary>
    public int RelativeBuckets { get; set; } = 32;

    /// <summary>The distance beyond which <see cref="RelativePositions.RelativeBias"/> puts every key in its last bucket (T5: 128).</summary>
    public int MaxDistance { get; set; } = 128;

    /// <summary>The base of the rotary angles θ_i = base^(−2i/d) (RoFormer and LLaMA use 10000).</summary>
    public double RotaryBase { get; set; } = 10000;

    /// <summary>The ramp R over which an adaptive span fades out (<see cref="RelativePositions.AdaptiveSpan"/>), in tokens.</summary>
    public int SpanRamp { get; set; } = 32;
}

/// <summary>How an attention layer sees token positions within its scores.</summary>
public enum RelativePositions
{
    /// <summary>None: positions come only from what was added to the tokens (learned or sinusoidal positions).</summary>
    None = 0,

    /// <summary>Rotary position embeddings (RoPE, RoFormer): each head's query and key feature pairs (2i, 2i+1) rotated by
    /// position·base^(−2i/d) after the projections, so scores depend on relative position.</summary>
    Rotary = 1,

    /// <summary>ALiBi (Press et al.): a fixed bias −m_h·|i − j| on each score, with head slopes m_h = 2^(−8(h+1)/H) (for H a power of
    /// two; otherwise as the paper interleaves them). No parameters.</summary>
    Alibi = 2,

    /// <summary>A learned relative position bias (T5, Raffel et al.): a table <c>relative_attention_bias.weight</c> of
    /// (<see cref="AttentionOptionsAttribute.RelativeBuckets"/>, heads) biases, one per bucket of the distance j − i and head,
    /// added to the scores. Initialised N(0, 0.02²).</summary>
    RelativeBias = 3,

    /// <summary>Relative position representations (Shaw et al.): a learned vector a_t per clipped distance t = clip(j − i, −k, k)
    /// with k = <see cref="AttentionOptionsAttribute.MaxDistance"/>, added to the keys inside the scores, e_ij = q_i·(k_j + a_t)/√d.
    /// Table <c>relative_keys.weight</c> (2k + 1, head width), shared by the heads, initialised N(0, 0.02²).</summary>
    Shaw = 4,

    /// <summary>Adaptive attention span (Sukhbaatar et al.): each head learns a span z_h = S·clamp(p_h, 0, 1) of at most
    /// S = <see cref="AttentionOptionsAttribute.MaxDistance"/> tokens, and keys farther than z_h fade out over
    /// <see cref="AttentionOptionsAttribute.SpanRamp"/> tokens: the weights m·e^s / Σ m·e^s with m = clamp((R + z − |i − j|)/R, 0, 1).
    /// Parameter <c>span</c> (heads), p, initialised 0 as in the paper and decayed by the optimizer's weight decay (pressure
    /// towards short spans, as the paper's L1 term); keep it in [0, 1] with <c>ModelGen.Ops.AdaptiveSpan.ClampSpans</c> after each
    /// optimizer step, as the paper does.</summary>
    AdaptiveSpan = 5,
}

/// <summary>Multi-head scaled dot-product attention with q/k/v/out projections (<c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c>).
/// Self-attention by default; cross-attention when <see cref="KeyValue"/> (or <see cref="Key"/> and <see cref="Value"/>) names another edge.
/// Initialised as PyTorch's nn.MultiheadAttention: q/k/v weights Xavier-uniform (over the packed 3E×E matrix when all are E×E),
/// biases zero, <c>out_proj</c>'s weight U(±1/√in).</summary>
public sealed class MultiHeadAttentionAttribute : AttentionOptionsAttribute
{
    public MultiHeadAttentionAttribute(int heads) : base(heads)
    {
    }

    /// <summary>Edge for both keys and values (cross-attention).</summary>
    public string? KeyValue { get; set; }

    /// <summary>Edge for keys, when keys and values come from different edges.</summary>
    public string? Key { get; set; }

    /// <summary>Edge for values, when keys and values come from different edges.</summary>
    public string? Value { get; set; }
}

/// <summary>Linformer self-attention (Wang et al.): the keys and values of the n tokens are projected along the sequence onto
/// <see cref="ProjectedLength"/> learned mixtures, E·K and F·V (<c>e_proj.weight</c>, <c>f_proj.weight</c>: (k, n), shared by
/// the heads), so attention costs O(n·k): softmax(Q(EK)ᵀ/√d)(FV). Projections q/k/v/out as <see cref="MultiHeadAttentionAttribute"/>.
/// Mixing the tokens rules out causal, padding and attention masks and relative positions.</summary>
public sealed class LinformerAttentionAttribute : AttentionOptionsAttribute
{
    public LinformerAttentionAttribute(int heads, int projectedLength) : base(heads) => ProjectedLength = projectedLength;

    /// <summary>k: how many mixtures of the tokens the keys and values are projected onto (at most the tokens).</summary>
    public int ProjectedLength { get; }

    /// <summary>One projection for keys and values (the paper's key-value sharing): F = E, no <c>f_proj</c>.</summary>
    public bool ShareKeyValue { get; set; }
}

/// <summary>Performer self-attention (Choromanski et al., FAVOR+): softmax attention's kernel exp(q·k/√d) estimated with
/// <see cref="Features"/> positive orthogonal random features φ, so attention is φ(Q)(φ(K)ᵀV) / φ(Q)(φ(K)ᵀ1) in time and memory
/// linear in the tokens; causal by prefix sums. The projection (<c>projection_matrix</c>: (features, head width), shared by the
/// heads) is a buffer saved with the parameters, drawn from the model's seed and never trained; redraw it with
/// <c>ModelGen.Ops.RandomFeatures.Redraw</c>. Projections q/k/v/out as <see cref="MultiHeadAttentionAttribute"/>; rotary positions
/// apply before the features; a key padding mask gives padded keys no features (a query that sees only padded keys gives 0).
/// No scores are formed, so attention masks and score biases are refused.</summary>
public sealed class PerformerAttentionAttribute : AttentionOptionsAttribute
{
    public PerformerAttentionAttribute(int heads, int features) : base(heads) => Features = features;

    /// <summary>m: how many random features estimate the softmax kernel (the approximation error falls as m grows).</summary>
    public int Features { get; }
}

/// <summary>Reformer self-attention (Kitaev et al.): queries and keys are one projection (<c>qk_proj</c>), hashed by random
/// rotations into <see cref="Buckets"/> buckets in each of <see cref="Rounds"/> rounds; a round's tokens are sorted by bucket and
/// cut into chunks of <see cref="Chunk"/>, and each token attends to its chunk and the chunk before it (keys normalised to unit
/// length, a token's score with itself −1e5), all rounds in one softmax: O(N·Rounds·Chunk) time and memory. The rotations
/// (<c>rotations</c>: (rounds, head width, buckets / 2)) are a buffer saved with the parameters, drawn from the model's seed and
/// never trained; redraw them with <c>ModelGen.Ops.ReformerAttention.Redraw</c>. Projections <c>qk_proj</c>, <c>v_proj</c> and
/// <c>out_proj</c>; causal and key padding masks are allowed (masked keys score −1e9); attention masks and relative positions are
/// refused, and KvHeads must be Heads (the keys are the queries).</summary>
public sealed class ReformerAttentionAttribute : AttentionOptionsAttribute
{
    public ReformerAttentionAttribute(int heads, int chunk) : base(heads) => Chunk = chunk;

    /// <summary>Tokens per chunk of the sorted sequence; it must divide the tokens.</summary>
    public int Chunk { get; }

    /// <summary>Hash buckets per round, even; 0 (the default): twice the chunks of a round (2·N / Chunk), as the paper advises.</summary>
    public int Buckets { get; set; }

    /// <summary>Hash rounds: each adds a chance that similar tokens share a bucket (and costs one more pass).</summary>
    public int Rounds { get; set; } = 2;
}

/// <summary>Block-sparse self-attention, exact softmax over a pattern of blocks computed block by block (never a masked N×N):
/// the tokens fall into blocks of <see cref="Block"/>, and each block attends to a sliding window of ±<see cref="Window"/> blocks
/// (local attention), the first <see cref="GlobalBlocks"/> blocks (global: they also attend to everything), every block at a
/// multiple of <see cref="Stride"/> blocks away (Sparse Transformer's strided pattern) and <see cref="RandomBlocks"/> random
/// blocks drawn from <see cref="Seed"/> when the model is compiled. BigBird is <c>Window = 1, GlobalBlocks = 2, RandomBlocks = 3</c>.
/// Causal keeps the blocks at or before the query's and masks later keys inside it. Projections q/k/v/out as
/// <see cref="MultiHeadAttentionAttribute"/>; rotary positions and a key padding mask allowed (a query that sees only padded keys
/// gives 0); attention masks and score biases are refused.</summary>
public sealed class SparseAttentionAttribute : AttentionOptionsAttribute
{
    public SparseAttentionAttribute(int heads, int block) : base(heads) => Block = block;

    /// <summary>Tokens per block; it must divide the tokens.</summary>
    public int Block { get; }

    /// <summary>Blocks on each side of a query's own block that it attends to (0: its own block only).</summary>
    public int Window { get; set; } = 1;

    /// <summary>The first blocks, global: every block attends to them and they attend to every block.</summary>
    public int GlobalBlocks { get; set; }

    /// <summary>Random key blocks added to each query block's row (fixed when the model is compiled).</summary>
    public int RandomBlocks { get; set; }

    /// <summary>Also attend to every block whose distance from the query's is a multiple of this (0: none).</summary>
    public int Stride { get; set; }

    /// <summary>The seed of the random blocks.</summary>
    public int Seed { get; set; }
}

/// <summary>Additive attention (Bahdanau et al.): scores e_ij = vᵀ tanh(W_q q_i + W_k k_j) over an <see cref="Hidden"/>-wide
/// space, α = softmax_j(e), output Σ_j α_ij k_j: (queries, d_q) -> (queries, d_k), the keys' width, which may differ from the
/// queries'. Keys (also the values) from <see cref="KeyValue"/>, else the input itself. Parameters <c>q_proj</c> (with a bias
/// when <see cref="Bias"/>), <c>k_proj</c> and <c>v</c> (no biases).</summary>
public sealed class AdditiveAttentionAttribute : LayerAttribute
{
    public AdditiveAttentionAttribute(int hidden) => Hidden = hidden;

    /// <summary>Width of the space queries and keys are projected into.</summary>
    public int Hidden { get; }

    /// <summary>The edge the keys (and values) come from, (keys, d_k); the input itself when null.</summary>
    public string? KeyValue { get; set; }

    /// <summary>A key padding mask input over the keys (nonzero: the key is ignored).</summary>
    public string? KeyPaddingMask { get; set; }

    public bool Bias { get; set; } = true;
}

/// <summary>Location-based attention (Luong et al.): weights α_i = softmax(W_a s_i) from the query alone, one per key position,
/// output Σ_j α_ij k_j: (queries, d_q) -> (queries, d_k), the keys from <see cref="KeyValue"/> (else the input). Parameter
/// <c>location</c> (keys, d_q). For the monotonic use (s_{i−1} scoring step i) give it the previous states.</summary>
public sealed class LocationAttentionAttribute : LayerAttribute
{
    /// <summary>The edge the keys (and values) come from, (keys, d_k); the input itself when null.</summary>
    public string? KeyValue { get; set; }

    /// <summary>A key padding mask input over the keys (nonzero: the key is ignored).</summary>
    public string? KeyPaddingMask { get; set; }
}

/// <summary>What a Transformer encoder layer adds to its attention: the feed-forward block, where the norms sit, dropout, drop path.</summary>
public abstract class EncoderOptionsAttribute : AttentionOptionsAttribute
{
    private protected EncoderOptionsAttribute(int heads) : base(heads)
    {
    }

    /// <summary>Feed-forward hidden width. 0 means 4 × model width.</summary>
    public int FeedForward { get; set; }

    public NormPlacement Norm { get; set; } = NormPlacement.Pre;

    public Activation Activation { get; set; } = Activation.Gelu;

    public double Dropout { get; set; }

    /// <summary>Stochastic depth: the probability that a sample skips the attention or the MLP branch while training (surviving
    /// branches are scaled by 1/(1-p)). In a <see cref="TransformerEncoderAttribute"/> stack it is the last layer's rate; layer i
    /// uses DropPath·i/(Depth−1), rising linearly from 0 as in timm's ViT. 0 turns it off.</summary>
    public double DropPath { get; set; }

    public double Eps { get; set; } = 1e-5;
}

/// <summary>A Transformer encoder layer: attention and a feed-forward block, each with a residual and layer norm.
/// Parameters <c>norm1</c>, <c>attn</c>, <c>norm2</c>, <c>mlp.fc1</c>, <c>mlp.fc2</c>.</summary>
public sealed class TransformerEncoderLayerAttribute : EncoderOptionsAttribute
{
    public TransformerEncoderLayerAttribute(int heads) : base(heads)
    {
    }
}

/// <summary><see cref="Depth"/> Transformer encoder layers (<c>layers.{i}.*</c>).</summary>
public sealed class TransformerEncoderAttribute : EncoderOptionsAttribute
{
    public TransformerEncoderAttribute(int depth, int heads) : base(heads) => Depth = depth;

    public int Depth { get; }
}

/// <summary>What a Transformer decoder layer adds to an encoder layer: the memory its cross-attention reads.</summary>
public abstract class DecoderOptionsAttribute : EncoderOptionsAttribute
{
    private protected DecoderOptionsAttribute(int heads) : base(heads)
    {
    }

    /// <summary>The edge the cross-attention reads keys and values from (the encoder's output): (memory tokens, any width).</summary>
    public string? Memory { get; set; }

    /// <summary>Name of a <see cref="InputKind.KeyPaddingMask"/> input as long as the memory (PyTorch's memory_key_padding_mask).
    /// <see cref="AttentionOptionsAttribute.KeyPaddingMask"/>, <see cref="AttentionOptionsAttribute.AttentionMask"/>,
    /// <see cref="AttentionOptionsAttribute.Causal"/> and <see cref="AttentionOptionsAttribute.Positions"/> apply to the
    /// self-attention.</summary>
    public string? MemoryKeyPaddingMask { get; set; }
}

/// <summary>A Transformer decoder layer (as PyTorch's TransformerDecoderLayer): self-attention (<c>self_attn</c>; causal when
/// <see cref="AttentionOptionsAttribute.Causal"/>), cross-attention to <see cref="DecoderOptionsAttribute.Memory"/>
/// (<c>cross_attn</c>) and a feed-forward block (<c>mlp.fc1</c>, <c>mlp.fc2</c>), each with a residual and a layer norm
/// (<c>norm1</c>, <c>norm2</c>, <c>norm3</c>; pre- or post-norm).</summary>
public sealed class TransformerDecoderLayerAttribute : DecoderOptionsAttribute
{
    public TransformerDecoderLayerAttribute(int heads) : base(heads)
    {
    }
}

/// <summary><see cref="Depth"/> Transformer decoder layers (<c>layers.{i}.*</c>), each reading the same memory.</summary>
public sealed class TransformerDecoderAttribute : DecoderOptionsAttribute
{
    public TransformerDecoderAttribute(int depth, int heads) : base(heads) => Depth = depth;

    public int Depth { get; }
}

/// <summary>An encoder–decoder Transformer, as PyTorch's nn.Transformer: <see cref="EncoderLayers"/> encoder layers over the input
/// (the source, <c>encoder.layers.{i}</c>) and a final <c>encoder.norm</c> giving the memory, then <see cref="DecoderLayers"/>
/// decoder layers over <see cref="Target"/> (<c>decoder.layers.{i}</c>: self-attention, cross-attention to the memory, MLP) and a
/// final <c>decoder.norm</c>: (source tokens, width) and (target tokens, width) -> (target tokens, width).
/// <see cref="AttentionOptionsAttribute.Causal"/> masks the decoder's self-attention only (nn.Transformer's square subsequent
/// tgt_mask); <see cref="AttentionOptionsAttribute.KeyPaddingMask"/> pads the source, in the encoder and in the decoder's
/// cross-attention (src_ and memory_key_padding_mask), <see cref="TargetKeyPaddingMask"/> the target; relative positions apply to
/// both self-attentions. For nn.Transformer's defaults set <c>Norm = NormPlacement.Post, Activation = Activation.Relu</c>.</summary>
public sealed class TransformerAttribute : EncoderOptionsAttribute
{
    public TransformerAttribute(int heads) : base(heads)
    {
    }

    /// <summary>The target sequence the decoder reads (B, target tokens, width), the width the source's.</summary>
    public string? Target { get; set; }

    /// <summary>A key padding mask input over the target tokens (nn.Transformer's tgt_key_padding_mask).</summary>
    public string? TargetKeyPaddingMask { get; set; }

    public int EncoderLayers { get; set; } = 6;

    public int DecoderLayers { get; set; } = 6;
}

/// <summary>Places a <see cref="ModuleAttribute"/> class here, <see cref="Depth"/> times in a chain (<c>{name}.{i}.*</c> when Depth &gt; 1).</summary>
public sealed class UseAttribute : LayerAttribute
{
    public UseAttribute(Type module) => Module = module;

    public Type Module { get; }

    public int Depth { get; set; } = 1;
}

/// <summary>Mean over the token dimension: (B, tokens, width) -> (B, width).</summary>
public sealed class MeanPoolAttribute : LayerAttribute
{
}

/// <summary>A lookup table of learned vectors, PyTorch's <c>nn.Embedding</c>: token ids (tokens) from an input declared with
/// <see cref="InputKind.Tokens"/> -> (tokens, <see cref="Dim"/>), each id's row of <c>weight</c> (vocab, dim), initialised N(0, <see cref="Std"/>²).
/// Its gradient adds each position's output gradient into its id's row.</summary>
public sealed class EmbeddingAttribute : LayerAttribute
{
    public EmbeddingAttribute(int vocab, int dim)
    {
        Vocab = vocab;
        Dim = dim;
    }

    /// <summary>How many ids there are: every token must lie in [0, vocab).</summary>
    public int Vocab { get; }

    public int Dim { get; }

    /// <summary>An id whose row starts at zero and gets no gradient (<c>padding_idx</c>), or -1 for none.</summary>
    public int PaddingIndex { get; set; } = -1;

    /// <summary>The standard deviation of the table's initial N(0, std²): 1 as nn.Embedding; GPT-2 uses 0.02, which keeps the
    /// logits of a tied output projection small at the start.</summary>
    public double Std { get; set; } = 1.0;
}

/// <summary>Adds a learned positional embedding <c>weight</c> (tokens, width), initialised N(0, 0.02²) as in ViT.</summary>
public sealed class LearnedPositionsAttribute : LayerAttribute
{
}

/// <summary>Vision Transformer patch embedding: an image (C, H, W) cut into P×P patches, each projected to
/// <see cref="Dim"/> (a Conv2d with kernel = stride = P, as matmul). Gives (H/P · W/P, Dim). Parameters
/// <c>proj.weight</c> (Dim, C, P, P) and <c>proj.bias</c>.</summary>
public sealed class PatchEmbeddingAttribute : LayerAttribute
{
    public PatchEmbeddingAttribute(int patch, int dim)
    {
        Patch = patch;
        Dim = dim;
    }

    public int Patch { get; }

    public int Dim { get; }

    /// <summary>When set, the channels this layer expects; a different image is a compile-time error.</summary>
    public int Channels { get; set; }
}

/// <summary>Prepends a learned class token <c>cls</c> (1, 1, width), initialised to zeros: (tokens, width) -> (tokens + 1, width).</summary>
public sealed class ClassTokenAttribute : LayerAttribute
{
}

/// <summary>How a classifier pools a sequence.</summary>
public enum Pool
{
    /// <summary>Take the first token (the class token).</summary>
    ClassToken = 0,

    /// <summary>Average over tokens.</summary>
    Mean = 1,
}

/// <summary>Pools a sequence (B, tokens, width) and maps it to class logits (B, classes) with <c>weight</c> and <c>bias</c>.</summary>
public sealed class ClassifierHeadAttribute : LayerAttribute
{
    public ClassifierHeadAttribute(int classes) => Classes = classes;

    public int Classes { get; }

    public Pool Pool { get; set; }
}

/// <summary>Adds fixed sine-cosine positions (no parameters). 1-D by default; 2-D over a patch grid when
/// <see cref="GridHeight"/> and <see cref="GridWidth"/> are set (a leading class token, if any, gets zeros).</summary>
public sealed class SinusoidalPositionsAttribute : LayerAttribute
{
    public int GridHeight { get; set; }

    public int GridWidth { get; set; }
}
