namespace ModelGen;

// Layers on feature maps: a sample is (C, H, W), stored NCHW with the batch first, as PyTorch.

/// <summary>What every convolution layer takes: output channels, a square kernel, stride and zero padding.</summary>
public abstract class ConvolutionOptionsAttribute : LayerAttribute
{
    private protected ConvolutionOptionsAttribute(int outChannels, int kernel)
    {
        OutChannels = outChannels;
        Kernel = kernel;
    }

    public int OutChannels { get; }

    public int Kernel { get; }

    public int Stride { get; set; } = 1;

    /// <summary>Zero padding on every side; −1 (the default) means (Kernel − 1)/2, which keeps the size at stride 1 for odd kernels.</summary>
    public int Padding { get; set; } = -1;
}

/// <summary>2-D convolution (PyTorch's Conv2d): (Cin, H, W) -> (OutChannels, Ho, Wo), Ho = (H + 2·Padding − Kernel)/Stride + 1.
/// Parameters <c>weight</c> (OutChannels, Cin, Kernel, Kernel) and <c>bias</c> (OutChannels), initialised as PyTorch does.</summary>
public sealed class Conv2dAttribute : ConvolutionOptionsAttribute
{
    public Conv2dAttribute(int outChannels, int kernel = 3) : base(outChannels, kernel)
    {
    }

    public bool Bias { get; set; } = true;

    /// <summary>When set, the channels this layer expects; a different incoming map is a compile-time error.</summary>
    public int InChannels { get; set; }
}

/// <summary>Batch normalization over (B, H, W) per channel (PyTorch's BatchNorm2d): batch statistics while training, which
/// also update the running statistics; the running statistics in evaluation. Parameters <c>weight</c>, <c>bias</c>;
/// buffers <c>running_mean</c>, <c>running_var</c> (saved in checkpoints, never trained).</summary>
public sealed class BatchNormAttribute : LayerAttribute
{
    public double Momentum { get; set; } = 0.1;

    public double Eps { get; set; } = 1e-5;
}

/// <summary>Group normalization (PyTorch's GroupNorm): statistics per sample over each group of Channels/Groups channels
/// and all positions; per-channel <c>weight</c> and <c>bias</c>. The channels must divide into the groups.</summary>
public sealed class GroupNormAttribute : LayerAttribute
{
    public GroupNormAttribute(int groups) => Groups = groups;

    public int Groups { get; }

    public double Eps { get; set; } = 1e-5;
}

/// <summary>How <see cref="UpsampleAttribute"/> fills the new pixels.</summary>
public enum UpsampleMode
{
    /// <summary>Bilinear interpolation with align_corners=False, as torch.nn.functional.interpolate.</summary>
    Bilinear = 0,

    /// <summary>Each pixel repeated Factor×Factor times.</summary>
    Nearest = 1,
}

/// <summary>Upsampling of a map by an integer <see cref="Factor"/>: (C, H, W) -> (C, H·Factor, W·Factor).</summary>
public sealed class UpsampleAttribute : LayerAttribute
{
    public UpsampleAttribute(int factor = 2) => Factor = factor;

    public int Factor { get; }

    public UpsampleMode Mode { get; set; } = UpsampleMode.Bilinear;
}

/// <summary>Max pooling over Kernel×Kernel windows moved by Stride (default Kernel), no padding.</summary>
public sealed class MaxPoolAttribute : LayerAttribute
{
    public MaxPoolAttribute(int kernel) => Kernel = kernel;

    public int Kernel { get; }

    public int Stride { get; set; }
}

/// <summary>Average pooling over Kernel×Kernel windows moved by Stride (default Kernel), no padding.</summary>
public sealed class AvgPoolAttribute : LayerAttribute
{
    public AvgPoolAttribute(int kernel) => Kernel = kernel;

    public int Kernel { get; }

    public int Stride { get; set; }
}

/// <summary>Logistic sigmoid, element-wise.</summary>
public sealed class SigmoidAttribute : LayerAttribute
{
}

/// <summary>Tokens to a feature map, as SETR: (Skip + H·W, D) -> (D, H, W), dropping the first <see cref="Skip"/> tokens
/// (a class token). The grid is square unless <see cref="GridHeight"/> and <see cref="GridWidth"/> say otherwise.</summary>
public sealed class TokensToMapAttribute : LayerAttribute
{
    public int Skip { get; set; }

    public int GridHeight { get; set; }

    public int GridWidth { get; set; }
}

/// <summary>Swin's patch merging between stages: the tokens of an H×W grid (square unless <see cref="GridHeight"/> and
/// <see cref="GridWidth"/> say otherwise; both even) are joined in 2×2 neighbourhoods — (2i, 2j), (2i + 1, 2j), (2i, 2j + 1),
/// (2i + 1, 2j + 1), as torchvision's PatchMerging concatenates them — then LayerNorm over the 4·C and a bias-free Linear to
/// <see cref="OutDim"/>: (H·W, C) -> (H/2 · W/2, OutDim). Parameters <c>norm</c> (4·C) and <c>reduction.weight</c> (OutDim, 4·C),
/// as torchvision names them.</summary>
public sealed class PatchMergingAttribute : LayerAttribute
{
    /// <summary>The merged width; 0 (the default): 2·C, as Swin doubles the width at each merge.</summary>
    public int OutDim { get; set; }

    public int GridHeight { get; set; }

    public int GridWidth { get; set; }

    /// <summary>The LayerNorm's epsilon.</summary>
    public double Eps { get; set; } = 1e-5;
}

/// <summary>A feature map to tokens: (C, H, W) -> (H·W, C), row-major over positions.</summary>
public sealed class MapToTokensAttribute : LayerAttribute
{
}

/// <summary>Per-pixel class logits: a 1×1 convolution to <see cref="Classes"/> channels, (C, H, W) -> (Classes, H, W).
/// The map must have the resolution of the model's image input (compile-time error MG2013 otherwise).
/// Parameters <c>weight</c> (Classes, C, 1, 1) and <c>bias</c>.</summary>
public sealed class PixelClassifierAttribute : LayerAttribute
{
    public PixelClassifierAttribute(int classes) => Classes = classes;

    public int Classes { get; }
}

/// <summary>Convolution, batch normalization and ReLU in one layer, the block of most convolutional decoders (mmseg's ConvModule):
/// a Conv2d without bias (the BatchNorm's shift replaces it) to <see cref="ConvolutionOptionsAttribute.OutChannels"/>, BatchNorm2d, ReLU.
/// (Cin, H, W) -> (OutChannels, Ho, Wo) as <see cref="Conv2dAttribute"/>. Parameters <c>conv.weight</c>, <c>bn.weight</c>,
/// <c>bn.bias</c>; buffers <c>bn.running_mean</c>, <c>bn.running_var</c>.</summary>
public sealed class ConvBnReluAttribute : ConvolutionOptionsAttribute
{
    public ConvBnReluAttribute(int outChannels, int kernel = 3) : base(outChannels, kernel)
    {
    }

    public double Momentum { get; set; } = 0.1;

    public double Eps { get; set; } = 1e-5;
}
