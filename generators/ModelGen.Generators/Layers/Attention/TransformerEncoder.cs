using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[TransformerEncoder(depth, heads)]: Depth encoder layers (<c>layers.{i}</c>), stochastic depth rising linearly to DropPath.</summary>
internal sealed class TransformerEncoderRule : LayerRule<TransformerEncoderAttribute>
{
    internal sealed record Config(AttentionConfig Attention, EncoderOptions Options, string? Mask, int Depth) : LayerConfig
    {
        /// <summary>Stochastic depth grows linearly from 0 in the first layer to DropPath in the last, as timm's ViT.</summary>
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer)
        {
            string x = layer.Input;
            for (int i = 0; i < Depth; i++)
            {
                float rate = Depth == 1 ? 0f : (float)(Options.DropPath * i / (Depth - 1));
                x = TransformerEncoderLayerRule.Lower(lower, $"{layer.Path}.layers.{i}", x, Mask, Attention, Options, rate, i == Depth - 1 ? layer.Output : null);
            }
        }
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, Mask is null ? ModelGenerator.StepLowerer.Stack(step, layer.Path, step.In(layer), Depth, (s, p, x) => TransformerEncoderLayerRule.LowerStep(s, p, x, Attention, Options)) : null);
    }

    protected override Edge? Check(TransformerEncoderAttribute a, LayerContext c)
    {
        if (TransformerEncoderLayerRule.Check(a, c) is not { } layer) return null;
        if (c.Positive("Depth", a.Depth) is not { } depth) return null;
        return c.Same(new Config(layer.Attention, layer.Options, layer.Mask, depth));
    }
}
