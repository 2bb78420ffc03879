using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Conv2d: x (Cin, H, W) -> y (Cout, Ho, Wo); weight (Cout, Cin, K, K) and bias (Cout), U(±1/√(Cin·K·K)) as PyTorch.
        /// <paramref name="init"/> overrides the weight's initialisation (e.g. "zero").</summary>
        internal string Conv2d(string path, string x, int cout, int kernel, int stride, int padding, bool bias, string? output, string? init = null)
        {
            var s = ShapeOf(x);
            int cin = s[0], h = s[1], w = s[2];
            int ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1;
            string y = Output(path, output, new[] { cout, ho, wo });
            string bound = "uniform:" + (1.0 / System.Math.Sqrt((double)cin * kernel * kernel)).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            int wi = Param(path + ".weight", new[] { cout, cin, kernel, kernel }, init ?? bound, decay: true);
            int? b = bias ? Param(path + ".bias", new[] { cout }, bound, decay: false) : null;
            Arg bv = b is { } bi ? Arg.Param(bi) : Arg.None, bg = b is { } bj ? Arg.ParamGrad(bj) : Arg.None;
            var batch = Arg.Rows("batch");
            Arg[] sizes = { Arg.Lit(Int(cin)), Arg.Lit(Int(h)), Arg.Lit(Int(w)), Arg.Lit(Int(cout)), Arg.Lit(Int(kernel)), Arg.Lit(Int(stride)), Arg.Lit(Int(padding)) };
            var backwardKernels = new System.Collections.Generic.List<KernelLaunch>
            {
                GroupKernel("Conv2d.BackwardInputKernel", Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Param(wi), batch }, sizes)),
                GroupKernel("Conv2d.BackwardWeightKernel", Concat(new[] { Arg.ParamGrad(wi), Workspace($"Conv2d.BackwardWeightWorkspace({cin}, {cout}, {kernel})"),
                    Arg.Grad(y), Arg.Act(x), batch }, sizes)),
                SumSplits(Arg.ParamGrad(wi), cout, cin * kernel * kernel, Arg.Rows("batch * " + Int((long)ho * wo)), cin * kernel * kernel),
            };
            if (b is not null)
                backwardKernels.Add(GroupKernel("Conv2d.BackwardBiasKernel", bg, Arg.Grad(y), batch, Arg.Lit(Int(cout)), Arg.Lit(Int(ho)), Arg.Lit(Int(wo))));
            Op(Comment(path, "Conv2d", x, y),
                Call("Conv2d.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Param(wi), bv, batch }, sizes)),
                Call("Conv2d.Backward", Concat(new[] { Arg.Grad(x), Arg.ParamGrad(wi), bg, Arg.Grad(y), Arg.Act(x), Arg.Param(wi), batch }, sizes)),
                new[] { GroupKernel("Conv2d.ForwardKernel", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Param(wi), bv, batch }, sizes, new[] { Arg.Lit(Bool(b is not null)) })) },
                backwardKernels.ToArray(),
                flops: 2L * cout * ho * wo * cin * kernel * kernel);
            return y;
        }
    }
}
