using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[NonLocal]: y_i = Σ_j f(x_i, x_j)·g(x_j) over the N = H·W positions, z = BN(W_z·y) + x with the BatchNorm scale
/// starting at 0. θ, φ, g are 1×1 convolutions to C' = C/Reduction channels (the Gaussian affinity uses x itself for θ and φ).</summary>
internal sealed class NonLocalRule : LayerRule<NonLocalAttribute>
{
    internal sealed record Config(int Reduced, Affinity Affinity) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string path = layer.Path, x = layer.Input;
            var s = l.ShapeOf(x);
            int c = s[0], h = s[1], w = s[2], n = h * w;
            string g = l.Conv2d(path + ".g", x, Reduced, 1, 1, 0, bias: true, null);
            string theta = x, phi = x;
            int k = c;
            if (Affinity != Affinity.Gaussian)
            {
                theta = l.Conv2d(path + ".theta", x, Reduced, 1, 1, 0, bias: true, null);
                phi = l.Conv2d(path + ".phi", x, Reduced, 1, 1, 0, bias: true, null);
                k = Reduced;
            }
            string f;
            if (Affinity == Affinity.Concatenation)
            {
                // ReLU(w·[θ_i; φ_j]) = ReLU(w_θ·θ_i + w_φ·φ_j + b): two 1×1 convolutions to one channel, summed pairwise.
                string a = l.Conv2d(path + ".concat_theta", theta, 1, 1, 1, 0, bias: true, null);
                string b = l.Conv2d(path + ".concat_phi", phi, 1, 1, 1, 0, bias: false, null);
                f = l.Scale(path + ".affinity", l.Relu(path + ".concat_act", l.PairwiseSum(path + ".concat", a, b, n, n), null), 1f / n);
            }
            else
            {
                // f = θᵀφ: (N, C')·(C', N) per sample.
                string scores = l.BatchedMatMul(path + ".scores", theta, phi, n, n, k, transA: true, transB: false);
                f = Affinity == Affinity.DotProduct ? l.Scale(path + ".affinity", scores, 1f / n) : l.Softmax(path + ".affinity", scores, n);
            }
            // yᵀ = g·fᵀ: (C', N)·(N, N), already laid out as a (C', H, W) map.
            string y = l.BatchedMatMul(path + ".y", g, f, Reduced, n, n, transA: false, transB: true, new[] { Reduced, h, w });
            string z = l.BatchNorm(path + ".w_bn", l.Conv2d(path + ".w", y, c, 1, 1, 0, bias: true, null), 0.1f, 1e-5f, null, gammaInit: "zero");
            l.Add(path + ".res", z, x, layer.Output);
        }
    }

    protected override Edge? Check(NonLocalAttribute a, LayerContext c) =>
        SqueezeExcitationRule.Reduced(c, a.Reduction) is { } r ? c.Same(new Config(r, a.Affinity)) : null;
}
