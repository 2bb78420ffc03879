using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Linear into a residual sum, fused (runtime LinearResidual): y = residual + (x·wᵀ + b). The linear layer's
        /// parameters, initialisation and output buffer are <see cref="Linear"/>'s (<paramref name="path"/>); the sum is the Add
        /// at <paramref name="sumPath"/>. One product with the sum in its epilogue on a device.</summary>
        internal string LinearResidual(string path, string x, int inFeatures, int outFeatures, bool bias, string residual, string sumPath, string? output,
            string? biasInit = null)
        {
            var shape = new System.Collections.Generic.List<int>(ShapeOf(x));
            shape[shape.Count - 1] = outFeatures;
            string branch = Output(path, null, shape);
            string bound = LinearBound(inFeatures);
            int w = Param(path + ".weight", new[] { outFeatures, inFeatures }, bound, decay: true);
            int? b = bias ? Param(path + ".bias", new[] { outFeatures }, biasInit ?? bound, decay: false) : null;
            string y = Output(sumPath, output, ShapeOf(residual));
            var rows = Arg.Rows(Rows(x));
            Arg i = Arg.Lit(Int(inFeatures)), o = Arg.Lit(Int(outFeatures));
            Arg bv = b is { } bi ? Arg.Param(bi) : Arg.None, bg = b is { } bj ? Arg.ParamGrad(bj) : Arg.None;
            var backwardKernels = new System.Collections.Generic.List<KernelLaunch>
            {
                Kernel("LinearResidual.BackwardResidualKernel", Elements(y), Arg.Grad(residual), Arg.Grad(y), Arg.Rows(Elements(y))),
                GroupKernel("Linear.BackwardInputKernel", Arg.Grad(x), Arg.Grad(y), Arg.Param(w), rows, i, o),
            };
            backwardKernels.AddRange(LinearParamGrads(w, b, Arg.Grad(y), x, rows, inFeatures, outFeatures));
            Op(Comment(path, "Linear + residual", x, residual, y),
                Call("LinearResidual.Forward", Arg.Act(y), Arg.Act(branch), Arg.Act(x), Arg.Param(w), bv, Arg.Act(residual), rows, i, o),
                Call("LinearResidual.Backward", Arg.Grad(x), Arg.ParamGrad(w), bg, Arg.Grad(branch), Arg.Grad(residual), Arg.Grad(y), Arg.Act(x), Arg.Param(w), rows, i, o),
                new[] { GroupKernel("LinearResidual.ForwardKernel", Arg.Act(y), Arg.Act(branch), Arg.Act(x), Arg.Param(w), bv, Arg.Act(residual), rows, i, o,
                    Arg.Lit(Bool(b is not null))) },
                backwardKernels.ToArray(),
                // The product's FLOPs and one per sum, as the unfused Linear and Add count them.
                flops: 2L * (_shapes[x].PerSample / inFeatures) * inFeatures * outFeatures + _shapes[y].PerSample);
            return y;
        }
    }
}
