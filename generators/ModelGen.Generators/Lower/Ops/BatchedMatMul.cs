using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Per sample C = op(A)·op(B): A (m, k) or, transposed, (k, m); B (k, n) or (n, k); C (m, n), or the same memory
        /// under <paramref name="shape"/>.</summary>
        internal string BatchedMatMul(string path, string a, string b, int m, int n, int k, bool transA, bool transB, int[]? shape = null, string? output = null)
        {
            string c = Output(path, output, shape ?? new[] { m, n });
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(m)), Arg.Lit(Int(n)), Arg.Lit(Int(k)), Arg.Lit(Bool(transA)), Arg.Lit(Bool(transB)) };
            Op(Comment(path, "BatchedMatMul", a, b, c),
                Call("BatchedMatMul.Forward", Concat(new[] { Arg.Act(c), Arg.Act(a), Arg.Act(b) }, sizes)),
                Call("BatchedMatMul.Backward", Concat(new[] { Arg.Grad(a), Arg.Grad(b), Arg.Grad(c), Arg.Act(a), Arg.Act(b) }, sizes)),
                new[] { GroupKernel("BatchedMatMul.ForwardKernel", Concat(new[] { Arg.Act(c), Arg.Act(a), Arg.Act(b) }, sizes)) },
                new[]
                {
                    GroupKernel("BatchedMatMul.BackwardAKernel", Concat(new[] { Arg.Grad(a), Arg.Grad(c), Arg.Act(b) }, sizes)),
                    GroupKernel("BatchedMatMul.BackwardBKernel", Concat(new[] { Arg.Grad(b), Arg.Grad(c), Arg.Act(a) }, sizes)),
                },
                flops: 2L * m * n * k);
            return c;
        }
    }
}
