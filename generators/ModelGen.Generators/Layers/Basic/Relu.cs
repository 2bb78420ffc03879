namespace ModelGen.Generators.Layers;

/// <summary>[Relu]: element-wise on any shape.</summary>
internal sealed class ReluRule : ActivationRule<ReluAttribute>
{
}
