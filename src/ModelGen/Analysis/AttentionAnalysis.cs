using System;
using System.Collections.Generic;
using System.Linq;

namespace ModelGen.Analysis;

/// <summary>
/// Tools that analyse attention heads from a model's attention probabilities (<c>model.Intermediate("….heads.probs")</c>,
/// (batch, heads, queries, keys)) and its parameter gradients: how spread each head's attention is, how alike the heads of a
/// layer attend, how much each head matters to the loss, and what is lost when heads are pruned.
/// </summary>
public static class AttentionAnalysis
{
    /// <summary>Each head's attention entropy −Σ_j p_ij·ln p_ij, averaged over the batch and the queries (nats; a uniform
    /// row over n keys gives ln n, a row on one key 0). Rows whose keys were all masked (all zeros) are left out.</summary>
    public static double[] HeadEntropy(Tensor probs)
    {
        var (batch, heads, queries, keys) = Dims(probs);
        var entropy = new double[heads];
        var rows = new long[heads];
        var p = probs.Data;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < queries; i++)
                {
                    long at = (((long)b * heads + h) * queries + i) * keys;
                    double e = 0, total = 0;
                    for (int j = 0; j < keys; j++)
                    {
                        double x = p[at + j];
                        total += x;
                        if (x > 0) e -= x * Math.Log(x);
                    }
                    if (total == 0) continue;
                    entropy[h] += e;
                    rows[h]++;
                }
        for (int h = 0; h < heads; h++) entropy[h] = rows[h] == 0 ? double.NaN : entropy[h] / rows[h];
        return entropy;
    }

    /// <summary>How alike two heads attend: tr(AᵢᵀAⱼ) / (‖Aᵢ‖_F·‖Aⱼ‖_F) of their (queries × keys) attention matrices, the cosine of
    /// the two matrices, averaged over the batch: (heads, heads), 1 on the diagonal, 1 for heads that attend the same way,
    /// near 0 for heads that look at different keys.</summary>
    public static double[,] HeadSimilarity(Tensor probs)
    {
        var (batch, heads, queries, keys) = Dims(probs);
        long size = (long)queries * keys;
        var p = probs.Data;
        var sim = new double[heads, heads];
        var norm = new double[heads];
        for (int b = 0; b < batch; b++)
        {
            long at(int h) => ((long)b * heads + h) * size;
            for (int h = 0; h < heads; h++)
            {
                double s = 0;
                for (long e = 0; e < size; e++) s += (double)p[at(h) + e] * p[at(h) + e];
                norm[h] = Math.Sqrt(s);
            }
            for (int x = 0; x < heads; x++)
                for (int y = x; y < heads; y++)
                {
                    double dot = 0;
                    for (long e = 0; e < size; e++) dot += (double)p[at(x) + e] * p[at(y) + e];
                    double c = norm[x] > 0 && norm[y] > 0 ? dot / (norm[x] * norm[y]) : 0;
                    sim[x, y] += c / batch;
                    if (y != x) sim[y, x] += c / batch;
                }
        }
        return sim;
    }

    /// <summary>
    /// Each head's importance to the loss whose gradients the parameters hold now: Σ |∂L/∂W ⊙ W| over the head's own weights,
    /// the rows of <c>q_proj</c> (and of <c>k_proj</c> and <c>v_proj</c> when every head has its own keys and values) and the
    /// columns of <c>out_proj</c> that read it, of the attention layer at <paramref name="attention"/> (e.g.
    /// "encoder.layers.3.attn"). Call it after each batch's backward and average, for E[|∂L/∂W_h ⊙ W_h|] over a data set.
    /// </summary>
    public static double[] HeadImportance(ParameterSet parameters, string attention, int heads)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (heads < 1) throw new ArgumentOutOfRangeException(nameof(heads), heads, "Heads must be positive.");
        Parameter Named(string suffix) => parameters.FirstOrDefault(p => p.Name == attention + suffix)
            ?? throw new ArgumentException($"The model has no parameter '{attention}{suffix}'; name an attention layer (known: "
                + string.Join(", ", parameters.Where(p => p.Name.EndsWith(".q_proj.weight", StringComparison.Ordinal)).Select(p => p.Name[..^".q_proj.weight".Length])) + ").",
                nameof(attention));
        var q = Named(".q_proj.weight");
        var k = Named(".k_proj.weight");
        var v = Named(".v_proj.weight");
        var o = Named(".out_proj.weight");
        if (q.Shape[0] % heads != 0)
            throw new ArgumentException($"'{attention}' projects queries to {q.Shape[0]} features, which {heads} heads do not divide.", nameof(heads));
        var importance = new double[heads];
        // Rows of a (heads·d, in) projection: head h owns rows h·d … h·d + d − 1.
        void Rows(Parameter w)
        {
            int d = w.Shape[0] / heads, width = w.Shape[1];
            for (int h = 0; h < heads; h++)
                for (int r = h * d; r < (h + 1) * d; r++)
                    for (int c = 0; c < width; c++) importance[h] += Math.Abs((double)w.Value[r * width + c] * w.Grad[r * width + c]);
        }
        Rows(q);
        // Grouped-query heads share their keys and values: those weights belong to no single head.
        if (k.Shape[0] == q.Shape[0] && v.Shape[0] % heads == 0)
        {
            Rows(k);
            Rows(v);
        }
        int outWidth = o.Shape[1], dv = outWidth / heads;
        for (int r = 0; r < o.Shape[0]; r++)
            for (int h = 0; h < heads; h++)
                for (int c = h * dv; c < (h + 1) * dv; c++) importance[h] += Math.Abs((double)o.Value[r * outWidth + c] * o.Grad[r * outWidth + c]);
        return importance;
    }

    /// <summary>
    /// Prunes heads at run time until the result is disposed: the columns of <c>out_proj</c> that read heads
    /// <paramref name="pruned"/> of the attention layer at <paramref name="attention"/> are zeroed, so those heads contribute
    /// nothing (Michel et al.'s head mask), and restored bit for bit on dispose. Works on any device (the parameters are
    /// synchronised first and marked changed).
    /// </summary>
    public static IDisposable MaskHeads(ParameterSet parameters, string attention, int heads, params int[] pruned)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(pruned);
        var o = parameters.FirstOrDefault(p => p.Name == attention + ".out_proj.weight")
            ?? throw new ArgumentException($"The model has no parameter '{attention}.out_proj.weight'.", nameof(attention));
        int width = o.Shape[1];
        if (heads < 1 || width % heads != 0)
            throw new ArgumentException($"'{attention}' reads {width} features from its heads, which {heads} heads do not divide.", nameof(heads));
        foreach (int h in pruned)
            if (h < 0 || h >= heads) throw new ArgumentOutOfRangeException(nameof(pruned), h, $"Heads are numbered 0 to {heads - 1}.");
        parameters.Synchronize();
        var kept = (float[])o.Value.Clone();
        int dv = width / heads;
        for (int r = 0; r < o.Shape[0]; r++)
            foreach (int h in pruned)
                Array.Clear(o.Value, r * width + h * dv, dv);
        o.MarkChanged();
        return new Restore(parameters, o, kept);
    }

    /// <summary>
    /// Fills a model declared with fewer heads from one that has them all: for each attention layer named in
    /// <paramref name="pruned"/> (path -> the heads of <paramref name="heads"/> to drop), the kept heads' rows of <c>q_proj</c>,
    /// <c>k_proj</c> and <c>v_proj</c> (weights and biases) and their columns of <c>out_proj</c>'s weight; every other parameter is
    /// copied as it is. The pruned model computes what <see cref="MaskHeads"/> computes, with smaller projections. Every head of
    /// a pruned layer must have its own keys and values (no grouped-query heads), and the target's shapes must be the kept ones.
    /// </summary>
    public static void PruneHeads(ParameterSet source, ParameterSet target, IReadOnlyDictionary<string, int[]> pruned, int heads)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(pruned);
        if (heads < 1) throw new ArgumentOutOfRangeException(nameof(heads), heads, "Heads must be positive.");
        source.Synchronize();
        foreach (var (layer, drop) in pruned)
            foreach (int h in drop)
                if (h < 0 || h >= heads) throw new ArgumentOutOfRangeException(nameof(pruned), h, $"'{layer}': heads are numbered 0 to {heads - 1}.");
        foreach (var t in target)
        {
            var s = source.FirstOrDefault(p => p.Name == t.Name)
                ?? throw new ArgumentException($"The source model has no parameter '{t.Name}'.", nameof(source));
            string? layer = pruned.Keys.FirstOrDefault(l => t.Name.StartsWith(l + ".", StringComparison.Ordinal));
            string part = layer is null ? "" : t.Name.Substring(layer.Length + 1);
            if (layer is null || part is not ("q_proj.weight" or "q_proj.bias" or "k_proj.weight" or "k_proj.bias" or "v_proj.weight" or "v_proj.bias" or "out_proj.weight"))
            {
                if (!s.Shape.SequenceEqual(t.Shape))
                    throw new ArgumentException($"'{t.Name}' is {Tensor.Format(s.Shape)} in the source but {Tensor.Format(t.Shape)} in the pruned model.", nameof(target));
                s.Value.CopyTo(t.Value, 0);
                t.MarkChanged();
                continue;
            }
            var kept = Enumerable.Range(0, heads).Except(pruned[layer]).ToArray();
            bool columns = part == "out_proj.weight";
            int features = columns ? s.Shape[1] : s.Shape[0], width = columns ? s.Shape[0] : s.Shape.Length > 1 ? s.Shape[1] : 1;
            if (features % heads != 0)
                throw new ArgumentException($"'{s.Name}' has {features} head features, which {heads} heads do not divide (grouped-query heads cannot be pruned here).", nameof(heads));
            int d = features / heads;
            int expected = kept.Length * d, actual = columns ? t.Shape[1] : t.Shape[0];
            if (actual != expected)
                throw new ArgumentException($"'{t.Name}' keeps {kept.Length} of {heads} heads of {d} features, {expected} in all, but the pruned model has {actual}.", nameof(target));
            for (int i = 0; i < kept.Length; i++)
                for (int f = 0; f < d; f++)
                {
                    int from = kept[i] * d + f, to = i * d + f;
                    if (columns)
                        for (int r = 0; r < width; r++) t.Value[r * expected + to] = s.Value[r * features + from];
                    else Array.Copy(s.Value, from * width, t.Value, to * width, width);
                }
            t.MarkChanged();
        }
    }

    sealed class Restore(ParameterSet parameters, Parameter weight, float[] kept) : IDisposable
    {
        bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            parameters.Synchronize();
            kept.CopyTo(weight.Value, 0);
            weight.MarkChanged();
        }
    }

    static (int Batch, int Heads, int Queries, int Keys) Dims(Tensor probs)
    {
        ArgumentNullException.ThrowIfNull(probs);
        if (probs.Shape.Length != 4)
            throw new ArgumentException($"Attention probabilities are (batch, heads, queries, keys), not {Tensor.Format(probs.Shape)}.", nameof(probs));
        return (probs.Shape[0], probs.Shape[1], probs.Shape[2], probs.Shape[3]);
    }
}
