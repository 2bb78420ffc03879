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

    protected override Edge? Check(BatchNormAttribute a, LayerContext c)
    {
        if (!c.IsMap()) return null;
        if (a.Momentum < 0 || a.Momentum > 1) { c.Report(DiagnosticDescriptors.NonPositiveSize, "Momentum", "Momentum", c.Subject, a.Momentum, "in [0, 1]"); return null; }
        return c.Positive("Eps", a.Eps) is { } eps ? c.Same(new Config(a.Momentum, eps)) : null;
    }
}
