using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Drop path on a residual branch: rate p per sample while training, a copy in evaluation; each sample's
        /// multiplier is kept for backward.</summary>
        internal string DropPath(string path, string x, float p, string? output)
        {
            string y = Output(path, output, ShapeOf(x));
            string mask = Saved(path, "mask", 1);
            int site = NextDropoutSite();
            var batch = Arg.Rows("batch");
            var perSample = Arg.Lit(Int(_shapes[x].PerSample));
            var rate = Arg.Runtime($"(_runtime.Training ? {Float(p)} : 0f)", "float");
            var seed = Arg.Runtime($"_runtime.DropoutSeed({Int(site)})", "uint");
            Op(Comment(path, "DropPath", x, y),
                Call("DropPath.Forward", Arg.Act(y), Arg.Act(mask), Arg.Act(x), batch, perSample, rate, seed),
                Call("DropPath.Backward", Arg.Grad(x), Arg.Grad(y), Arg.Act(mask), batch, perSample),
                new[] { Kernel("DropPath.ForwardKernel", Elements(x), Arg.Act(y), Arg.Act(mask), Arg.Act(x), batch, perSample, rate, seed) },
                new[] { Kernel("DropPath.BackwardKernel", Elements(x), Arg.Grad(x), Arg.Grad(y), Arg.Act(mask), batch, perSample) });
            return y;
        }
    }
}
