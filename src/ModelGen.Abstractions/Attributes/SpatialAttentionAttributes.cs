namespace ModelGen;

// Attention over feature maps (C, H, W). Each keeps the map's shape: y = x refined by a learned gate or affinity.

/// <summary>Squeeze-and-excitation channel attention: s = σ(W2·ReLU(W1·avgpool(x))), y = x·s per channel, with a hidden
/// width of C/<see cref="Reduction"/> (which must divide C). Parameters <c>fc1</c> (C/r, C, 1, 1) and <c>fc2</c> (C, C/r, 1, 1)
/// with biases, as torchvision's SqueezeExcitation.</summary>
public sealed class SqueezeExcitationAttribute : LayerAttribute
{
    public int Reduction { get; set; } = 16;
}

/// <summary>CBAM spatial attention: the channel-wise mean and max maps, concatenated (2, H, W), a Kernel×Kernel convolution
/// to one map, a sigmoid, and y = x·g at every position. Parameter <c>conv.weight</c> (1, 2, K, K), no bias.</summary>
public sealed class SpatialAttentionAttribute : LayerAttribute
{
    public int Kernel { get; set; } = 7;
}

/// <summary>Coordinate attention (Hou et al., 2021): average over the width gives (C, H, 1), over the height (C, 1, W); both,
/// concatenated along the positions, pass a shared 1×1 convolution to C/<see cref="Reduction"/> channels, BatchNorm and ReLU;
/// they are split back, each mapped to C channels by its own 1×1 convolution and a sigmoid, and y = x·g_h·g_w.
/// The reduction must divide C. Parameters <c>conv1</c>, <c>bn1</c>, <c>conv_h</c>, <c>conv_w</c>.</summary>
public sealed class CoordinateAttentionAttribute : LayerAttribute
{
    public int Reduction { get; set; } = 8;
}

/// <summary>How a non-local block relates two positions i and j.</summary>
public enum Affinity
{
    /// <summary>softmax_j(θ(x_i)·φ(x_j)) with learned 1×1 embeddings θ and φ.</summary>
    EmbeddedGaussian = 0,

    /// <summary>softmax_j(x_i·x_j) on the input itself (no θ, φ).</summary>
    Gaussian = 1,

    /// <summary>θ(x_i)·φ(x_j) / N, no softmax.</summary>
    DotProduct = 2,

    /// <summary>ReLU(w·[θ(x_i); φ(x_j)]) / N, no softmax.</summary>
    Concatenation = 3,
}

/// <summary>Non-local block (Wang et al., 2018): y_i = Σ_j f(x_i, x_j)·g(x_j) over all N = H·W positions, z = W_z·y + x,
/// with g, θ, φ 1×1 convolutions to C/<see cref="Reduction"/> channels (the reduction must divide C) and W_z a 1×1
/// convolution back to C followed by BatchNorm whose scale starts at 0, so a new block starts as the identity.</summary>
public sealed class NonLocalAttribute : LayerAttribute
{
    public Affinity Affinity { get; set; } = Affinity.EmbeddedGaussian;

    public int Reduction { get; set; } = 2;
}
