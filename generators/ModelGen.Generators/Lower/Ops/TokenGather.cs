using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>The tokens of x (N, C) in the order of a constant table (<paramref name="order"/>, a runtime initializer), laid
        /// out as <paramref name="shape"/> (N·C values: e.g. (N/4, 4·C) for patch merging).</summary>
        internal string TokenGather(string path, string x, string order, string what, int[] shape)
        {
            var s = ShapeOf(x);
            string y = Output(path, null, shape);
            string table = Constant(path + ".order", order, $"The token order of {path}: {what}.");
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])) };
            Op(Comment(path, $"TokenGather {what}", x, y),
                Call("TokenGather.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Constant(table) }, sizes)),
                Call("TokenGather.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Constant(table) }, sizes)),
                new[] { Kernel("TokenGather.ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Constant(table) }, sizes)) },
                new[] { Kernel("TokenGather.BackwardKernel", Elements(y), Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Constant(table) }, sizes)) }, flops: 0);
            return y;
        }
    }
}
