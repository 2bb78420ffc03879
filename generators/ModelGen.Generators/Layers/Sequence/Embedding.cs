using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[Embedding(vocab, dim)]: token ids (tokens) -> (tokens, dim), a row of the table per id; the one layer that reads an
/// input declared with <c>InputKind.Tokens</c>, whose ids Forward checks against the vocabulary.</summary>
internal sealed class EmbeddingRule : LayerRule<EmbeddingAttribute>
{
    internal sealed record Config(int Vocab, int Dim, int PaddingIndex, double Std) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            lower.Embedding(layer.Path, layer.Input, Vocab, Dim, PaddingIndex, Std, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, step.Embedding(layer.Path, step.In(layer), Vocab, Dim, PaddingIndex));
    }

    public override bool ReadsTokens => true;

    protected override Edge? Check(EmbeddingAttribute a, LayerContext c)
    {
        if (c.Positive("Vocab", a.Vocab) is not { } vocab) return null;
        if (c.Positive("Dim", a.Dim) is not { } dim) return null;
        if (c.InRange("PaddingIndex", a.PaddingIndex, a.PaddingIndex >= -1 && a.PaddingIndex < vocab, $"-1 (none) or an id in [0, {vocab})") is not { } padding) return null;
        if (c.Positive("Std", a.Std) is not { } std) return null;
        return c.Emit(new Config(vocab, dim, padding, std), new[] { c.Input.Shape[0], dim });
    }
}
