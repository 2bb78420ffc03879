using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[CoordinateAttention]: pooled rows (C, H, 1) and columns (C, 1, W) share conv1 + BatchNorm + ReLU over their H + W
/// positions, then each gets its own 1×1 convolution and sigmoid; y = x·g_h·g_w.</summary>
internal sealed class CoordinateAttentionRule : LayerRule<CoordinateAttentionAttribute>
{
    internal sealed record Config(int Reduced) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string path = layer.Path, x = layer.Input;
            var s = l.ShapeOf(x);
            int c = s[0], h = s[1], w = s[2];
            string rows = l.SpatialPool("MeanOverWidth", path + ".pool_h", x, new[] { c, h, 1 }, backwardReadsInput: false);
            string cols = l.SpatialPool("MeanOverHeight", path + ".pool_w", x, new[] { c, 1, w }, backwardReadsInput: false);
            // (C, H) and (C, W) joined per channel into (C, H + W, 1): the columns laid out like PyTorch's permute(0, 1, 3, 2).
            string both = l.Concat(path + ".cat", rows, cols, "batch * " + ModelGenerator.Lowerer.Int(c), h, w, 1, new[] { c, h + w, 1 });
            string mixed = l.Relu(path + ".act", l.BatchNorm(path + ".bn1", l.Conv2d(path + ".conv1", both, Reduced, 1, 1, 0, bias: true, null), 0.1f, 1e-5f, null), null);
            var (mh, mw) = l.Split(path + ".split", mixed, "batch * " + ModelGenerator.Lowerer.Int(Reduced), h, w, 1, new[] { Reduced, h, 1 }, new[] { Reduced, 1, w });
            string gh = l.Sigmoid(path + ".gate_h", l.Conv2d(path + ".conv_h", mh, c, 1, 1, 0, bias: true, null), null);
            string gw = l.Sigmoid(path + ".gate_w", l.Conv2d(path + ".conv_w", mw, c, 1, 1, 0, bias: true, null), null);
            l.BroadcastMultiply(path, l.BroadcastMultiply(path + ".by_h", x, gh, null), gw, layer.Output);
        }
    }

    protected override Edge? Check(CoordinateAttentionAttribute a, LayerContext c) =>
        SqueezeExcitationRule.Reduced(c, a.Reduction) is { } r ? c.Same(new Config(r)) : null;
}
