using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>GELU (exact): x -> y, element-wise.</summary>
        internal string Gelu(string path, string x, string? output) => Elementwise("Gelu", path, x, output);

        /// <summary>ReLU: x -> y, element-wise.</summary>
        internal string Relu(string path, string x, string? output) => Elementwise("Relu", path, x, output);

        /// <summary>tanh: x -> y, element-wise; backward reads y.</summary>
        internal string Tanh(string path, string x) => Elementwise("Tanh", path, x, null, backwardReadsOutput: true);

        /// <summary>An element-wise op: backward reads x, or y when the derivative is cheaper from the output (sigmoid, tanh).</summary>
        internal string Elementwise(string op, string path, string x, string? output, bool backwardReadsOutput = false)
        {
            string y = Output(path, output, ShapeOf(x));
            var n = Arg.Rows(Elements(x));
            var saved = Arg.Act(backwardReadsOutput ? y : x);
            Op(Comment(path, op, x, y),
                Call(op + ".Forward", Arg.Act(y), Arg.Act(x), n),
                Call(op + ".Backward", Arg.Grad(x), Arg.Grad(y), saved, n),
                new[] { Kernel(op + ".ForwardKernel", Elements(x), Arg.Act(y), Arg.Act(x), n) },
                new[] { Kernel(op + ".BackwardKernel", Elements(x), Arg.Grad(x), Arg.Grad(y), saved, n) });
            return y;
        }
    }
}
