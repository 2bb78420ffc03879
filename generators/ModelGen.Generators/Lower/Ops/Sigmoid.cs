using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Sigmoid: x -> y element-wise; backward reads y.</summary>
        internal string Sigmoid(string path, string x, string? output)
        {
            string y = Output(path, output, ShapeOf(x));
            var n = Arg.Rows(Elements(x));
            Op(Comment(path, "Sigmoid", x, y),
                Call("Sigmoid.Forward", Arg.Act(y), Arg.Act(x), n),
                Call("Sigmoid.Backward", Arg.Grad(x), Arg.Grad(y), Arg.Act(y), n),
                new[] { Kernel("Sigmoid.ForwardKernel", Elements(x), Arg.Act(y), Arg.Act(x), n) },
                new[] { Kernel("Sigmoid.BackwardKernel", Elements(x), Arg.Grad(x), Arg.Grad(y), Arg.Act(y), n) });
            return y;
        }
    }
}
