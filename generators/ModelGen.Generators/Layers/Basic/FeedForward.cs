using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[FeedForward(hidden)]: Linear(D→hidden), activation, dropout, Linear(hidden→D) over the last dimension.</summary>
internal sealed class FeedForwardRule : LayerRule<FeedForwardAttribute>
{
    internal sealed record Config(int Dim, int Hidden, Activation Activation, double Dropout) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            FeedForwardRule.Lower(lower, layer.Path, layer.Input, Dim, Hidden, Activation, (float)Dropout, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.FeedForward(layer.Path, step.In(layer), Dim, Hidden, Activation));
    }

    /// <summary>fc1 → act → (drop) → fc2; also the MLP of every Transformer layer.</summary>
    /// <param name="residual">When given, fc2's result joins this residual sum (named <paramref name="sumPath"/>) in one fused op,
    /// and the sum is returned.</param>
    internal static string Lower(ModelGenerator.Lowerer l, string path, string x, int dim, int hidden, Activation activation, float dropout, string? output,
        string? residual = null, string? sumPath = null)
    {
        // fc1 and its activation are one op (one product with the activation in its epilogue on a device).
        string h = l.LinearActivation(path + ".fc1", path + ".act", x, dim, hidden, gelu: activation != Activation.Relu);
        if (dropout > 0) h = l.Dropout(path + ".drop", h, dropout, null);
        return residual is null
            ? l.Linear(path + ".fc2", h, hidden, dim, bias: true, output)
            : l.LinearResidual(path + ".fc2", h, hidden, dim, bias: true, residual, sumPath!, output);
    }

    protected override Edge? Check(FeedForwardAttribute a, LayerContext c)
    {
        if (c.Positive("Hidden", a.Hidden) is not { } hidden) return null;
        if (c.Probability("Dropout", a.Dropout) is not { } dropout) return null;
        return c.Same(new Config(c.Input.Last, hidden, a.Activation, dropout));
    }
}
