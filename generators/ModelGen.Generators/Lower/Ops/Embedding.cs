using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Embedding: token ids (n) -> y (n, d), a row of the table (vocab, d) per id, N(0, std²) with the padding row zero; Forward
        /// first checks the ids against the vocabulary.</summary>
        internal string Embedding(string path, string tokens, int vocab, int dim, int paddingIndex, double std, string? output)
        {
            int n = ShapeOf(tokens)[0];
            string y = Output(path, output, new[] { n, dim });
            string deviation = std.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            int w = Param(path + ".weight", new[] { vocab, dim }, $"embedding:{Int(paddingIndex)}, {deviation}", decay: false);
            CheckInput(tokens, "Embedding.CheckTokens", Int(n), Int(vocab));
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(n)), Arg.Lit(Int(vocab)), Arg.Lit(Int(dim)), Arg.Lit(Int(paddingIndex)) };
            Op(Comment(path, "Embedding", tokens, y),
                Call("Embedding.Forward", Concat(new[] { Arg.Act(y), Arg.Act(tokens), Arg.Param(w) }, sizes)),
                Call("Embedding.Backward", Concat(new[] { Arg.ParamGrad(w), Arg.Grad(y), Arg.Act(tokens) }, sizes)),
                new[] { Kernel("Embedding.ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(tokens), Arg.Param(w) }, sizes)) },
                new[] { Kernel("Embedding.BackwardKernel", Elements(y), Concat(new[] { Arg.ParamGrad(w), Arg.Grad(y), Arg.Act(tokens) }, sizes)) },
                flops: 0);
            return y;
        }
    }
}
