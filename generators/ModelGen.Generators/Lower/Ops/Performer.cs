using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>FAVOR+'s projection (features, headDim): a buffer saved with the parameters and never trained, drawn as orthogonal
        /// random features from the model's seed (and redrawn by <c>RandomFeatures.Redraw</c>).</summary>
        internal int FeatureProjection(string path, int features, int headDim) =>
            Buffer(path + "." + "projection_matrix", new[] { features, headDim }, "features");

        /// <summary>Positive random features of queries or keys: x (N, heads·headDim) -> φ (heads, N, features); the stabiliser is a
        /// row's own (queries) or a whole head's (keys). Keys marked in <paramref name="padding"/> get φ = 0.</summary>
        internal string RandomFeatures(string path, string x, int heads, int headDim, int features, int projection, bool keys, string? padding = null)
        {
            int tokens = ShapeOf(x)[0];
            string phi = Output(path, null, new[] { heads, tokens, features });
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(tokens)), Arg.Lit(Int(heads)), Arg.Lit(Int(headDim)), Arg.Lit(Int(features)) };
            var rows = keys ? Arg.Rows("batch * " + Int(heads)) : Arg.Rows("batch * " + Int((long)heads * tokens));
            var pad = padding is null ? Arg.None : Arg.Act(padding);
            var stabilise = keys
                ? GroupKernel("RandomFeatures.StabiliseKeysKernel", Arg.Act(phi), pad, rows, Arg.Lit(Int(heads)), Arg.Lit(Int(tokens)), Arg.Lit(Int(features)),
                    Arg.Lit(Bool(padding is not null)))
                : GroupKernel("RandomFeatures.StabiliseKernel", Arg.Act(phi), rows, Arg.Lit(Int(features)), Arg.Lit(Int(features)));
            Op(Comment(path, $"RandomFeatures m={Int(features)}{(keys ? " keys" : "")}{(padding is null ? "" : " mask=" + padding)}", x, phi),
                Call("RandomFeatures.Forward", Concat(new[] { Arg.Act(phi), Arg.Act(x), Arg.Param(projection), pad }, sizes, new[] { Arg.Lit(Bool(keys)) })),
                Call("RandomFeatures.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(phi), Arg.Act(phi), Arg.Act(x), Arg.Param(projection) }, sizes)),
                new[]
                {
                    Kernel("RandomFeatures.LogitsKernel", "batch * " + Int((long)heads * tokens * features), Concat(new[] { Arg.Act(phi), Arg.Act(x), Arg.Param(projection) }, sizes)),
                    stabilise,
                },
                new[]
                {
                    Kernel("RandomFeatures.BackwardKernel", "batch * " + Int((long)tokens * heads * headDim),
                        Concat(new[] { Arg.Grad(x), Arg.Grad(phi), Arg.Act(phi), Arg.Act(x), Arg.Param(projection) }, sizes)),
                },
                flops: 2L * heads * tokens * features * headDim);
            return phi;
        }

        /// <summary>Linear attention of feature maps: φq (H, N, m), φk (KvH, N, m), v (N, KvH·dv) -> o (N, H·dv), causal by prefix
        /// sums. Saved: the state (KvH, m, dv + 1) and the denominators (H, N); device scratch: the residuals and one sweep state.</summary>
        internal string LinearAttention(string path, string qf, string kf, string v, AttentionConfig c, int features)
        {
            int n = c.Queries, w = c.ValueDim + 1;
            string o = Output(path, null, new[] { n, c.Heads * c.ValueDim });
            string state = Saved(path, "state", c.KvHeads, features, w);
            string den = Saved(path, "den", c.Heads, n);
            string residual = DeviceScratch(path, "residual", c.Heads, n, w);
            string sweep = DeviceScratch(path, "sweep", c.KvHeads, features, w);
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(n)), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.KvHeads)), Arg.Lit(Int(features)), Arg.Lit(Int(c.ValueDim)) };
            var causal = Arg.Lit(Bool(c.Causal));
            var forwardArgs = Concat(new[] { Arg.Act(o), Arg.Act(state), Arg.Act(den), Arg.Act(qf), Arg.Act(kf), Arg.Act(v) }, sizes);
            var backwardArgs = Concat(new[] { Arg.Grad(qf), Arg.Grad(kf), Arg.Grad(v), Arg.Act(residual), Arg.Act(sweep), Arg.Grad(o), Arg.Act(qf), Arg.Act(kf), Arg.Act(v),
                Arg.Act(o), Arg.Act(state), Arg.Act(den) }, sizes);
            KernelLaunch Forward(string body, long extent) => Kernel("LinearAttention." + body, "batch * " + Int(extent), forwardArgs);
            KernelLaunch Backward(string body, long extent) => Kernel("LinearAttention." + body, "batch * " + Int(extent), backwardArgs);
            long stateSize = (long)c.KvHeads * features * w;
            var forwardKernels = c.Causal
                ? new[] { Forward("CausalNumeratorKernel", (long)c.KvHeads * w), Forward("NormalizeKernel", (long)n * c.Heads * c.ValueDim) }
                : new[] { Forward("StateKernel", stateSize), Forward("NumeratorKernel", (long)c.Heads * n * w), Forward("NormalizeKernel", (long)n * c.Heads * c.ValueDim) };
            var backwardKernels = c.Causal
                ? new[]
                {
                    Backward("ResidualKernel", (long)c.Heads * n * w), Backward("CausalQueryGradKernel", (long)c.KvHeads * features),
                    Backward("CausalKeyGradKernel", (long)c.KvHeads * features), Backward("CausalValueGradKernel", (long)c.KvHeads * c.ValueDim),
                }
                : new[]
                {
                    Backward("ResidualKernel", (long)c.Heads * n * w), Backward("QueryGradKernel", (long)c.Heads * n * features), Backward("StateGradKernel", stateSize),
                    Backward("KeyGradKernel", (long)c.KvHeads * n * features), Backward("ValueGradKernel", (long)n * c.KvHeads * c.ValueDim),
                };
            Op(Comment(path, $"LinearAttention H={Int(c.Heads)} KvH={Int(c.KvHeads)} m={Int(features)} dv={Int(c.ValueDim)}{(c.Causal ? " causal" : "")}", qf, kf, v, o),
                Call("LinearAttention.Forward", Concat(new[] { Arg.Act(o), Arg.Act(state), Arg.Act(den), Arg.Act(qf), Arg.Act(kf), Arg.Act(v) }, sizes, new[] { causal })),
                Call("LinearAttention.Backward", Concat(new[] { Arg.Grad(qf), Arg.Grad(kf), Arg.Grad(v), Arg.Grad(o), Arg.Act(qf), Arg.Act(kf), Arg.Act(v), Arg.Act(o),
                    Arg.Act(state), Arg.Act(den) }, sizes, new[] { causal })),
                forwardKernels, backwardKernels,
                // S (or its prefix) and the numerators: 2·m·(dv + 1) per key/value head and per query head and token.
                flops: 2L * n * features * w * (c.Heads + c.KvHeads));
            return o;
        }
    }
}
