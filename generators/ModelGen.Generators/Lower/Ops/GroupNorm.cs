using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>GroupNorm: x (C, H, W) -> y with statistics per sample and group of C/G channels; weight 1 and bias 0 per channel.</summary>
        internal string GroupNorm(string path, string x, int groups, float eps, string? output)
        {
            var s = ShapeOf(x);
            int c = s[0], h = s[1], w = s[2];
            string y = Output(path, output, s);
            string mean = Saved(path, "mean", groups);
            string rstd = Saved(path, "rstd", groups);
            string sums = DeviceScratch(path, "sums", 2 * groups);
            int gamma = Param(path + ".weight", new[] { c }, "one", decay: false);
            int beta = Param(path + ".bias", new[] { c }, "zero", decay: false);
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(c)), Arg.Lit(Int(h)), Arg.Lit(Int(w)), Arg.Lit(Int(groups)) };
            Op(Comment(path, "GroupNorm", x, y),
                Call("GroupNorm.Forward", Concat(new[] { Arg.Act(y), Arg.Act(mean), Arg.Act(rstd), Arg.Act(x), Arg.Param(gamma), Arg.Param(beta) }, sizes, new[] { Arg.Lit(Float(eps)) })),
                Call("GroupNorm.Backward", Concat(new[] { Arg.Grad(x), Arg.ParamGrad(gamma), Arg.ParamGrad(beta), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma) }, sizes)),
                new[]
                {
                    GroupKernel("GroupNorm.ForwardStatsKernel", Concat(new[] { Arg.Act(mean), Arg.Act(rstd), Arg.Act(x) }, sizes, new[] { Arg.Lit(Float(eps)) })),
                    Kernel("GroupNorm.NormalizeKernel", Elements(x), Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma), Arg.Param(beta) }, sizes)),
                },
                new[]
                {
                    GroupKernel("GroupNorm.BackwardStatsKernel", Concat(new[] { Arg.Act(sums), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma) }, sizes)),
                    Kernel("GroupNorm.BackwardInputKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma), Arg.Act(sums) }, sizes)),
                    GroupKernel("GroupNorm.BackwardParamsKernel", Concat(new[] { Arg.ParamGrad(gamma), Arg.ParamGrad(beta), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd) }, sizes)),
                });
            return y;
        }
    }
}
