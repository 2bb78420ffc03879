using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Reformer's rotations (rounds, headDim, buckets / 2): a buffer saved with the parameters and never trained, drawn
        /// N(0, 1) from the model's seed (and redrawn by <c>ReformerAttention.Redraw</c>).</summary>
        internal int ReformerRotations(string path, int rounds, int headDim, int buckets) =>
            Buffer(path + ".rotations", new[] { rounds, headDim, buckets / 2 }, "rotations");

        /// <summary>LSH attention of shared queries and keys: qk (N, H·d), v (N, H·dv) -> o (N, H·dv). Saved: the normalised keys
        /// (H, N, d), the sorted order and rank (H, R·N) and the row log-sum-exp (H, N); device scratch: the buckets and the key
        /// gradients before normalisation.</summary>
        internal string LshAttention(string path, string qk, string v, string? padding, AttentionConfig c, int rotations, int buckets, int rounds, int chunk)
        {
            int n = c.Queries;
            string o = Output(path, null, new[] { n, c.Heads * c.ValueDim });
            string lse = Saved(path, "lse", c.Heads, n);
            string keys = Saved(path, "keys", c.Heads, n, c.KeyDim);
            string order = Saved(path, "order", c.Heads, rounds * n);
            string rank = Saved(path, "rank", c.Heads, rounds * n);
            string bucket = DeviceScratch(path, "bucket", c.Heads, rounds * n);
            string dKeys = DeviceScratch(path, "dkeys", c.Heads, n, c.KeyDim);
            var pad = padding is null ? Arg.None : Arg.Act(padding);
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(n)), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.KeyDim)), Arg.Lit(Int(c.ValueDim)) };
            var hashing = new[] { Arg.Lit(Int(buckets)), Arg.Lit(Int(rounds)), Arg.Lit(Int(chunk)) };
            var window = new[] { Arg.Lit(Int(rounds)), Arg.Lit(Int(chunk)) };
            var flags = new[] { Arg.Lit(Bool(c.Causal)), Arg.Lit(Bool(padding is not null)) };
            var forwardArgs = Concat(new[] { Arg.Act(o), Arg.Act(lse), Arg.Act(keys), Arg.Act(order), Arg.Act(rank), Arg.Act(bucket), Arg.Act(qk), Arg.Act(v), pad,
                Arg.Param(rotations) }, sizes, hashing, flags);
            var backwardArgs = Concat(new[] { Arg.Grad(qk), Arg.Grad(v), Arg.Act(dKeys), Arg.Grad(o), Arg.Act(qk), Arg.Act(v), Arg.Act(o), Arg.Act(lse), Arg.Act(keys),
                Arg.Act(order), Arg.Act(rank), pad }, sizes, window, flags);
            long rows = (long)c.Heads * n;
            Op(Comment(path, $"LshAttention H={Int(c.Heads)} d={Int(c.KeyDim)} dv={Int(c.ValueDim)} buckets={Int(buckets)} rounds={Int(rounds)} chunk={Int(chunk)}" +
                    (c.Causal ? " causal" : "") + (padding is null ? "" : " mask=" + padding), qk, v, o),
                Call("ReformerAttention.Forward", Concat(new[] { Arg.Act(o), Arg.Act(lse), Arg.Act(keys), Arg.Act(order), Arg.Act(rank), Arg.Act(qk), Arg.Act(v), pad,
                    Arg.Param(rotations) }, sizes, hashing, new[] { flags[0] })),
                Call("ReformerAttention.Backward", Concat(new[] { Arg.Grad(qk), Arg.Grad(v), Arg.Grad(o), Arg.Act(qk), Arg.Act(v), Arg.Act(o), Arg.Act(lse), Arg.Act(keys),
                    Arg.Act(order), Arg.Act(rank), pad }, sizes, window, new[] { flags[0] })),
                new[]
                {
                    Kernel("ReformerAttention.KeysKernel", "batch * " + Int(rows), forwardArgs),
                    Kernel("ReformerAttention.HashKernel", "batch * " + Int(rows * rounds), forwardArgs),
                    Kernel("ReformerAttention.SortKernel", "batch * " + Int((long)c.Heads * rounds * buckets), forwardArgs),
                    Kernel("ReformerAttention.ForwardKernel", "batch * " + Int(rows), forwardArgs),
                },
                new[]
                {
                    Kernel("ReformerAttention.QueryGradKernel", "batch * " + Int(rows), backwardArgs),
                    Kernel("ReformerAttention.KeyGradKernel", "batch * " + Int(rows), backwardArgs),
                },
                // Hashing (N·d·nb/2 a round) and each query's window of 2·chunk keys a round (scores and values).
                flops: 2L * c.Heads * n * rounds * ((long)c.KeyDim * buckets / 2 + 2L * chunk * (c.KeyDim + c.ValueDim)));
            return o;
        }
    }
}
