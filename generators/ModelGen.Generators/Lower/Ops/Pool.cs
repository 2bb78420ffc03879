using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Max or average pooling ("Max" / "Avg"): x (C, H, W) -> y (C, Ho, Wo) over K×K windows moved by the stride, no padding.</summary>
        internal string Pool(string kind, string path, string x, int kernel, int stride, string? output)
        {
            var s = ShapeOf(x);
            int c = s[0], h = s[1], w = s[2];
            string y = Output(path, output, new[] { c, (h - kernel) / stride + 1, (w - kernel) / stride + 1 });
            var batch = Arg.Rows("batch");
            Arg[] sizes = { batch, Arg.Lit(Int(c)), Arg.Lit(Int(h)), Arg.Lit(Int(w)), Arg.Lit(Int(kernel)), Arg.Lit(Int(stride)) };
            bool max = kind == "Max";
            var backward = max ? Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(x) }, sizes) : Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes);
            Op(Comment(path, kind + "Pool", x, y),
                Call($"Pool2d.{kind}Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call($"Pool2d.{kind}Backward", backward),
                new[] { Kernel($"Pool2d.{kind}ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { Kernel($"Pool2d.{kind}BackwardKernel", Elements(x), backward) },
                flops: (long)c * ((h - kernel) / stride + 1) * ((w - kernel) / stride + 1) * kernel * kernel);
            return y;
        }

        /// <summary>A reduction of a map from SpatialPool ("GlobalAvg", "ChannelMax", "MeanOverWidth", ...) into <paramref name="shape"/>.</summary>
        internal string SpatialPool(string op, string path, string x, int[] shape, bool backwardReadsInput)
        {
            var s = ShapeOf(x);
            string y = Output(path, null, shape);
            Arg[] sizes = { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])), Arg.Lit(Int(s[2])) };
            var backward = backwardReadsInput ? Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(x) }, sizes) : Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes);
            Op(Comment(path, op, x, y),
                Call($"SpatialPool.{op}Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call($"SpatialPool.{op}Backward", backward),
                new[] { Kernel($"SpatialPool.{op}ForwardKernel", Elements(y), Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                // A max's backward has one thread per output (it finds the first maximum); a mean's one per input element.
                new[] { Kernel($"SpatialPool.{op}BackwardKernel", backwardReadsInput ? Elements(y) : Elements(x), backward) },
                flops: (long)s[0] * s[1] * s[2]);
            return y;
        }
    }
}
