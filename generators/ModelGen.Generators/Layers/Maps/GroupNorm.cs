using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[GroupNorm(groups)]: per-sample statistics over groups of channels; Groups must divide the channels.</summary>
internal sealed class GroupNormRule : LayerRule<GroupNormAttribute>
{
    internal sealed record Config(int Groups, double Eps) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.GroupNorm(layer.Path, layer.Input, Groups, (float)Eps, layer.Output);
    }

    protected override Edge? Check(GroupNormAttribute a, LayerContext c)
    {
        if (!c.IsMap()) return null;
        if (c.Positive("Groups", a.Groups) is not { } groups) return null;
        if (c.Input.Shape[0] % groups != 0)
        {
            c.Report(DiagnosticDescriptors.ChannelsNotDivisible, "Groups", c.Path, c.Input.Shape[0], "Groups", groups);
            return null;
        }
        return c.Positive("Eps", a.Eps) is { } eps ? c.Same(new Config(groups, eps)) : null;
    }
}
