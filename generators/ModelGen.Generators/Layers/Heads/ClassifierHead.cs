using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[ClassifierHead(classes)]: (tokens, width) pooled (class token or mean) -> (classes) logits.</summary>
internal sealed class ClassifierHeadRule : LayerRule<ClassifierHeadAttribute>
{
    internal sealed record Config(int Classes, Pool Pool, int Width) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer)
        {
            string pooled = Pool == Pool.ClassToken
                ? lower.SelectToken(layer.Path + ".pool", layer.Input, 0, null)
                : lower.MeanPool(layer.Path + ".pool", layer.Input, null);
            lower.Linear(layer.Path, pooled, Width, Classes, bias: true, layer.Output);
        }
    }

    protected override Edge? Check(ClassifierHeadAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (c.Positive("Classes", a.Classes) is not { } classes) return null;
        return c.Emit(new Config(classes, a.Pool, c.Input.Last), new[] { classes });
    }
}
