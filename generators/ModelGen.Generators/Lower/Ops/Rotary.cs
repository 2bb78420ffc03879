using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Rotary position embeddings on queries or keys: x (tokens, heads·headDim) -> y, each head's feature pairs rotated by
        /// position; the angles' cos/sin table is a static constant shared by every op with the same sizes and base.</summary>
        internal string Rotary(string path, string x, int heads, int headDim, double theta)
        {
            var s = ShapeOf(x);
            string y = Output(path, null, s);
            string thetaText = theta.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            string table = Constant(path, $"global::ModelGen.Ops.Rotary.Table({Int(s[0])}, {Int(headDim)}, {thetaText})",
                $"Rotary angles (cos, sin) of {Int(s[0])} positions over head width {Int(headDim)}, base {thetaText}.");
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(heads)), Arg.Lit(Int(headDim)) };
            string pairs = "batch * " + Int((long)s[0] * heads * headDim / 2);
            Op(Comment(path, $"Rotary H={Int(heads)} d={Int(headDim)}", x, y),
                Call("Rotary.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Constant(table) }, sizes)),
                Call("Rotary.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Constant(table) }, sizes)),
                new[] { Kernel("Rotary.ForwardKernel", pairs, Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Constant(table) }, sizes)) },
                new[] { Kernel("Rotary.BackwardKernel", pairs, Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Constant(table) }, sizes)) },
                flops: 6L * s[0] * heads * headDim / 2);
            return y;
        }
    }
}
