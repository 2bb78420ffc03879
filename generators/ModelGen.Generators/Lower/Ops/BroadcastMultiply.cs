using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>y = x ⊙ g for a map x (C, H, W) and a gate g whose dims are each x's or 1 (per channel, per position, per row or column).</summary>
        internal string BroadcastMultiply(string path, string x, string gate, string? output)
        {
            var s = ShapeOf(x);
            var g = ShapeOf(gate);
            string y = Output(path, output, s);
            Arg[] sizes =
            {
                Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])), Arg.Lit(Int(s[2])),
                Arg.Rows("batch"), Arg.Lit(Int(g[0])), Arg.Lit(Int(g[1])), Arg.Lit(Int(g[2])),
            };
            Op(Comment(path, "BroadcastMultiply", x, gate, y),
                Call("BroadcastMultiply.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Act(gate) }, sizes)),
                Call("BroadcastMultiply.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(gate), Arg.Grad(y), Arg.Act(x), Arg.Act(gate) }, sizes)),
                new[] { Kernel("BroadcastMultiply.ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Act(gate) }, sizes)) },
                new[]
                {
                    Kernel("BroadcastMultiply.BackwardInputKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(gate) }, sizes)),
                    // A gate value that gathers a long run of products gets a warp; a near element-wise one a thread.
                    _shapes[x].PerSample / _shapes[gate].PerSample >= 32
                        ? GroupKernel("BroadcastMultiply.BackwardGateReduceKernel", Concat(new[] { Arg.Grad(gate), Arg.Grad(y), Arg.Act(x) }, sizes))
                        : Kernel("BroadcastMultiply.BackwardGateKernel", Elements(gate), Concat(new[] { Arg.Grad(gate), Arg.Grad(y), Arg.Act(x) }, sizes)),
                });
            return y;
        }

        /// <summary>Concatenation along one axis of two buffers viewed as (outer, a, inner) and (outer, b, inner); <paramref name="shape"/> is y's per-sample shape.</summary>
        internal string Concat(string path, string x1, string x2, string outer, int a, int b, int inner, int[] shape)
        {
            string y = Output(path, null, shape);
            Arg[] sizes = { Arg.Rows(outer), Arg.Lit(Int(a)), Arg.Lit(Int(b)), Arg.Lit(Int(inner)) };
            Op(Comment(path, "Concat", x1, x2, y),
                Call("Concat.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x1), Arg.Act(x2) }, sizes)),
                Call("Concat.Backward", Concat(new[] { Arg.Grad(x1), Arg.Grad(x2), Arg.Grad(y) }, sizes)),
                new[] { Kernel("Concat.ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x1), Arg.Act(x2) }, sizes)) },
                new[] { Kernel("Concat.BackwardKernel", Elements(y), Concat(new[] { Arg.Grad(x1), Arg.Grad(x2), Arg.Grad(y) }, sizes)) }, flops: 0);
            return y;
        }
    }
}
