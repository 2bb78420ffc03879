using ModelGen.Generators.Model;

namespace ModelGen.Generators.Layers;

/// <summary>[TransformerDecoder(depth, heads)]: Depth decoder layers (<c>layers.{i}</c>) reading one memory, stochastic depth rising
/// linearly to DropPath.</summary>
internal sealed class TransformerDecoderRule : LayerRule<TransformerDecoderAttribute>
{
    internal sealed record Config(TransformerDecoderLayerRule.Decoder Decoder, int Depth) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer)
        {
            string x = layer.Input;
            for (int i = 0; i < Depth; i++)
            {
                float rate = Depth == 1 ? 0f : (float)(Decoder.Options.DropPath * i / (Depth - 1));
                x = TransformerDecoderLayerRule.Lower(lower, $"{layer.Path}.layers.{i}", x, Decoder, rate, i == Depth - 1 ? layer.Output : null);
            }
        }
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, ModelGenerator.StepLowerer.Stack(step, layer.Path, step.In(layer), Depth, (s, p, x) => TransformerDecoderLayerRule.LowerStep(s, p, x, Decoder)));
    }

    protected override Edge? Check(TransformerDecoderAttribute a, LayerContext c)
    {
        if (TransformerDecoderLayerRule.Check(a, c) is not { } decoder) return null;
        if (c.Positive("Depth", a.Depth) is not { } depth) return null;
        return c.Same(new Config(decoder, depth));
    }
}
