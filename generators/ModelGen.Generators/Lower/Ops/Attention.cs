using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Scaled dot-product attention core: q (Nq, H·dk), k (Nk, KvH·dk), v (Nk, KvH·dv) -> o (Nq, H·dv). The CPU backend
        /// keeps the probabilities (H, Nq, Nk) for backward; a device runs flash-style kernels that keep each row's log-sum-exp
        /// and recompute the probabilities on request, or for heads wider than 128 the row kernels with a score-gradient scratch.</summary>
        internal string ScaledDotProduct(string path, string q, string k, string v, string? mask, AttentionConfig c, ScoreBias? scoreBias = null)
        {
            string o = Output(path, null, new[] { c.Queries, c.Heads * c.ValueDim });
            string probs = Saved(path, "probs", c.Heads, c.Queries, c.Keys);
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(c.Queries)), Arg.Lit(Int(c.Keys)), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.KvHeads)), Arg.Lit(Int(c.KeyDim)), Arg.Lit(Int(c.ValueDim)) };
            var bias = scoreBias?.Values ?? Arg.None;
            var biasGrad = scoreBias?.Gradient ?? Arg.None;
            var strides = new[] { Arg.Lit(Int(scoreBias?.BatchStride ?? 0)), Arg.Lit(Int(scoreBias?.HeadStride ?? 0)) };
            var hasBias = Arg.Lit(Bool(scoreBias is not null));
            var maskBias = Arg.Lit(Bool(scoreBias?.Mask ?? false));
            var hasBiasGrad = Arg.Lit(Bool(scoreBias?.Gradient is not null));
            var scale = Arg.Lit(Float((float)(1.0 / System.Math.Sqrt(c.KeyDim))));
            var padding = mask is null ? Arg.None : Arg.Act(mask);
            var causal = Arg.Lit(Bool(c.Causal));
            var hasPadding = Arg.Lit(Bool(mask is not null));
            string kind = $"Attention H={Int(c.Heads)} KvH={Int(c.KvHeads)} dk={Int(c.KeyDim)} dv={Int(c.ValueDim)}{(c.Causal ? " causal" : "")}{(mask is null ? "" : " mask=" + mask)}" +
                (scoreBias is null ? "" : (scoreBias.Mask ? " attention mask=" : " score bias=") + scoreBias.Values.Text);
            var forward = Call("Attention.Forward", Concat(new[] { Arg.Act(o), Arg.Act(probs), Arg.Act(q), Arg.Act(k), Arg.Act(v), padding, bias }, sizes, strides,
                new[] { causal, maskBias, scale }));
            var backward = Call("Attention.Backward", Concat(new[] { Arg.Grad(q), Arg.Grad(k), Arg.Grad(v), biasGrad, Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(o), Arg.Act(probs) },
                sizes, new[] { scale }));
            // QKᵀ and PV: 2·H·Nq·Nk·(dk + dv); the softmax is small beside them.
            long flops = 2L * c.Heads * c.Queries * c.Keys * (c.KeyDim + c.ValueDim);
            if (c.KeyDim <= FlashMaxHeadDim && c.ValueDim <= FlashMaxHeadDim)
            {
                // Flash-style on the device: the row log-sum-exp instead of the probabilities, which are recomputed on request.
                // When the probabilities of a sample would be large, the CPU backend keeps the log-sum-exp too (memory-efficient
                // exact attention: memory linear in the sequence length).
                bool streaming = 4L * c.Heads * c.Queries * c.Keys > StreamingAttentionBytes;
                string lse = streaming ? Saved(path, "lse", c.Heads, c.Queries) : DeviceScratch(path, "lse", c.Heads, c.Queries);
                Call? recomputeCall = null;
                if (streaming)
                {
                    forward = Call("Attention.StreamingForward", Concat(new[] { Arg.Act(o), Arg.Act(lse), Arg.Act(q), Arg.Act(k), Arg.Act(v), padding, bias }, sizes, strides,
                        new[] { causal, maskBias, scale }));
                    backward = Call("Attention.StreamingBackward", Concat(new[] { Arg.Grad(q), Arg.Grad(k), Arg.Grad(v), biasGrad, Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v),
                        Arg.Act(o), Arg.Act(lse), padding, bias }, sizes, strides, new[] { causal, maskBias, scale }));
                    recomputeCall = Call("Attention.Probabilities", Concat(new[] { Arg.Act(probs), Arg.Act(q), Arg.Act(k), Arg.Act(lse), padding, bias },
                        new[] { sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5] }, strides, new[] { causal, maskBias, scale }));
                    kind += " memory-efficient";
                }
                string dsum = DeviceScratch(path, "dsum", c.Heads, c.Queries);
                var masks = new[] { padding, bias };
                var flags = new[] { causal, hasPadding, hasBias, maskBias, scale };
                Op(Comment(path, kind, q, k, v, o), forward, backward,
                    new[] { GroupKernel("Attention.FlashForwardKernel", Concat(new[] { Arg.Act(o), Arg.Act(lse), Arg.Act(q), Arg.Act(k), Arg.Act(v) }, masks, sizes, strides, flags)) },
                    new[]
                    {
                        GroupKernel("Attention.FlashBackwardQueryKernel", Concat(new[] { Arg.Grad(q), Arg.Act(dsum), biasGrad, Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(o), Arg.Act(lse) },
                            masks, sizes, strides, new[] { causal, hasPadding, hasBias, maskBias, hasBiasGrad, scale })),
                        GroupKernel("Attention.FlashBackwardKeyValueKernel", Concat(new[] { Arg.Grad(k), Arg.Grad(v), Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(lse), Arg.Act(dsum) },
                            masks, sizes, strides, flags)),
                    },
                    flops,
                    recomputes: probs,
                    recomputeKernels: new[]
                    {
                        GroupKernel("Attention.ProbabilitiesKernel", Concat(new[] { Arg.Act(probs), Arg.Act(q), Arg.Act(k), Arg.Act(lse) }, masks,
                            new[] { sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5] }, strides, flags)),
                    },
                    recomputeCall: recomputeCall);
                return o;
            }
            string scores = DeviceScratch(path, "dscores", c.Heads, c.Queries, c.Keys);
            Op(Comment(path, kind, q, k, v, o), forward, backward,
                new[]
                {
                    Kernel("Attention.ForwardKernel", $"batch * {Int((long)c.Heads * c.Queries)}",
                        Concat(new[] { Arg.Act(o), Arg.Act(probs), Arg.Act(q), Arg.Act(k), Arg.Act(v), padding, bias }, sizes, strides,
                            new[] { causal, hasPadding, hasBias, maskBias, scale })),
                },
                new[]
                {
                    Kernel("Attention.BackwardScoresKernel", $"batch * {Int((long)c.Heads * c.Queries)}",
                        Concat(new[] { Arg.Act(scores), Arg.Grad(q), biasGrad, Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(o), Arg.Act(probs) }, sizes,
                            new[] { hasBiasGrad, scale })),
                    Kernel("Attention.BackwardKeyValueKernel", $"batch * {Int((long)c.KvHeads * c.Keys)}",
                        Concat(new[] { Arg.Grad(k), Arg.Grad(v), Arg.Act(scores), Arg.Grad(o), Arg.Act(q), Arg.Act(probs) }, sizes, new[] { scale })),
                },
                flops);
            return o;
        }

        /// <summary>A bias added to the scaled scores before the softmax (or, with <see cref="Mask"/>, a mask where nonzero), read at
        /// b·BatchStride + h·HeadStride + i·Nk + j; <see cref="Gradient"/> receives dS (B, H, Nq, Nk) when the bias is learned.</summary>
        internal sealed record ScoreBias(Arg Values, int BatchStride, int HeadStride, bool Mask, Arg? Gradient);

        /// <summary>Probabilities per sample above which the CPU backend runs memory-efficient attention (keeping each row's
        /// log-sum-exp, not the probabilities): 2 MiB, e.g. 4 heads of 362 tokens; ViT-sized attention keeps its probabilities.</summary>
        const long StreamingAttentionBytes = 2L << 20;

        /// <summary>The widest head the device's flash attention takes (ModelGen.Ops.Attention.MaxHeadDim); wider heads use the row kernels.</summary>
        const int FlashMaxHeadDim = 128;

        /// <summary>The argument lists one after another: an op's buffers, then its sizes.</summary>
        static Arg[] Concat(params Arg[][] parts)
        {
            var all = new System.Collections.Generic.List<Arg>();
            foreach (var p in parts) all.AddRange(p);
            return all.ToArray();
        }
    }
}
