using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Rows scaled to unit length over the last dimension (eps 1e-12, as F.normalize).</summary>
        internal string L2Normalize(string path, string x)
        {
            var s = ShapeOf(x);
            string y = Output(path, null, s);
            Arg[] sizes = { Arg.Rows(Rows(x)), Arg.Lit(Int(s[s.Count - 1])), Arg.Lit(Float(1e-12f)) };
            Op(Comment(path, "L2Normalize", x, y),
                Call("L2Normalize.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("L2Normalize.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(x), Arg.Act(y) }, sizes)),
                new[] { Kernel("L2Normalize.ForwardKernel", Elements(x), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel("L2Normalize.BackwardKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(x), Arg.Act(y) }, sizes)) });
            return y;
        }
    }
}
