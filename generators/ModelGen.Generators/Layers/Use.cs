using System;

namespace ModelGen.Generators.Layers;

/// <summary>[Use(typeof(Block), Depth = n)]: not a layer of its own. The shape checker inlines the module's layers, Depth times.</summary>
internal sealed class UseRule : LayerRule<UseAttribute>
{
    protected override Model.Edge? Check(UseAttribute attribute, LayerContext context) =>
        throw new InvalidOperationException("[Use] is expanded by the shape checker");
}
