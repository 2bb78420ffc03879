using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Appends k learned tokens (parameter (1, k, d), N(0, 0.02²)) after each sample's tokens: (n, d) -> (n + k, d);
        /// with no input (x null) the tokens alone, repeated per sample: (k, d).</summary>
        internal string LearnedTokens(string path, string? x, int k, int d)
        {
            int n = x is null ? 0 : ShapeOf(x)[0];
            string y = Output(path, null, new[] { n + k, d });
            int tokens = Param(path, new[] { 1, k, d }, "normal:0.02", decay: false);
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(n)), Arg.Lit(Int(k)), Arg.Lit(Int(d)) };
            var input = x is null ? Arg.None : Arg.Act(x);
            var inputGrad = x is null ? Arg.None : Arg.Grad(x);
            var backward = new System.Collections.Generic.List<KernelLaunch>
            {
                Kernel("LearnedTokens.BackwardTokensKernel", Int((long)k * d), Concat(new[] { Arg.ParamGrad(tokens), Arg.Grad(y) }, sizes)),
            };
            if (x is not null) backward.Add(Kernel("LearnedTokens.BackwardInputKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)));
            Op(x is null ? $"{path} (LearnedTokens): -> {_shapes[y].Display}" : Comment(path, "LearnedTokens", x, y),
                Call("LearnedTokens.Forward", Concat(new[] { Arg.Act(y), input, Arg.Param(tokens) }, sizes)),
                Call("LearnedTokens.Backward", Concat(new[] { inputGrad, Arg.ParamGrad(tokens), Arg.Grad(y) }, sizes)),
                new[] { Kernel("LearnedTokens.ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), input, Arg.Param(tokens) }, sizes)) },
                backward.ToArray(), flops: 0);
            return y;
        }
    }
}
