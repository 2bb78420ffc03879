using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Fixed sine-cosine positions: x (tokens, dim) + table -> y; the table is a static constant of the model.</summary>
        internal string SinusoidalPositions(string path, string x, int gridHeight, int gridWidth, string? output)
        {
            var s = ShapeOf(x);
            string y = Output(path, output, s);
            string table = gridHeight == 0
                ? Constant(path, $"global::ModelGen.Ops.Sinusoidal.Table1D({Int(s[0])}, {Int(s[1])})", $"1-D sine-cosine positions of '{path}' ({Int(s[0])}, {Int(s[1])}).")
                : Constant(path, $"global::ModelGen.Ops.Sinusoidal.Table2D({Int(s[0])}, {Int(gridHeight)}, {Int(gridWidth)}, {Int(s[1])})", $"2-D sine-cosine positions of '{path}' over a {Int(gridHeight)}×{Int(gridWidth)} grid.");
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(s[0])), Arg.Lit(Int(s[1])) };
            string all = "batch * " + Int((long)s[0] * s[1]);
            Op(Comment(path, gridHeight == 0 ? "SinusoidalPositions 1-D" : "SinusoidalPositions 2-D", x, y),
                Call("Positions.Forward", Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Constant(table) }, sizes)),
                Call("Positions.BackwardInput", Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)),
                new[] { Kernel("Positions.ForwardKernel", all, Concat(new[] { Arg.Act(y), Arg.Act(x), Arg.Constant(table) }, sizes)) },
                new[] { Kernel("Positions.BackwardInputKernel", all, Concat(new[] { Arg.Grad(x), Arg.Grad(y) }, sizes)) });
            return y;
        }
    }
}
