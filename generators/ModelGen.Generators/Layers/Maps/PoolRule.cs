using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>Max or average pooling over Kernel×Kernel windows moved by Stride (0 means Kernel), no padding.</summary>
internal abstract class PoolRule<TAttribute> : LayerRule<TAttribute> where TAttribute : LayerAttribute
{
    internal sealed record Config(string Op, int Kernel, int Stride) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) => lower.Pool(Op, layer.Path, layer.Input, Kernel, Stride, layer.Output);
    }

    /// <summary>"Max" or "Avg": the runtime op (MaxPool2d or AvgPool2d).</summary>
    protected abstract string Op { get; }

    protected Edge? Check(LayerContext c, int kernelArg, int strideArg)
    {
        if (!c.IsMap()) return null;
        if (c.Positive("Kernel", kernelArg) is not { } kernel) return null;
        if (c.AtLeast("Stride", strideArg, 0, "positive (or 0 for Kernel)") is not { } s) return null;
        int stride = s == 0 ? kernel : s;
        if (c.Window("Kernel", kernel, stride, 0) is not { } o) return null;
        return c.Emit(new Config(Op, kernel, stride), new[] { c.Input.Shape[0], o.H, o.W });
    }
}
