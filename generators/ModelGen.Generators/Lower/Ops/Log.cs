using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>y = log(max(x, eps)) element-wise.</summary>
        internal string Log(string path, string x, float eps, string? output)
        {
            string y = Output(path, output, ShapeOf(x));
            var n = Arg.Rows(Elements(x));
            var e = Arg.Lit(Float(eps));
            Op(Comment(path, "Log", x, y),
                Call("Log.Forward", Arg.Act(y), Arg.Act(x), n, e),
                Call("Log.Backward", Arg.Grad(x), Arg.Grad(y), Arg.Act(x), n, e),
                new[] { Kernel("Log.ForwardKernel", Elements(x), Arg.Act(y), Arg.Act(x), n, e) },
                new[] { Kernel("Log.BackwardKernel", Elements(x), Arg.Grad(x), Arg.Grad(y), Arg.Act(x), n, e) });
            return y;
        }
    }
}
