using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[BatchNorm]: per-channel batch statistics over (B, H, W) of a map, with running statistics; same shape out.</summary>
internal sealed class BatchNormRule : LayerRule<BatchNormAttribute>
{
    internal sealed record Config(double Momentum, double Eps) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.BatchNorm(layer.Path, layer.Input, (float)Momentum, (float)Eps, layer.Output);
    }

    protected override Edge? Check(BatchNormAttribute a, LayerContext c) =>
        c.IsMap() && Check(c, a.Momentum, a.Eps) is { } config ? c.Same(config) : null;

    /// <summary>A momentum in [0, 1] and a positive eps; shared with the layers that end in a BatchNorm.</summary>
    internal static Config? Check(LayerContext c, double momentum, double eps)
    {
        if (c.InRange("Momentum", momentum, momentum >= 0 && momentum <= 1, "in [0, 1]") is null) return null;
        return c.Positive("Eps", eps) is { } e ? new Config(momentum, e) : null;
    }
}
