using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>The inverse of <see cref="Concat"/>: x viewed as (outer, a + b, inner) into (outer, a, inner) and (outer, b, inner),
        /// given per-sample shapes <paramref name="shape1"/> and <paramref name="shape2"/>.</summary>
        internal (string First, string Second) Split(string path, string x, string outer, int a, int b, int inner, int[] shape1, int[] shape2)
        {
            string y1 = Output(path + ".first", null, shape1);
            string y2 = Output(path + ".second", null, shape2);
            Arg[] sizes = { Arg.Rows(outer), Arg.Lit(Int(a)), Arg.Lit(Int(b)), Arg.Lit(Int(inner)) };
            Op(Comment(path, "Split", x, y1) + ", " + _shapes[y2].Display,
                Call("Split.Forward", Concat(new[] { Arg.Act(y1), Arg.Act(y2), Arg.Act(x) }, sizes)),
                Call("Split.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y1), Arg.Grad(y2) }, sizes)),
                new[] { Kernel("Split.ForwardKernel", Elements(x), Concat(new[] { Arg.Act(y1), Arg.Act(y2), Arg.Act(x) }, sizes)) },
                new[] { Kernel("Split.BackwardKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y1), Arg.Grad(y2) }, sizes)) }, flops: 0);
            return (y1, y2);
        }
    }
}
