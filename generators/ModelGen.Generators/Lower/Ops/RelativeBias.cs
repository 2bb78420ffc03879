using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>What an attention layer adds to its scores: ALiBi's constant biases, a learned relative bias (by position) or
        /// Shaw's relative keys (q·a per clipped distance), an
        /// attention mask input, or both (then one op sums them per sample); null when nothing.</summary>
        /// <param name="queries">The projected queries (N, H·dk), which Shaw's relative keys multiply.</param>
        internal ScoreBias? AttentionScoreBias(string path, AttentionConfig c, string queries)
        {
            int scores = c.Queries * c.Keys;
            ScoreBias? positions = c.Positions switch
            {
                RelativePositions.Alibi => new ScoreBias(Arg.Constant(Constant(path + ".alibi", $"global::ModelGen.Ops.RelativeBias.Alibi({Int(c.Heads)}, {Int(c.Queries)}, {Int(c.Keys)})",
                    $"ALiBi biases of {Int(c.Heads)} heads over {Int(c.Queries)}×{Int(c.Keys)} scores.")), 0, scores, Mask: false, Gradient: null),
                RelativePositions.RelativeBias => LearnedRelativeBias(path + ".relative_attention_bias", c),
                RelativePositions.Shaw => RelativeKeys(path + ".relative_keys", c, queries),
                RelativePositions.AdaptiveSpan => AdaptiveSpan(path + ".span", c),
                _ => null,
            };
            if (c.Mask is not { } m) return positions;
            int maskHead = m.Heads == 1 ? 0 : scores;
            var mask = new ScoreBias(Arg.Act(m.Edge), m.Heads * scores, maskHead, m.Boolean, Gradient: null);
            if (positions is null) return mask;
            // Both: one per-sample bias (B, H, Nq, Nk), the mask applied to the positions' biases.
            string sum = Output(path + ".score_bias", null, new[] { c.Heads, c.Queries, c.Keys });
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.Queries)), Arg.Lit(Int(c.Keys)), Arg.Lit(Int(positions.BatchStride)),
                Arg.Lit(Int(m.Heads)), Arg.Lit(Bool(m.Boolean)) };
            string all = "batch * " + Int((long)c.Heads * scores);
            var grad = positions.Gradient ?? Arg.None;
            string what = c.Positions switch
            {
                RelativePositions.Alibi => "ALiBi", RelativePositions.Shaw => "relative keys", RelativePositions.AdaptiveSpan => "adaptive span", _ => "relative bias",
            };
            Op(Comment(path + ".score_bias", $"ScoreBias {what} + {(m.Boolean ? "mask" : "additive mask")}", m.Edge, sum),
                Call("ScoreBias.Forward", Concat(new[] { Arg.Act(sum), positions.Values, Arg.Act(m.Edge) }, sizes)),
                Call("ScoreBias.Backward", Concat(new[] { grad, Arg.Grad(sum) }, new[] { sizes[0], sizes[1], sizes[2], sizes[3] })),
                new[] { Kernel("ScoreBias.ForwardKernel", all, Concat(new[] { Arg.Act(sum), positions.Values, Arg.Act(m.Edge) }, sizes)) },
                positions.Gradient is null ? new KernelLaunch[0]
                    : new[] { Kernel("ScoreBias.BackwardKernel", all, Concat(new[] { grad, Arg.Grad(sum) }, new[] { sizes[0], sizes[1], sizes[2], sizes[3] })) },
                flops: 0);
            return new ScoreBias(Arg.Act(sum), c.Heads * scores, scores, Mask: false, positions.Gradient is null ? null : Arg.Grad(sum));
        }

        /// <summary>Shaw's relative position representations of keys: a table <c>weight</c> (2k + 1, dk) shared by the heads,
        /// N(0, 0.02²) and no weight decay; the score bias scale·q_i·a_(clip(j − i)) per sample (H, N, N), with gradients to the
        /// queries and the table.</summary>
        ScoreBias RelativeKeys(string path, AttentionConfig c, string queries)
        {
            int table = Param(path + ".weight", new[] { c.Buckets, c.KeyDim }, "normal:0.02", decay: false);
            string y = Output(path, null, new[] { c.Heads, c.Queries, c.Keys });
            string indexInit = $"global::ModelGen.Ops.RelativeBias.ClippedIndex({Int(c.Queries)}, {Int(c.Keys)}, {Int(c.MaxDistance)})";
            string index = Constant(path + ".index", indexInit, $"Clipped distances of {Int(c.Queries)}×{Int(c.Keys)} positions (±{Int(c.MaxDistance)}).");
            string positions = Constant(path + ".positions", $"global::ModelGen.Ops.RelativeBias.Positions({indexInit}, {Int(c.Buckets)})",
                $"The positions of each of those {Int(c.Buckets)} distances, for the table's gradient.");
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(c.Queries)), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.KeyDim)), Arg.Lit(Int(c.Buckets)),
                Arg.Lit(Float((float)(1.0 / System.Math.Sqrt(c.KeyDim)))) };
            Op($"{path} (RelativeKeys): {_shapes[queries].Display}, table ({Int(c.Buckets)}, {Int(c.KeyDim)}) -> {_shapes[y].Display}",
                Call("RelativeKeys.Forward", Concat(new[] { Arg.Act(y), Arg.Act(queries), Arg.Param(table), Arg.Constant(index) }, sizes)),
                Call("RelativeKeys.Backward", Concat(new[] { Arg.Grad(queries), Arg.ParamGrad(table), Arg.Grad(y), Arg.Act(queries), Arg.Param(table), Arg.Constant(index) }, sizes)),
                new[] { Kernel("RelativeKeys.ForwardKernel", "batch * " + Int((long)c.Heads * c.Queries * c.Keys),
                    Concat(new[] { Arg.Act(y), Arg.Act(queries), Arg.Param(table), Arg.Constant(index) }, sizes)) },
                new[]
                {
                    Kernel("RelativeKeys.BackwardQueryKernel", "batch * " + Int((long)c.Queries * c.Heads * c.KeyDim),
                        Concat(new[] { Arg.Grad(queries), Arg.Grad(y), Arg.Param(table), Arg.Constant(index) }, sizes)),
                    Kernel("RelativeKeys.BackwardTableKernel", Int((long)c.Buckets * c.KeyDim),
                        Concat(new[] { Arg.ParamGrad(table), Arg.Grad(y), Arg.Act(queries), Arg.Constant(positions) }, sizes)),
                },
                flops: 2L * c.Heads * c.Queries * c.Buckets * c.KeyDim);
            return new ScoreBias(Arg.Act(y), c.Heads * c.Queries * c.Keys, c.Queries * c.Keys, Mask: false, Arg.Grad(y));
        }

        /// <summary>Adaptive attention span: a parameter <c>span</c> (heads), p in z = S·clamp(p, 0, 1), initialised 0 and decayed; the
        /// score bias log m per sample (H, Nq, Nk). <see cref="AttentionConfig.MaxDistance"/> is S, <see cref="AttentionConfig.Buckets"/> the ramp.</summary>
        ScoreBias AdaptiveSpan(string path, AttentionConfig c)
        {
            int span = Param(path, new[] { c.Heads }, "zero", decay: true);
            string y = Output(path, null, new[] { c.Heads, c.Queries, c.Keys });
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.Queries)), Arg.Lit(Int(c.Keys)), Arg.Lit(Float(c.MaxDistance)), Arg.Lit(Float(c.Buckets)) };
            Op($"{path} (AdaptiveSpan): max {Int(c.MaxDistance)}, ramp {Int(c.Buckets)} -> {_shapes[y].Display}",
                Call("AdaptiveSpan.Forward", Concat(new[] { Arg.Act(y), Arg.Param(span) }, sizes)),
                Call("AdaptiveSpan.Backward", Concat(new[] { Arg.ParamGrad(span), Arg.Grad(y), Arg.Param(span) }, sizes)),
                new[] { Kernel("AdaptiveSpan.ForwardKernel", "batch * " + Int((long)c.Heads * c.Queries * c.Keys), Concat(new[] { Arg.Act(y), Arg.Param(span) }, sizes)) },
                new[] { GroupKernel("AdaptiveSpan.BackwardKernel", Concat(new[] { Arg.ParamGrad(span), Arg.Grad(y), Arg.Param(span) }, sizes)) },
                flops: 0);
            return new ScoreBias(Arg.Act(y), c.Heads * c.Queries * c.Keys, c.Queries * c.Keys, Mask: false, Arg.Grad(y));
        }

        /// <summary>T5's learned relative position bias: a table <c>weight</c> (buckets, heads), N(0, 0.02²) and no weight decay,
        /// gathered per sample into (H, Nq, Nk) through a constant bucket index (bidirectional unless causal).</summary>
        ScoreBias LearnedRelativeBias(string path, AttentionConfig c)
        {
            int table = Param(path + ".weight", new[] { c.Buckets, c.Heads }, "normal:0.02", decay: false);
            string y = Output(path, null, new[] { c.Heads, c.Queries, c.Keys });
            string indexInit = $"global::ModelGen.Ops.RelativeBias.T5Index({Int(c.Queries)}, {Int(c.Keys)}, {Int(c.Buckets)}, {Int(c.MaxDistance)}, bidirectional: {Bool(!c.Causal)})";
            string index = Constant(path + ".index", indexInit,
                $"T5 buckets of {Int(c.Queries)}×{Int(c.Keys)} relative positions ({Int(c.Buckets)} buckets, max distance {Int(c.MaxDistance)}{(c.Causal ? ", causal" : "")}).");
            string positions = Constant(path + ".positions", $"global::ModelGen.Ops.RelativeBias.Positions({indexInit}, {Int(c.Buckets)})",
                $"The positions of each of those {Int(c.Buckets)} buckets, for the table's gradient.");
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.Queries)), Arg.Lit(Int(c.Keys)) };
            var backSizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.Buckets)), Arg.Lit(Int(c.Queries)), Arg.Lit(Int(c.Keys)) };
            Op($"{path} (RelativeBias): table ({Int(c.Buckets)}, {Int(c.Heads)}) -> {_shapes[y].Display}",
                Call("RelativeBias.Forward", Concat(new[] { Arg.Act(y), Arg.Param(table), Arg.Constant(index) }, sizes)),
                Call("RelativeBias.Backward", Concat(new[] { Arg.ParamGrad(table), Arg.Grad(y), Arg.Constant(positions) }, backSizes)),
                new[] { Kernel("RelativeBias.ForwardKernel", "batch * " + Int((long)c.Heads * c.Queries * c.Keys), Concat(new[] { Arg.Act(y), Arg.Param(table), Arg.Constant(index) }, sizes)) },
                new[] { Kernel("RelativeBias.BackwardKernel", Int((long)c.Buckets * c.Heads), Concat(new[] { Arg.ParamGrad(table), Arg.Grad(y), Arg.Constant(positions) }, backSizes)) },
                flops: 0);
            return new ScoreBias(Arg.Act(y), c.Heads * c.Queries * c.Keys, c.Queries * c.Keys, Mask: false, Arg.Grad(y));
        }
    }
}
