using System;
using System.Collections.Generic;
using System.Linq;

namespace ModelGen.Generators.Layers;

/// <summary>Every layer kind the generator knows, one rule each (Mapperly's builder table, for layers). A new layer kind is an
/// attribute in ModelGen.Abstractions, a rule file beside these, and one line here.</summary>
internal static class LayerRegistry
{
    public static readonly IReadOnlyList<LayerRule> Rules = new LayerRule[]
    {
        // Basic: any shape
        new LinearRule(),
        new LayerNormRule(),
        new GeluRule(),
        new ReluRule(),
        new SigmoidRule(),
        new DropoutRule(),
        new ResidualRule(),
        new FeedForwardRule(),
        // Sequence: tokens (tokens, width)
        new PatchEmbeddingRule(),
        new EmbeddingRule(),
        new ClassTokenRule(),
        new LearnedPositionsRule(),
        new SinusoidalPositionsRule(),
        new MeanPoolRule(),
        new TokensToMapRule(),
        new PatchMergingRule(),
        new MapToTokensRule(),
        // Attention
        new MultiHeadAttentionRule(),
        new LinformerAttentionRule(),
        new PerformerAttentionRule(),
        new ReformerAttentionRule(),
        new SparseAttentionRule(),
        new AdditiveAttentionRule(),
        new LocationAttentionRule(),
        new TransformerEncoderLayerRule(),
        new TransformerEncoderRule(),
        new TransformerDecoderLayerRule(),
        new TransformerDecoderRule(),
        new TransformerRule(),
        // Maps: feature maps (C, H, W)
        new Conv2dRule(),
        new ConvBnReluRule(),
        new BatchNormRule(),
        new GroupNormRule(),
        new UpsampleRule(),
        new MaxPoolRule(),
        new AvgPoolRule(),
        new SqueezeExcitationRule(),
        new SpatialAttentionRule(),
        new CoordinateAttentionRule(),
        new NonLocalRule(),
        // Heads
        new ClassifierHeadRule(),
        new PixelClassifierRule(),
        new SetrDecoderRule(),
        new MaskTransformerRule(),
        new MaskClassifierRule(),
        // Composition: [Use(typeof(Block))] inlines a [Module]; the shape checker expands it.
        new UseRule(),
    };

    static readonly Dictionary<string, LayerRule> s_byAttribute = Rules.ToDictionary(r => r.Attribute.FullName!, StringComparer.Ordinal);

    /// <summary>The rule for an attribute's full name ("ModelGen.LinearAttribute"), or null.</summary>
    public static LayerRule? Find(string attributeName) => s_byAttribute.TryGetValue(attributeName, out var rule) ? rule : null;
}
