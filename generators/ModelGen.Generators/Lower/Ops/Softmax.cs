using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Softmax over the last <paramref name="n"/> values of each row; backward reads y.</summary>
        internal string Softmax(string path, string x, int n)
        {
            string y = Output(path, null, ShapeOf(x));
            string rows = "batch * " + Int(_shapes[x].PerSample / n);
            Arg[] sizes = { Arg.Rows(rows), Arg.Lit(Int(n)) };
            Op(Comment(path, "Softmax", x, y),
                Call("Softmax.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)),
                Call("Softmax.Backward", Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(y) }, sizes)),
                new[] { GroupKernel("Softmax.ForwardKernel", Concat(new[] { Arg.Act(y), Arg.Act(x) }, sizes)) },
                new[] { GroupKernel("Softmax.BackwardKernel", Concat(new[] { Arg.Grad(x), Arg.Grad(y), Arg.Act(y) }, sizes)) });
            return y;
        }
    }
}
