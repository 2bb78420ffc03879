using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Dropout: rate p while training, 0 (a copy) in evaluation; the multiplier mask is kept for backward.</summary>
        internal string Dropout(string path, string x, float p, string? output)
        {
            string y = Output(path, output, ShapeOf(x));
            string mask = Saved(path, "mask", System.Linq.Enumerable.ToArray(ShapeOf(x)));
            int site = NextDropoutSite();
            var n = Arg.Rows(Elements(x));
            var rate = Arg.Runtime($"(_runtime.Training ? {Float(p)} : 0f)", "float");
            var seed = Arg.Runtime($"_runtime.DropoutSeed({Int(site)})", "uint");
            Op(Comment(path, "Dropout", x, y),
                Call("Dropout.Forward", Arg.Act(y), Arg.Act(mask), Arg.Act(x), n, rate, seed),
                Call("Dropout.Backward", Arg.Grad(x), Arg.Grad(y), Arg.Act(mask), n),
                new[] { Kernel("Dropout.ForwardKernel", Elements(x), Arg.Act(y), Arg.Act(mask), Arg.Act(x), n, rate, seed) },
                new[] { Kernel("Dropout.BackwardKernel", Elements(x), Arg.Grad(x), Arg.Grad(y), Arg.Act(mask), n) });
            return y;
        }
    }
}
