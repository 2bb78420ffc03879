using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>y = alpha·x for a constant alpha.</summary>
        internal string Scale(string path, string x, float alpha)
        {
            string y = Output(path, null, ShapeOf(x));
            var n = Arg.Rows(Elements(x));
            var a = Arg.Lit(Float(alpha));
            Op(Comment(path, "Scale", x, y),
                Call("Scale.Forward", Arg.Act(y), Arg.Act(x), n, a),
                Call("Scale.Backward", Arg.Grad(x), Arg.Grad(y), n, a),
                new[] { Kernel("Scale.ForwardKernel", Elements(x), Arg.Act(y), Arg.Act(x), n, a) },
                new[] { Kernel("Scale.BackwardKernel", Elements(x), Arg.Grad(x), Arg.Grad(y), n, a) });
            return y;
        }
    }
}
