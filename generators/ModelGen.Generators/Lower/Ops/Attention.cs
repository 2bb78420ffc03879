using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Scaled dot-product attention core: q (Nq, H·dk), k (Nk, KvH·dk), v (Nk, KvH·dv) -> o (Nq, H·dv);
        /// keeps the probabilities (H, Nq, Nk) for backward, and on devices a scratch for the score gradients.</summary>
        internal string ScaledDotProduct(string path, string q, string k, string v, string? mask, AttentionConfig c)
        {
            string o = Output(path, null, new[] { c.Queries, c.Heads * c.ValueDim });
            string probs = Saved(path, "probs", c.Heads, c.Queries, c.Keys);
            string scores = DeviceScratch(path, "dscores", c.Heads, c.Queries, c.Keys);
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(c.Queries)), Arg.Lit(Int(c.Keys)), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.KvHeads)), Arg.Lit(Int(c.KeyDim)), Arg.Lit(Int(c.ValueDim)) };
            var scale = Arg.Lit(Float((float)(1.0 / System.Math.Sqrt(c.KeyDim))));
            var padding = mask is null ? Arg.None : Arg.Act(mask);
            var causal = Arg.Lit(Bool(c.Causal));
            string kind = $"Attention H={Int(c.Heads)} KvH={Int(c.KvHeads)} dk={Int(c.KeyDim)} dv={Int(c.ValueDim)}{(c.Causal ? " causal" : "")}{(mask is null ? "" : " mask=" + mask)}";
            Op(Comment(path, kind, q, k, v, o),
                Call("Attention.Forward", Concat(new[] { Arg.Act(o), Arg.Act(probs), Arg.Act(q), Arg.Act(k), Arg.Act(v), padding }, sizes, new[] { causal, scale })),
                Call("Attention.Backward", Concat(new[] { Arg.Grad(q), Arg.Grad(k), Arg.Grad(v), Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(o), Arg.Act(probs) }, sizes, new[] { scale })),
                new[]
                {
                    Kernel("Attention.ForwardKernel", $"batch * {Int((long)c.Heads * c.Queries)}",
                        Concat(new[] { Arg.Act(o), Arg.Act(probs), Arg.Act(q), Arg.Act(k), Arg.Act(v), padding }, sizes, new[] { causal, Arg.Lit(Bool(mask is not null)), scale })),
                },
                new[]
                {
                    Kernel("Attention.BackwardScoresKernel", $"batch * {Int((long)c.Heads * c.Queries)}",
                        Concat(new[] { Arg.Act(scores), Arg.Grad(q), Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(o), Arg.Act(probs) }, sizes, new[] { scale })),
                    Kernel("Attention.BackwardKeyValueKernel", $"batch * {Int((long)c.KvHeads * c.Keys)}",
                        Concat(new[] { Arg.Grad(k), Arg.Grad(v), Arg.Act(scores), Arg.Grad(o), Arg.Act(q), Arg.Act(probs) }, sizes, new[] { scale })),
                },
                // QKᵀ and PV: 2·H·Nq·Nk·(dk + dv); the softmax is small beside them.
                flops: 2L * c.Heads * c.Queries * c.Keys * (c.KeyDim + c.ValueDim));
            return o;
        }

        static Arg[] Concat(params Arg[][] parts)
        {
            var all = new System.Collections.Generic.List<Arg>();
            foreach (var p in parts) all.AddRange(p);
            return all.ToArray();
        }
    }
}
