using ModelGen.Generators.Model;
using AttentionConfig = ModelGen.Generators.ModelGenerator.Lowerer.AttentionConfig;

namespace ModelGen.Generators.Layers;

/// <summary>[MultiHeadAttention(heads)]: self-attention, or cross-attention to <c>KeyValue</c> (or <c>Key</c> and <c>Value</c>); grouped-query
/// heads, key and value head widths, causal and key-padding masks. (Nq, width) -> (Nq, width).</summary>
internal sealed class MultiHeadAttentionRule : LayerRule<MultiHeadAttentionAttribute>
{
    internal sealed record Config(AttentionConfig Attention, string Key, string Value, string? Mask) : LayerConfig
    {
        internal override void Lower(ModelGenerator.Lowerer lower, CheckedLayer layer) =>
            MultiHeadAttentionRule.Lower(lower, layer.Path, layer.Input, Key, Value, Mask, Attention, layer.Output);
        internal override bool LowerStep(ModelGenerator.StepLowerer step, CheckedLayer layer) =>
            step.Bind(layer.Output, Key == layer.Input && Value == layer.Input ? (Mask is null ? step.SelfAttention(layer.Path, step.In(layer), Attention) : null)
                : Key == Value ? step.CrossAttention(layer.Path, step.In(layer), Key, Mask, Attention) : null);
    }

    /// <summary>Projections initialised as PyTorch's nn.MultiheadAttention: q, k, v weights Xavier-uniform — over the packed
    /// (3·E, E) in_proj_weight when all three are E×E, else each over its own shape — and every bias zero; out_proj's
    /// weight keeps nn.Linear's U(±1/√in).</summary>
    /// <param name="residual">When given, the output projection's result joins this residual sum (named
    /// <paramref name="sumPath"/>) in one fused op, and the sum is returned.</param>
    internal static string Lower(ModelGenerator.Lowerer l, string path, string x, string key, string value, string? mask, AttentionConfig c, string? output,
        string? residual = null, string? sumPath = null)
    {
        int qOut = c.Heads * c.KeyDim, kOut = c.KvHeads * c.KeyDim, vOut = c.KvHeads * c.ValueDim;
        var (qInit, kInit, vInit) = ProjectionInits(c);
        string q, k, v;
        // Self-attention projects one input three ways: one fused op (one launch forward, one product for dx on a device).
        if (key == x && value == x) (q, k, v) = SelfProjections(l, path, x, c);
        else
        {
            // Cross-attention (relative positions, rotary included, need self-attention).
            q = l.Linear(path + ".q_proj", x, c.Width, qOut, c.Bias, null, weightInit: qInit, biasInit: "zero");
            k = l.Linear(path + ".k_proj", key, c.KeyWidth, kOut, c.Bias, null, weightInit: kInit, biasInit: "zero");
            v = l.Linear(path + ".v_proj", value, c.ValueWidth, vOut, c.Bias, null, weightInit: vInit, biasInit: "zero");
        }
        string heads = l.ScaledDotProduct(path + ".heads", q, k, v, mask, c, l.AttentionScoreBias(path, c, q));
        return residual is null
            ? l.Linear(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, output, biasInit: "zero")
            : l.LinearResidual(path + ".out_proj", heads, c.Heads * c.ValueDim, c.Width, c.Bias, residual, sumPath!, output, biasInit: "zero");
    }

    /// <summary>Self-attention's q, k, v of one input in one fused op, initialised as nn.MultiheadAttention's, the queries and keys
    /// rotated when the positions are rotary: what every attention without its own projections starts with.</summary>
    internal static (string Q, string K, string V) SelfProjections(ModelGenerator.Lowerer l, string path, string x, AttentionConfig c)
    {
        int qOut = c.Heads * c.KeyDim, kOut = c.KvHeads * c.KeyDim, vOut = c.KvHeads * c.ValueDim;
        var (qInit, kInit, vInit) = ProjectionInits(c);
        var (q, k, v) = l.Projections(path, x, c.Width, new("q_proj", qOut, qInit), new("k_proj", kOut, kInit), new("v_proj", vOut, vInit), c.Bias, "zero");
        return c.RotaryBase > 0
            ? (l.Rotary(path + ".q_rope", q, c.Heads, c.KeyDim, c.RotaryBase), l.Rotary(path + ".k_rope", k, c.KvHeads, c.KeyDim, c.RotaryBase), v)
            : (q, k, v);
    }

    /// <summary>The argument that asks an attention which never forms its full scores to act on them (a padding or attention
    /// mask, a score bias), with what a message calls it; null when there is none.</summary>
    internal static (string Argument, string What)? ScoreOption(AttentionOptionsAttribute a, bool paddingAllowed = false) =>
        a.KeyPaddingMask is not null && !paddingAllowed ? ("KeyPaddingMask", "KeyPaddingMask")
        : a.AttentionMask is not null ? ("AttentionMask", "AttentionMask")
        : a.Positions is not (RelativePositions.None or RelativePositions.Rotary) ? ("Positions", PositionsName(a.Positions))
        : null;

    /// <summary>nn.MultiheadAttention's q, k, v initialisations: Xavier-uniform over the packed (3·E, E) in_proj_weight when all
    /// three are E×E, else each over its own shape.</summary>
    internal static (string Q, string K, string V) ProjectionInits(AttentionConfig c)
    {
        int qOut = c.Heads * c.KeyDim, kOut = c.KvHeads * c.KeyDim, vOut = c.KvHeads * c.ValueDim;
        bool packed = c.KeyWidth == c.Width && c.ValueWidth == c.Width && qOut == c.Width && kOut == c.Width && vOut == c.Width;
        static string Xavier(int fanIn, int fanOut) => "uniform:" + System.Math.Sqrt(6.0 / (fanIn + fanOut)).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        return packed
            ? (Xavier(c.Width, 3 * c.Width), Xavier(c.Width, 3 * c.Width), Xavier(c.Width, 3 * c.Width))
            : (Xavier(c.Width, qOut), Xavier(c.KeyWidth, kOut), Xavier(c.ValueWidth, vOut));
    }

    protected override Edge? Check(MultiHeadAttentionAttribute a, LayerContext c)
    {
        if (!c.IsSequence()) return null;
        if (Heads(a, c) is not { } h) return null;
        Edge key = c.Input, value = c.Input;
        string keyArg = a.Key is not null ? "Key" : "KeyValue", valueArg = a.Value is not null ? "Value" : "KeyValue";
        string? k = a.Key ?? a.KeyValue, v = a.Value ?? a.KeyValue;
        if (k is not null)
        {
            if (c.Resolve(keyArg, k) is not { } ke) return null;
            key = ke;
        }
        if (v is not null)
        {
            if (c.Resolve(valueArg, v) is not { } ve) return null;
            value = ve;
        }
        foreach (var (edge, arg, name) in new[] { (key, keyArg, k), (value, valueArg, v) })
        {
            if (edge.IsMask) { c.Report(DiagnosticDescriptors.NotAMask, arg, c.Path, name ?? "", "keys or values", edge.Role); return null; }
            if (edge.Shape.Count != 2) { c.Report(DiagnosticDescriptors.RankMismatch, arg, c.Path, "keys and values as (B, tokens, width)", name ?? "", edge.Display); return null; }
        }
        if (key.Shape[0] != value.Shape[0])
        {
            c.Report(DiagnosticDescriptors.KeyValueLengthMismatch, a.Value is not null ? "Value" : "Key", c.Path,
                k ?? LayerContext.NameOf(c.Input), key.Display, v ?? LayerContext.NameOf(c.Input), value.Display);
            return null;
        }
        if (h.Positions != RelativePositions.None && k is not null)
        {
            c.Report(DiagnosticDescriptors.RelativePositionsNeedSelfAttention, "Positions", c.Path, PositionsName(h.Positions), k);
            return null;
        }
        if (!Mask(a, c, key.Shape[0], out var mask)) return null;
        if (!AttentionMask(a, c, h.Heads, c.Input.Shape[0], key.Shape[0], out var attentionMask)) return null;
        var attention = h with { Keys = key.Shape[0], KeyWidth = key.Last, ValueWidth = value.Last, Mask = attentionMask };
        return c.Same(new Config(attention, key.Name, value.Name, mask));
    }

    /// <summary>The head layout every attention kind checks: Heads divides the width (unless KeyDim is set), KvHeads divides Heads.
    /// Keys and values are the input itself until a caller says otherwise.</summary>
    internal static AttentionConfig? Heads(AttentionOptionsAttribute a, LayerContext c)
    {
        int width = c.Input.Last;
        if (c.Positive("Heads", a.Heads) is not { } heads) return null;
        if (c.AtLeast("KvHeads", a.KvHeads, 0, "positive (or 0 for Heads)") is not { } kvHeadsArg) return null;
        int kvHeads = kvHeadsArg == 0 ? heads : kvHeadsArg;
        if (c.AtLeast("KeyDim", a.KeyDim, 0, "positive (or 0 for width / Heads)") is not { } keyDimArg) return null;
        if (keyDimArg == 0 && width % heads != 0)
        {
            c.Report(DiagnosticDescriptors.DimNotDivisibleByHeads, "Heads", c.Path, width, heads);
            return null;
        }
        int keyDim = keyDimArg == 0 ? width / heads : keyDimArg;
        if (c.AtLeast("ValueDim", a.ValueDim, 0, "positive (or 0 for KeyDim)") is not { } valueDimArg) return null;
        if (heads % kvHeads != 0)
        {
            c.Report(DiagnosticDescriptors.HeadsNotDivisibleByKvHeads, "KvHeads", c.Path, heads, kvHeads);
            return null;
        }
        double rotaryBase = 0;
        if (a.Positions == RelativePositions.Rotary)
        {
            if (keyDim % 2 != 0)
            {
                c.Report(DiagnosticDescriptors.RotaryOddHeadWidth, "Positions", c.Path, keyDim);
                return null;
            }
            if (!(a.RotaryBase > 1))
            {
                c.Report(DiagnosticDescriptors.NonPositiveSize, "RotaryBase", "RotaryBase", c.Subject, a.RotaryBase, "greater than 1");
                return null;
            }
            rotaryBase = a.RotaryBase;
        }
        int buckets = 0, maxDistance = 0;
        if (a.Positions == RelativePositions.RelativeBias)
        {
            // T5 halves the buckets between the two sides unless the attention is causal, and keeps half of a side exact.
            int least = a.Causal ? 2 : 4;
            if (c.AtLeast("RelativeBuckets", a.RelativeBuckets, least, $"at least {least}{(a.Causal ? "" : " (half for each side of the query)")}") is not { } b) return null;
            int exact = (a.Causal ? b : b / 2) / 2;
            if (c.AtLeast("MaxDistance", a.MaxDistance, exact + 1, $"greater than the {exact} buckets of exact distances") is not { } d) return null;
            (buckets, maxDistance) = (b, d);
        }
        else if (a.Positions == RelativePositions.Shaw)
        {
            // Shaw's clipping distance k: 2k + 1 learned key vectors.
            if (c.AtLeast("MaxDistance", a.MaxDistance, 1, "at least 1 (the clipping distance of the relative keys)") is not { } d) return null;
            maxDistance = d;
            buckets = 2 * d + 1;
        }
        else if (a.Positions == RelativePositions.AdaptiveSpan)
        {
            // S (MaxDistance) and the ramp R; Buckets carries R.
            if (c.AtLeast("MaxDistance", a.MaxDistance, 1, "at least 1 (the largest span, in tokens)") is not { } d) return null;
            if (c.AtLeast("SpanRamp", a.SpanRamp, 1, "at least 1 token") is not { } r) return null;
            maxDistance = d;
            buckets = r;
        }
        else if (a.Positions is not (RelativePositions.None or RelativePositions.Rotary or RelativePositions.Alibi))
        {
            c.Report(DiagnosticDescriptors.NonPositiveSize, "Positions", "Positions", c.Subject, (int)a.Positions, "one of RelativePositions' values");
            return null;
        }
        int tokens = c.Input.Shape[0];
        return new AttentionConfig(width, heads, kvHeads, keyDim, valueDimArg == 0 ? keyDim : valueDimArg, a.Causal, a.Bias, tokens, tokens, width, width,
            rotaryBase, a.Positions, buckets, maxDistance);
    }

    internal static string PositionsName(RelativePositions p) => p switch
    {
        RelativePositions.Rotary => "rotary",
        RelativePositions.Alibi => "ALiBi",
        RelativePositions.Shaw => "Shaw's relative keys",
        RelativePositions.AdaptiveSpan => "an adaptive span",
        _ => "relative bias",
    };

    /// <summary>The attention mask input, when named: an attention mask or bias input of shape (queries, keys) or (heads, queries, keys).</summary>
    internal static bool AttentionMask(AttentionOptionsAttribute a, LayerContext c, int heads, int queries, int keys, out ModelGenerator.Lowerer.AttentionMaskInput? mask)
    {
        mask = null;
        if (a.AttentionMask is not { } name) return true;
        if (c.Resolve("AttentionMask", name) is not { } m) return false;
        if (m.Kind is not (InputSpec.AttentionMaskKind or InputSpec.AttentionBiasKind))
        {
            c.Report(DiagnosticDescriptors.NotAMask, "AttentionMask", c.Path, name, "an attention mask",
                m.IsMask ? m.Role : "data (declare it with Kind = InputKind.AttentionMask or InputKind.AttentionBias)");
            return false;
        }
        var s = m.Shape;
        bool fits = s[s.Count - 2] == queries && s[s.Count - 1] == keys && (s.Count == 2 || s[0] == heads);
        if (!fits)
        {
            c.Report(DiagnosticDescriptors.AttentionMaskShapeMismatch, "AttentionMask", c.Path, name, m.Display, queries, keys, heads);
            return false;
        }
        mask = new ModelGenerator.Lowerer.AttentionMaskInput(m.Name, m.Kind == InputSpec.AttentionMaskKind, s.Count == 2 ? 1 : heads);
        return true;
    }

    /// <summary>The key padding mask input, when named: a mask input as long as the keys.</summary>
    internal static bool Mask(AttentionOptionsAttribute a, LayerContext c, int keys, out string? mask) =>
        KeyPadding(c, "KeyPaddingMask", a.KeyPaddingMask, keys, out mask);

    /// <summary>A key padding mask named by <paramref name="argument"/> (a decoder's memory has its own): an input of
    /// <see cref="InputKind.KeyPaddingMask"/> as long as the keys it pads.</summary>
    internal static bool KeyPadding(LayerContext c, string argument, string? name, int keys, out string? mask)
    {
        mask = null;
        if (name is null) return true;
        if (c.Resolve(argument, name) is not { } m) return false;
        if (m.Kind != InputSpec.MaskKind)
        {
            c.Report(DiagnosticDescriptors.NotAMask, argument, c.Path, name, "a key padding mask",
                m.IsMask ? m.Role : "data (declare it with Kind = InputKind.KeyPaddingMask)");
            return false;
        }
        if (m.Shape[0] != keys)
        {
            c.Report(DiagnosticDescriptors.MaskLengthMismatch, argument, c.Path, name, m.Shape[0], keys);
            return false;
        }
        mask = m.Name;
        return true;
    }
}
