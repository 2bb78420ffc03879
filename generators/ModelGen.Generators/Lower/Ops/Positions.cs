using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Learned positions: x (tokens, dim) + weight (tokens, dim) -> y, weight ~ N(0, 0.02²), no weight decay.</summary>
        internal string LearnedPositions(string path, string x, string? output)
        {
            var s = ShapeOf(x);
            string y = Output(path, output, s);
            int p = Param(path + ".weight", new[] { s[0], s[1] }, "normal:0.02", decay: false);
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])) };
            string all = "batch * " + Int((long)s[0] * s[1]);
            Op(Comment(path, "LearnedPositions", x, y),
                Call("Positions.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Param(p) }, sizes)),
                Call("Positions.Backward", Concat(new[] { Arg.Grad(x), Arg.ParamGrad(p), Arg.Grad(y) }, sizes)),
                new[] { Kernel("Positions.ForwardKernel", all, Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Param(p) }, sizes)) },
                new[]
                {
                    Kernel("Positions.BackwardInputKernel", all, Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                    Kernel("Positions.BackwardPositionsKernel", Int((long)s[0] * s[1]), Concat(new[] { Arg.ParamGrad(p), Arg.Grad(y) }, sizes)),
                });
            return y;
        }
    }
}
