using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Class token: x (tokens, dim) -> y (tokens + 1, dim) with a learned first token, zeros at start, no weight decay.</summary>
        internal string ClassToken(string path, string x, string? output)
        {
            var s = ShapeOf(x);
            string y = Output(path, output, new[] { s[0] + 1, s[1] });
            int cls = Param(path + ".cls", new[] { 1, 1, s[1] }, "zero", decay: false);
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])) };
            Op(Comment(path, "ClassToken", x, y),
                Call("ClassToken.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Param(cls) }, sizes)),
                Call("ClassToken.Backward", Concat(new[] { Arg.Grad(x), Arg.ParamGrad(cls), Arg.Grad(y) }, sizes)),
                new[] { Kernel("ClassToken.ForwardKernel", "batch * " + Int((long)(s[0] + 1) * s[1]), Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Param(cls) }, sizes)) },
                new[]
                {
                    Kernel("ClassToken.BackwardInputKernel", "batch * " + Int((long)s[0] * s[1]), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                    Kernel("ClassToken.BackwardTokenKernel", Int(s[1]), Concat(new[] { Arg.ParamGrad(cls), Arg.Grad(y) }, sizes)),
                },
                flops: 0);
            return y;
        }

        /// <summary>Token pooling: x (tokens, dim) -> y (dim) = x[index].</summary>
        internal string SelectToken(string path, string x, int index, string? output)
        {
            var s = ShapeOf(x);
            string y = Output(path, output, new[] { s[1] });
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])), Arg.Lit(Int(index)) };
            Op(Comment(path, "SelectToken " + Int(index), x, y),
                Call("SelectToken.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("SelectToken.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel("SelectToken.ForwardKernel", "batch * " + Int(s[1]), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel("SelectToken.BackwardKernel", "batch * " + Int(s[1]), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) }, flops: 0);
            return y;
        }

        /// <summary>Patches: x (C, H, W) -> y (H/P · W/P, C·P·P), each patch in a Conv2d weight's (c, ky, kx) order.</summary>
        internal string Patchify(string path, string x, int channels, int height, int width, int patch)
        {
            string y = Output(path, null, new[] { (height / patch) * (width / patch), channels * patch * patch });
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(channels)), Arg.Lit(Int(height)), Arg.Lit(Int(width)), Arg.Lit(Int(patch)) };
            string all = "batch * " + Int((long)channels * height * width);
            Op(Comment(path, "Patchify " + Int(patch) + "×" + Int(patch), x, y),
                Call("Patchify.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("Patchify.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel("Patchify.ForwardKernel", all, Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel("Patchify.BackwardKernel", all, Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) }, flops: 0);
            return y;
        }
    }
}
