using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>Scores (queries, keys) with the padded keys of <paramref name="padding"/> (B, keys) set to −∞ before a softmax.</summary>
        internal string KeyPadding(string path, string scores, string padding, int queries, int keys)
        {
            string y = Output(path, null, new[] { queries, keys });
            var sizes = new[] { Arg.Rows("batch"), Arg.Lit(Int(queries)), Arg.Lit(Int(keys)) };
            string extent = "batch * " + Int((long)queries * keys);
            Op(Comment(path, "KeyPadding", scores, y),
                Call("KeyPadding.Forward", Concat(new[] { Arg.Act(y), Arg.Act(scores), Arg.Act(padding) }, sizes)),
                Call("KeyPadding.Backward", Concat(new[] { Arg.Grad(scores), Arg.Grad(y), Arg.Act(padding) }, sizes)),
                new[] { Kernel("KeyPadding.ForwardKernel", extent, Concat(new[] { Arg.Act(y), Arg.Act(scores), Arg.Act(padding) }, sizes)) },
                new[] { Kernel("KeyPadding.BackwardKernel", extent, Concat(new[] { Arg.Grad(scores), Arg.Grad(y), Arg.Act(padding) }, sizes)) },
                flops: 0);
            return y;
        }
    }
}
