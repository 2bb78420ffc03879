using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Linear then GELU or ReLU, fused (runtime LinearActivation): the linear layer's parameters and initialisation as
        /// <see cref="Linear"/> (bias on), its output kept as the pre-activation buffer (<paramref name="path"/>), the activation's
        /// output named by <paramref name="activationPath"/>. One product with both in its epilogue on a device.</summary>
        internal string LinearActivation(string path, string activationPath, string x, int inFeatures, int outFeatures, bool gelu)
        {
            var shape = new System.Collections.Generic.List<int>(ShapeOf(x));
            shape[shape.Count - 1] = outFeatures;
            string pre = Output(path, null, shape);
            string bound = LinearBound(inFeatures);
            int w = Param(path + ".weight", new[] { outFeatures, inFeatures }, bound, decay: true);
            int b = Param(path + ".bias", new[] { outFeatures }, bound, decay: false);
            string y = Output(activationPath, null, shape);
            var rows = Arg.Rows(Rows(x));
            Arg[] sizes = { rows, Arg.Lit(Int(inFeatures)), Arg.Lit(Int(outFeatures)), Arg.Lit(gelu ? "global::ModelGen.Ops.LinearActivation.GeluKind" : "global::ModelGen.Ops.LinearActivation.ReluKind") };
            Op(Comment(path, gelu ? "Linear + GELU" : "Linear + ReLU", x, y),
                Call("LinearActivation.Forward", Concat(new[] { Arg.Act(y), Arg.Act(pre), Arg.Act(x), Arg.Param(w), Arg.Param(b) }, sizes)),
                Call("LinearActivation.Backward", Concat(new[] { Arg.Grad(x), Arg.ParamGrad(w), Arg.ParamGrad(b), Arg.Grad(pre), Arg.Grad(y), Arg.Act(pre), Arg.Act(x), Arg.Param(w) }, sizes)),
                new[] { GroupKernel("LinearActivation.ForwardKernel", Concat(new[] { Arg.Act(y), Arg.Act(pre), Arg.Act(x), Arg.Param(w), Arg.Param(b) }, sizes)) },
                new[]
                {
                    GroupKernel("LinearActivation.BackwardInputKernel", Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(pre), Arg.Param(w) }, sizes)),
                    GroupKernel("LinearActivation.BackwardWeightKernel", Concat(new[] { Arg.ParamGrad(w), Workspace($"Linear.BackwardWeightWorkspace({inFeatures}, {outFeatures})"),
                        Arg.Grad(y), Arg.Act(pre), Arg.Act(x) }, sizes)),
                    SumSplits(Arg.ParamGrad(w), outFeatures, inFeatures, rows, inFeatures),
                    GroupKernel("LinearActivation.BackwardBiasKernel", Concat(new[] { Arg.ParamGrad(b), Arg.Grad(y), Arg.Act(pre) }, new[] { rows, sizes[2], sizes[3] })),
                },
                // The product's FLOPs and one per activation, as the unfused Linear and activation count them.
                flops: 2L * (_shapes[x].PerSample / inFeatures) * inFeatures * outFeatures + _shapes[y].PerSample);
            return y;
        }
    }
}
