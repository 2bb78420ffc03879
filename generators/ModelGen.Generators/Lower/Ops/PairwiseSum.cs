using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>f[i, j] = a[i] + c[j] per sample: a (m values) and c (n values) -> f (m, n).</summary>
        internal string PairwiseSum(string path, string a, string c, int m, int n)
        {
            string f = Output(path, null, new[] { m, n });
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(m)), Arg.Lit(Int(n)) };
            Op(Comment(path, "PairwiseSum", a, c, f),
                Call("PairwiseSum.Forward", Join(new[] { Arg.Act(f), Arg.Act(a), Arg.Act(c) }, sizes)),
                Call("PairwiseSum.Backward", Join(new[] { Arg.Grad(a), Arg.Grad(c), Arg.Grad(f) }, sizes)),
                new[] { Kernel("PairwiseSum.ForwardKernel", Elements(f), Join(new[] { Arg.Act(f), Arg.Act(a), Arg.Act(c) }, sizes)) },
                new[]
                {
                    Kernel("PairwiseSum.BackwardAKernel", "batch * " + Int(m), Join(new[] { Arg.Grad(a), Arg.Grad(f) }, sizes)),
                    Kernel("PairwiseSum.BackwardCKernel", "batch * " + Int(n), Join(new[] { Arg.Grad(c), Arg.Grad(f) }, sizes)),
                });
            return f;
        }
    }
}
