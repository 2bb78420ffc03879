using System;

namespace ModelGen;

/// <summary>Marks a <c>partial class</c> as a model: its <see cref="InputAttribute"/>s and layer properties are compiled into forward and backward passes.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModelAttribute : Attribute
{
}

/// <summary>Marks a <c>partial class</c> as a reusable block of layers, placed into models with <see cref="UseAttribute"/>.
/// Its first <see cref="InputAttribute"/> gives the feature width it expects; the sequence length comes from where it is used.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ModuleAttribute : Attribute
{
}

/// <summary>What an input carries.</summary>
public enum InputKind
{
    /// <summary>Float data.</summary>
    Tensor = 0,

    /// <summary>A key padding mask of shape (keys): a nonzero value means that key is padding and is ignored (PyTorch's <c>key_padding_mask</c>).</summary>
    KeyPaddingMask = 1,

    /// <summary>An attention mask of shape (queries, keys) or (heads, queries, keys): a nonzero value masks that query–key score
    /// (the boolean <c>attn_mask</c> of PyTorch's <c>nn.MultiheadAttention</c>, True = not allowed). Name it in
    /// <see cref="AttentionOptionsAttribute.AttentionMask"/>.</summary>
    AttentionMask = 2,

    /// <summary>An additive attention mask of shape (queries, keys) or (heads, queries, keys), added to the scaled scores before
    /// the softmax (a float <c>attn_mask</c>; −∞ masks). Name it in <see cref="AttentionOptionsAttribute.AttentionMask"/>.</summary>
    AttentionBias = 3,

    /// <summary>Token ids of shape (tokens), read by an <see cref="EmbeddingAttribute"/> layer: whole numbers in [0, vocab), carried
    /// as floats (exact below 2²⁴; <c>Tensor.FromTokens</c> makes one from ints). Forward checks every id against the vocabulary.</summary>
    Tokens = 4,
}

/// <summary>A model input. The shape excludes the batch dimension, which is chosen at run time.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class InputAttribute : Attribute
{
    public InputAttribute(string name, params int[] shape)
    {
        Name = name;
        Shape = shape;
    }

    public string Name { get; }

    public int[] Shape { get; }

    public InputKind Kind { get; set; }
}

/// <summary>Where layer normalization sits in a Transformer layer.</summary>
public enum NormPlacement
{
    /// <summary>x + f(norm(x)), as in ViT and GPT-2.</summary>
    Pre = 0,

    /// <summary>norm(x + f(x)), as in the original Transformer.</summary>
    Post = 1,
}

/// <summary>The activation of a feed-forward block.</summary>
public enum Activation
{
    Gelu = 0,
    Relu = 1,
}
