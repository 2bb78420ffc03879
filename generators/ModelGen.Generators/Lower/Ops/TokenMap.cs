using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Tokens (skip + H·W, C) -> map (C, H, W); the skipped leading tokens get no gradient from here.</summary>
        internal string TokensToMap(string path, string x, int skip, int height, int width, string? output)
        {
            int c = ShapeOf(x)[1];
            string y = Output(path, output, new[] { c, height, width });
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(skip)), Arg.Lit(Int(c)), Arg.Lit(Int(height)), Arg.Lit(Int(width)) };
            Op(Comment(path, "TokensToMap", x, y),
                Call("TokenMap.ToMapForward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("TokenMap.ToMapBackward", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel("TokenMap.ToMapForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel("TokenMap.ToMapBackwardKernel", Elements(y), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) }, flops: 0);
            return y;
        }

        /// <summary>Each sample's (rows, columns) matrix transposed to (columns, rows): TokensToMap's op with a map one pixel wide.</summary>
        internal string Transpose(string path, string x)
        {
            var s = ShapeOf(x);
            string y = Output(path, null, new[] { s[1], s[0] });
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit("0"), Arg.Lit(Int(s[1])), Arg.Lit(Int(s[0])), Arg.Lit("1") };
            Op(Comment(path, "Transpose", x, y),
                Call("TokenMap.ToMapForward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("TokenMap.ToMapBackward", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel("TokenMap.ToMapForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel("TokenMap.ToMapBackwardKernel", Elements(y), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) }, flops: 0);
            return y;
        }

        /// <summary>Map (C, H, W) -> tokens (H·W, C).</summary>
        internal string MapToTokens(string path, string x, string? output)
        {
            var s = ShapeOf(x);
            string y = Output(path, output, new[] { s[1] * s[2], s[0] });
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])), Arg.Lit(Int(s[2])) };
            Op(Comment(path, "MapToTokens", x, y),
                Call("TokenMap.ToTokensForward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("TokenMap.ToTokensBackward", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel("TokenMap.ToTokensForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel("TokenMap.ToTokensBackwardKernel", Elements(x), Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) }, flops: 0);
            return y;
        }
    }
}
