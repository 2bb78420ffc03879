namespace ModelGen.Generators.Layers;

/// <summary>[Gelu]: exact (erf) GELU, element-wise on any shape.</summary>
internal sealed class GeluRule : ActivationRule<GeluAttribute>
{
}
