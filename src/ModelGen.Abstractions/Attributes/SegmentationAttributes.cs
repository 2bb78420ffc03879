namespace ModelGen;

// Segmentation heads: from encoder tokens (tokens, D) to per-pixel class scores (Classes, H, W) at the image input's resolution.

/// <summary>SETR's progressive upsampling decoder (SETR-PUP): tokens (Skip + h·w, D) -> map (D, h, w), then per factor a
/// 3×3 convolution to <see cref="Channels"/> (or that stage's <see cref="StageChannels"/>), BatchNorm, ReLU and bilinear upsampling by that factor, then a 1×1
/// convolution to <see cref="Classes"/>: per-pixel logits (Classes, H, W). The factors must take the patch grid exactly to
/// the image input's resolution (MG2012); by default each factor is 2, as many as that takes.</summary>
public sealed class SetrDecoderAttribute : LayerAttribute
{
    public SetrDecoderAttribute(int classes) => Classes = classes;

    public int Classes { get; }

    /// <summary>The width of every stage's convolution.</summary>
    public int Channels { get; set; } = 256;

    /// <summary>When set, the width of each stage in turn (one per factor), instead of <see cref="Channels"/>.</summary>
    public int[] StageChannels { get; set; } = System.Array.Empty<int>();

    /// <summary>Leading tokens that are not patches (a class token): dropped before the reshape.</summary>
    public int Skip { get; set; }

    /// <summary>The upsampling factor of each stage; empty means ×2 stages up to the image's resolution.</summary>
    public int[] Factors { get; set; } = System.Array.Empty<int>();
}

/// <summary>What the mask heads share: the classes, their Transformer layers and the leading tokens that are not patches.</summary>
public abstract class MaskHeadAttribute : LayerAttribute
{
    private protected MaskHeadAttribute(int classes) => Classes = classes;

    public int Classes { get; }

    public int Depth { get; set; } = 2;

    public int Heads { get; set; } = 4;

    /// <summary>Leading tokens that are not patches (a class token).</summary>
    public int Skip { get; set; }
}

/// <summary>Segmenter's mask transformer (Strudel et al., 2021): the patch tokens (after <see cref="MaskHeadAttribute.Skip"/> leading ones)
/// are projected to the decoder width, <see cref="MaskHeadAttribute.Classes"/> learned class embeddings are appended, <see cref="MaskHeadAttribute.Depth"/>
/// pre-norm Transformer layers mix them, and each patch's mask score for class k is the cosine of its projected embedding
/// with class k's: masks (patches, Classes), LayerNorm over the classes, reshaped to the patch grid and bilinearly
/// upsampled to the image input: (Classes, H, W). One mask token per class: <see cref="MaskTokens"/>, when set, must
/// equal <see cref="MaskHeadAttribute.Classes"/> (MG2016).</summary>
public sealed class MaskTransformerAttribute : MaskHeadAttribute
{
    public MaskTransformerAttribute(int classes) : base(classes)
    {
    }

    /// <summary>The number of learned mask (class) tokens; 0 means one per class.</summary>
    public int MaskTokens { get; set; }

    /// <summary>Decoder width; 0 means the encoder's.</summary>
    public int Width { get; set; }
}

/// <summary>MaskFormer-style mask classification (Cheng et al., 2021): <see cref="Queries"/> learned queries pass
/// <see cref="MaskHeadAttribute.Depth"/> Transformer decoder layers (self-attention, cross-attention to the encoder tokens, MLP); each query
/// predicts a class distribution over <see cref="MaskHeadAttribute.Classes"/> + "no object" and a mask, σ(mask embedding · per-pixel
/// embedding). Per pixel, p(x)[k] = Σ_i p_i[k]·M_i(x) (the semantic inference of the paper); the layer outputs log p at the
/// image input's resolution, (Classes, H, W), so per-pixel cross-entropy trains it end to end.</summary>
public sealed class MaskClassifierAttribute : MaskHeadAttribute
{
    public MaskClassifierAttribute(int classes) : base(classes)
    {
    }

    /// <summary>The number of queries; 0 means 2 × Classes.</summary>
    public int Queries { get; set; }
}
