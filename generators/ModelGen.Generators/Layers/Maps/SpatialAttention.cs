using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[SpatialAttention]: CBAM's y = x·σ(conv([mean_c(x); max_c(x)])) at every position, an odd Kernel×Kernel convolution without bias.</summary>
internal sealed class SpatialAttentionRule : LayerRule<SpatialAttentionAttribute>
{
    internal sealed record Config(int Kernel) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer l, CheckedLayer layer)
        {
            string path = layer.Path, x = layer.Input;
            var s = l.ShapeOf(x);
            int h = s[1], w = s[2];
            string avg = l.SpatialPool("ChannelMean", path + ".avg", x, new[] { 1, h, w }, backwardReadsInput: false);
            string max = l.SpatialPool("ChannelMax", path + ".max", x, new[] { 1, h, w }, backwardReadsInput: true);
            string both = l.Concat(path + ".cat", avg, max, "batch", 1, 1, h * w, new[] { 2, h, w });
            string gate = l.Sigmoid(path + ".gate", l.Conv2d(path + ".conv", both, 1, Kernel, 1, (Kernel - 1) / 2, bias: false, null), null);
            l.BroadcastMultiply(path, x, gate, layer.Output);
        }
    }

    protected override Edge? Check(SpatialAttentionAttribute a, LayerContext c)
    {
        if (!c.IsMap()) return null;
        if (c.Positive("Kernel", a.Kernel) is not { } kernel) return null;
        if (c.InRange("Kernel", kernel, kernel % 2 == 1, "odd, so the attention map keeps the input's size") is null) return null;
        return c.Same(new Config(kernel));
    }
}
