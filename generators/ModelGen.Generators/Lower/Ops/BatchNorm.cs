using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>BatchNorm2d: x (C, H, W) -> y; batch statistics while training (updating the running buffers), running ones in
        /// evaluation. weight 1, bias 0, running_mean 0, running_var 1 as PyTorch; <paramref name="gammaInit"/> overrides the weight's.</summary>
        internal string BatchNorm(string path, string x, float momentum, float eps, string? output, string gammaInit = "one")
        {
            var s = ShapeOf(x);
            int c = s[0], h = s[1], w = s[2];
            string y = Output(path, output, s);
            // One value per channel: the statistics are shared by the whole batch (the buffers hold one row per sample, only row 0 is used).
            string mean = Saved(path, "mean", c);
            string rstd = Saved(path, "rstd", c);
            string sums = DeviceScratch(path, "sums", 2 * c);
            int gamma = Param(path + ".weight", new[] { c }, gammaInit, decay: false);
            int beta = Param(path + ".bias", new[] { c }, "zero", decay: false);
            int runningMean = Buffer(path + ".running_mean", new[] { c }, "zero");
            int runningVar = Buffer(path + ".running_var", new[] { c }, "one");
            var training = Arg.Runtime("_runtime.Training", "bool");
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(c)), Arg.Lit(Int(h)), Arg.Lit(Int(w)) };
            Op(Comment(path, "BatchNorm2d", x, y),
                Call("BatchNorm2d.Forward", Concat(new[] { Arg.Act(y), Arg.Act(mean), Arg.Act(rstd), Arg.Param(runningMean), Arg.Param(runningVar), Arg.Act(x), Arg.Param(gamma), Arg.Param(beta) },
                    sizes, new[] { Arg.Lit(Float(eps)), Arg.Lit(Float(momentum)), training })),
                Call("BatchNorm2d.Backward", Concat(new[] { Arg.Grad(x), Arg.ParamGrad(gamma), Arg.ParamGrad(beta), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma) },
                    sizes, new[] { training })),
                new[]
                {
                    GroupKernel("BatchNorm2d.StatsKernel", Concat(new[] { Arg.Act(mean), Arg.Act(rstd), Arg.Param(runningMean), Arg.Param(runningVar), Arg.Act(x) },
                        sizes, new[] { Arg.Lit(Float(eps)), Arg.Lit(Float(momentum)), training })),
                    Kernel("BatchNorm2d.NormalizeKernel", Elements(x), Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma), Arg.Param(beta) }, sizes)),
                },
                new[]
                {
                    GroupKernel("BatchNorm2d.BackwardParamsKernel", Concat(new[] { Arg.ParamGrad(gamma), Arg.ParamGrad(beta), Arg.Act(sums), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd) }, sizes)),
                    Kernel("BatchNorm2d.BackwardInputKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(x), Arg.Act(mean), Arg.Act(rstd), Arg.Param(gamma), Arg.Act(sums) },
                        sizes, new[] { training })),
                });
            return y;
        }
    }
}
