using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Mean over tokens: x (tokens, dim) -> y (dim).</summary>
        internal string MeanPool(string path, string x, string? output)
        {
            var s = ShapeOf(x);
            int tokens = s[0], dim = s[1];
            string y = Output(path, output, new[] { dim });
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(tokens)), Arg.Lit(Int(dim)) };
            Op(Comment(path, "MeanPool", x, y),
                Call("MeanPool.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("MeanPool.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel("MeanPool.ForwardKernel", "batch * " + Int(dim), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel("MeanPool.BackwardKernel", "batch * " + Int((long)tokens * dim), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) });
            return y;
        }
    }
}
