using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>f[i, j] = a[i] + c[j] per sample: a (m values) and c (n values) -> f (m, n); with <paramref name="groups"/>,
        /// each sample holds that many such pairs one after another (a (groups, m), c (groups, n) -> f (groups, m·n)).</summary>
        internal string PairwiseSum(string path, string a, string c, int m, int n, int? groups = null)
        {
            string f = Output(path, null, groups is { } g ? new[] { g, m * n } : new[] { m, n });
            Arg[] sizes = { Arg.Rows(groups is { } rows ? "batch * " + Int(rows) : "batch"), Arg.Lit(Int(m)), Arg.Lit(Int(n)) };
            Op(Comment(path, "PairwiseSum", a, c, f),
                Call("PairwiseSum.Forward", Concat(new[] { Arg.Act(f), Arg.Act(a), Arg.Act(c) }, sizes)),
                Call("PairwiseSum.Backward", Concat(new[] { Arg.Grad(a), Arg.Grad(c), Arg.Grad(f) }, sizes)),
                new[] { Kernel("PairwiseSum.ForwardKernel", Elements(f), Concat(new[] { Arg.Act(f), Arg.Act(a), Arg.Act(c) }, sizes)) },
                new[]
                {
                    Kernel("PairwiseSum.BackwardAKernel", "batch * " + Int((long)(groups ?? 1) * m), Concat(new[] { Arg.Grad(a), Arg.Grad(f) }, sizes)),
                    Kernel("PairwiseSum.BackwardCKernel", "batch * " + Int((long)(groups ?? 1) * n), Concat(new[] { Arg.Grad(c), Arg.Grad(f) }, sizes)),
                });
            return f;
        }
    }
}
