using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Upsampling by an integer factor: x (C, H, W) -> y (C, H·f, W·f), bilinear (align_corners=False) or nearest.</summary>
        internal string Upsample(string path, string x, int factor, bool nearest, string? output)
        {
            var s = ShapeOf(x);
            int c = s[0], h = s[1], w = s[2];
            string y = Output(path, output, new[] { c, h * factor, w * factor });
            var batch = Arg.Rows("batch");
            Arg[] sizes = nearest
                ? new[] { batch, Arg.Lit(Int(c)), Arg.Lit(Int(h)), Arg.Lit(Int(w)), Arg.Lit(Int(factor)) }
                : new[] { batch, Arg.Lit(Int(c)), Arg.Lit(Int(h)), Arg.Lit(Int(w)), Arg.Lit(Int(h * factor)), Arg.Lit(Int(w * factor)) };
            string op = nearest ? "Nearest" : "Bilinear";
            Op(Comment(path, op + " upsample", x, y),
                Call($"Upsample.{op}Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call($"Upsample.{op}Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel($"Upsample.{op}ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel($"Upsample.{op}BackwardKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) });
            return y;
        }
    }
}
