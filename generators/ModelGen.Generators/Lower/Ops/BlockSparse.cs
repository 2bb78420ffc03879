using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Block-sparse attention core: q (N, H·dk), k (N, KvH·dk), v (N, KvH·dv) -> o (N, H·dv) over the pattern
        /// <paramref name="layout"/> (a constant's initializer), <paramref name="pairs"/> (query block, key block) pairs of it. Saved:
        /// each row's log-sum-exp; device scratch: each row's Σ dO·o. Keys marked in <paramref name="padding"/> are masked.</summary>
        internal string BlockSparseAttention(string path, string q, string k, string v, AttentionConfig c, int block, string layout, int pairs, string pattern,
            string? padding = null)
        {
            int n = c.Queries;
            string o = Output(path, null, new[] { n, c.Heads * c.ValueDim });
            string lse = Saved(path, "lse", c.Heads, n);
            string dsum = DeviceScratch(path, "dsum", c.Heads, n);
            string table = Constant(path + ".layout", layout, $"The block pattern of {path}: {pattern} ({Int(pairs)} block pairs of {Int(n / block)}²).");
            var shape = new[] { Arg.Rows("batch"), Arg.Lit(Int(n)), Arg.Lit(Int(c.Heads)), Arg.Lit(Int(c.KvHeads)), Arg.Lit(Int(c.KeyDim)), Arg.Lit(Int(c.ValueDim)),
                Arg.Lit(Int(block)), Arg.Lit(Bool(c.Causal)) };
            var scale = new[] { Arg.Lit(Float((float)(1.0 / System.Math.Sqrt(c.KeyDim)))) };
            var sizes = Concat(shape, scale);
            // The kernels take whether there is a mask (a view is always passed) between causal and the scale.
            var kernelSizes = Concat(shape, new[] { Arg.Lit(Bool(padding is not null)) }, scale);
            var pad = padding is null ? Arg.None : Arg.Act(padding);
            var maskAndTable = new[] { pad, Arg.Constant(table) };
            var forward = new[] { Arg.Act(o), Arg.Act(lse), Arg.Act(q), Arg.Act(k), Arg.Act(v) };
            var backward = new[] { Arg.Grad(q), Arg.Grad(k), Arg.Grad(v), Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(o), Arg.Act(lse) };
            Op(Comment(path, $"BlockSparseAttention H={Int(c.Heads)} KvH={Int(c.KvHeads)} block={Int(block)} {pattern}{(padding is null ? "" : " mask=" + padding)}", q, k, v, o),
                Call("BlockSparseAttention.Forward", Concat(forward, maskAndTable, sizes)),
                Call("BlockSparseAttention.Backward", Concat(backward, maskAndTable, sizes)),
                new[] { Kernel("BlockSparseAttention.ForwardKernel", "batch * " + Int((long)c.Heads * n), Concat(forward, maskAndTable, kernelSizes)) },
                new[]
                {
                    Kernel("BlockSparseAttention.BackwardQueryKernel", "batch * " + Int((long)c.Heads * n),
                        Concat(new[] { Arg.Grad(q), Arg.Act(dsum), Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(o), Arg.Act(lse) }, maskAndTable, kernelSizes)),
                    Kernel("BlockSparseAttention.BackwardKeyValueKernel", "batch * " + Int((long)c.KvHeads * n),
                        Concat(new[] { Arg.Grad(k), Arg.Grad(v), Arg.Grad(o), Arg.Act(q), Arg.Act(k), Arg.Act(v), Arg.Act(lse), Arg.Act(dsum) }, maskAndTable, kernelSizes)),
                },
                // The scores and the weighted values of every computed block pair: 2·block²·(dk + dv) per head.
                flops: 2L * c.Heads * pairs * block * block * (c.KeyDim + c.ValueDim));
            return o;
        }
    }
}
