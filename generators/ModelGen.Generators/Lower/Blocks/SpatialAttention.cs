namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    /// <summary>Attention over feature maps, lowered to primitive ops: squeeze-and-excitation, CBAM spatial attention,
    /// coordinate attention and non-local blocks. Each keeps the map's shape.</summary>
    internal sealed partial class Lowerer
    {
        /// <summary>y = x·σ(fc2(ReLU(fc1(avgpool(x))))) per channel, fc1/fc2 1×1 convolutions through C/r channels.</summary>
        string SqueezeExcitation(string path, string x, int reduced, string? output)
        {
            int c = ShapeOf(x)[0];
            string pooled = SpatialPool("GlobalAvg", path + ".pool", x, new[] { c, 1, 1 }, backwardReadsInput: false);
            string h = Relu(path + ".act", Conv2d(path + ".fc1", pooled, reduced, 1, 1, 0, bias: true, null), null);
            string gate = Sigmoid(path + ".gate", Conv2d(path + ".fc2", h, c, 1, 1, 0, bias: true, null), null);
            return BroadcastMultiply(path, x, gate, output);
        }

        /// <summary>CBAM: y = x·σ(conv([mean_c(x); max_c(x)])) at every position, a K×K convolution without bias.</summary>
        string SpatialAttention(string path, string x, int kernel, string? output)
        {
            var s = ShapeOf(x);
            int h = s[1], w = s[2];
            string avg = SpatialPool("ChannelMean", path + ".avg", x, new[] { 1, h, w }, backwardReadsInput: false);
            string max = SpatialPool("ChannelMax", path + ".max", x, new[] { 1, h, w }, backwardReadsInput: true);
            string both = Concat(path + ".cat", avg, max, "batch", 1, 1, h * w, new[] { 2, h, w });
            string gate = Sigmoid(path + ".gate", Conv2d(path + ".conv", both, 1, kernel, 1, (kernel - 1) / 2, bias: false, null), null);
            return BroadcastMultiply(path, x, gate, output);
        }

        /// <summary>Coordinate attention: pooled rows (C, H, 1) and columns (C, 1, W) share conv1 + BatchNorm + ReLU over their
        /// H + W positions, then each gets its own 1×1 convolution and sigmoid; y = x·g_h·g_w.</summary>
        string CoordinateAttention(string path, string x, int reduced, string? output)
        {
            var s = ShapeOf(x);
            int c = s[0], h = s[1], w = s[2];
            string rows = SpatialPool("MeanOverWidth", path + ".pool_h", x, new[] { c, h, 1 }, backwardReadsInput: false);
            string cols = SpatialPool("MeanOverHeight", path + ".pool_w", x, new[] { c, 1, w }, backwardReadsInput: false);
            // (C, H) and (C, W) joined per channel into (C, H + W, 1): the columns laid out like PyTorch's permute(0, 1, 3, 2).
            string both = Concat(path + ".cat", rows, cols, "batch * " + Int(c), h, w, 1, new[] { c, h + w, 1 });
            string mixed = Relu(path + ".act", BatchNorm(path + ".bn1", Conv2d(path + ".conv1", both, reduced, 1, 1, 0, bias: true, null), 0.1f, 1e-5f, null), null);
            var (mh, mw) = Split(path + ".split", mixed, "batch * " + Int(reduced), h, w, 1, new[] { reduced, h, 1 }, new[] { reduced, 1, w });
            string gh = Sigmoid(path + ".gate_h", Conv2d(path + ".conv_h", mh, c, 1, 1, 0, bias: true, null), null);
            string gw = Sigmoid(path + ".gate_w", Conv2d(path + ".conv_w", mw, c, 1, 1, 0, bias: true, null), null);
            return BroadcastMultiply(path, BroadcastMultiply(path + ".by_h", x, gh, null), gw, output);
        }

        /// <summary>Non-local block: y_i = Σ_j f(x_i, x_j)·g(x_j) over the N = H·W positions, z = BN(W_z·y) + x with the BatchNorm
        /// scale starting at 0. θ, φ, g are 1×1 convolutions to C' channels (the Gaussian affinity uses x itself for θ and φ).</summary>
        string NonLocal(string path, string x, int reduced, int affinity, string? output)
        {
            var s = ShapeOf(x);
            int c = s[0], h = s[1], w = s[2], n = h * w;
            string g = Conv2d(path + ".g", x, reduced, 1, 1, 0, bias: true, null);
            string theta = x, phi = x;
            int k = c;
            if (affinity != 1)
            {
                theta = Conv2d(path + ".theta", x, reduced, 1, 1, 0, bias: true, null);
                phi = Conv2d(path + ".phi", x, reduced, 1, 1, 0, bias: true, null);
                k = reduced;
            }
            string f;
            if (affinity == 3)
            {
                // ReLU(w·[θ_i; φ_j]) = ReLU(w_θ·θ_i + w_φ·φ_j + b): two 1×1 convolutions to one channel, summed pairwise.
                string a = Conv2d(path + ".concat_theta", theta, 1, 1, 1, 0, bias: true, null);
                string b = Conv2d(path + ".concat_phi", phi, 1, 1, 1, 0, bias: false, null);
                f = Scale(path + ".affinity", Relu(path + ".concat_act", PairwiseSum(path + ".concat", a, b, n, n), null), 1f / n);
            }
            else
            {
                // f = θᵀφ: (N, C')·(C', N) per sample.
                string scores = BatchedMatMul(path + ".scores", theta, phi, n, n, k, transA: true, transB: false);
                f = affinity == 2 ? Scale(path + ".affinity", scores, 1f / n) : Softmax(path + ".affinity", scores, n);
            }
            // yᵀ = g·fᵀ: (C', N)·(N, N), already laid out as a (C', H, W) map.
            string y = BatchedMatMul(path + ".y", g, f, reduced, n, n, transA: false, transB: true, new[] { reduced, h, w });
            string z = BatchNorm(path + ".w_bn", Conv2d(path + ".w", y, c, 1, 1, 0, bias: true, null), 0.1f, 1e-5f, null, gammaInit: "zero");
            return Add(path + ".res", z, x, output);
        }
    }
}
