using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Linear: x (rows, in) -> y (rows, out); weight (out, in) — or a Conv2d's (out, C, P, P), the same memory — and bias (out),
        /// U(±1/√in) as PyTorch's nn.Linear unless the caller gives its own initialisations (attention projections do); with
        /// <paramref name="tiedWeight"/> the weight is that earlier parameter (an embedding's table).</summary>
        internal string Linear(string path, string x, int inFeatures, int outFeatures, bool bias, string? output, int[]? weightShape = null,
            string? weightInit = null, string? biasInit = null, string? tiedWeight = null)
        {
            var shape = new System.Collections.Generic.List<int>(ShapeOf(x));
            shape[shape.Count - 1] = outFeatures;
            string y = Output(path, output, shape);
            string bound = LinearBound(inFeatures);
            // A tied weight is the embedding's table: both ops add into its one gradient.
            int w = tiedWeight is { } tied ? ParamNamed(tied) : Param(path + ".weight", weightShape ?? new[] { outFeatures, inFeatures }, weightInit ?? bound, decay: true);
            int? b = bias ? Param(path + ".bias", new[] { outFeatures }, biasInit ?? bound, decay: false) : null;
            var rows = Arg.Rows(Rows(x));
            Arg i = Arg.Lit(Int(inFeatures)), o = Arg.Lit(Int(outFeatures));
            Arg bv = b is { } bi ? Arg.Param(bi) : Arg.None, bg = b is { } bj ? Arg.ParamGrad(bj) : Arg.None;
            var backwardKernels = new System.Collections.Generic.List<KernelLaunch> { GroupKernel("Linear.BackwardInputKernel", Arg.Grad(x), Arg.Grad(y), Arg.Param(w), rows, i, o) };
            backwardKernels.AddRange(LinearParamGrads(w, b, Arg.Grad(y), x, rows, inFeatures, outFeatures));
            Op(Comment(path, "Linear", x, y),
                Call("Linear.Forward", Arg.Act(y), Arg.Act(x), Arg.Param(w), bv, rows, i, o),
                Call("Linear.Backward", Arg.Grad(x), Arg.ParamGrad(w), bg, Arg.Grad(y), Arg.Act(x), Arg.Param(w), rows, i, o),
                new[] { GroupKernel("Linear.ForwardKernel", Arg.Act(y), Arg.Act(x), Arg.Param(w), bv, rows, i, o, Arg.Lit(Bool(b is not null))) },
                backwardKernels.ToArray(),
                flops: 2L * (_shapes[x].PerSample / inFeatures) * inFeatures * outFeatures);
            return y;
        }

        /// <summary>nn.Linear's default initialisation bound, U(±1/√in).</summary>
        static string LinearBound(int inFeatures) =>
            "uniform:" + (1.0 / System.Math.Sqrt(inFeatures)).ToString("R", System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>A linear layer's weight and bias gradients from <paramref name="dy"/>, the gradient of its output: the split-K
        /// product dw += dyᵀ·x, the sum of its slices (when it was split), and the bias's column sum.</summary>
        static KernelLaunch[] LinearParamGrads(int w, int? b, Arg dy, string x, Arg rows, int inFeatures, int outFeatures)
        {
            Arg i = Arg.Lit(Int(inFeatures)), o = Arg.Lit(Int(outFeatures));
            var kernels = new System.Collections.Generic.List<KernelLaunch>
            {
                GroupKernel("Linear.BackwardWeightKernel", Arg.ParamGrad(w), Workspace($"Linear.BackwardWeightWorkspace({inFeatures}, {outFeatures})"),
                    dy, Arg.Act(x), rows, i, o),
                SumSplits(Arg.ParamGrad(w), outFeatures, inFeatures, rows, inFeatures),
            };
            if (b is { } bias) kernels.Add(GroupKernel("Linear.BackwardBiasKernel", Arg.ParamGrad(bias), dy, rows, o));
            return kernels.ToArray();
        }
    }
}
