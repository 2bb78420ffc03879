using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Residual sum: a + b -> y; backward sends dy to both.</summary>
        internal string Add(string path, string a, string b, string? output)
        {
            string y = Output(path, output, ShapeOf(a));
            var n = Arg.Rows(Elements(a));
            Op(Comment(path, "Add", a, b, y),
                Call("Add.Forward", Arg.Act(y), Arg.Act(a), Arg.Act(b), n),
                Call("Add.Backward", Arg.Grad(a), Arg.Grad(b), Arg.Grad(y), n),
                new[] { Kernel("Add.ForwardKernel", Elements(a), Arg.Act(y), Arg.Act(a), Arg.Act(b), n) },
                new[] { Kernel("Add.BackwardKernel", Elements(a), Arg.Grad(a), Arg.Grad(b), Arg.Grad(y), n) });
            return y;
        }
    }
}
