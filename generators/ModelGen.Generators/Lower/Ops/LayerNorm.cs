using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>LayerNorm over the last dim: x (rows, dim) -> y; keeps mean and rstd per row for backward.</summary>
        internal string LayerNorm(string path, string x, float eps, string? output)
        {
            var s = ShapeOf(x);
            int dim = s[s.Count - 1];
            string y = Output(path, output, s);
            var rowDims = System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Take(s, s.Count - 1));
            string mean = Saved(path, "mean", rowDims);
            string rstd = Saved(path, "rstd", rowDims);
            int gamma = Param(path + ".weight", new[] { dim }, "one", decay: false);
            int beta = Param(path + ".bias", new[] { dim }, "zero", decay: false);
            var rows = Arg.Rows(Rows(x));
            var d = Arg.Lit(Int(dim));
            Op(Comment(path, "LayerNorm", x, y),
                Call("LayerNorm.Forward", Arg.Act(y), Arg.Act(mean), Arg.Act(rstd), Arg.Act(x), Arg.Param(gamma), Arg.Param(beta), rows, d, Arg.Lit(Float(eps))),
                Call("LayerNorm.Backward", Arg.Grad(x), Arg.ParamGrad(gamma), Arg.ParamGrad(beta), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma), rows, d),
                new[] { GroupKernel("LayerNorm.ForwardKernel", Arg.Act(y), Arg.Act(mean), Arg.Act(rstd), Arg.Act(x), Arg.Param(gamma), Arg.Param(beta), rows, d, Arg.Lit(Float(eps))) },
                new[]
                {
                    GroupKernel("LayerNorm.BackwardInputKernel", Arg.Grad(x), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma), rows, d),
                    GroupKernel("LayerNorm.BackwardParamsKernel", Arg.ParamGrad(gamma), Arg.ParamGrad(beta), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), rows, d),
                });
            return y;
        }
    }
}
