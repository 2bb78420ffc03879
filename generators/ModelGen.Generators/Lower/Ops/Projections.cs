using ModelGen.Generators.Model;

namespace ModelGen.Generators;

public sealed partial class ModelGenerator
{
    internal sealed partial class Lowerer
    {
        /// <summary>One projection of <see cref="Projections"/>: its name under the layer's path, out width and weight initialisation.</summary>
        internal sealed record Projection(string Name, int Out, string WeightInit);

        /// <summary>Three linear projections of one input x (rows, in), as self-attention's q, k and v: the parameters are the three
        /// Linear layers' (same names, order and initialisation), the op one fused launch on a device (runtime Projections).
        /// Returns the three outputs.</summary>
        internal (string Q, string K, string V) Projections(string path, string x, int inFeatures, Projection q, Projection k, Projection v, bool bias,
            string biasInit)
        {
            var rows = Arg.Rows(Rows(x));
            var p = new[] { q, k, v };
            var y = new string[3];
            var w = new int[3];
            var b = new int?[3];
            for (int i = 0; i < 3; i++)
            {
                var shape = new System.Collections.Generic.List<int>(ShapeOf(x));
                shape[shape.Count - 1] = p[i].Out;
                y[i] = Output(path + "." + p[i].Name, null, shape);
                w[i] = Param(path + "." + p[i].Name + ".weight", new[] { p[i].Out, inFeatures }, p[i].WeightInit, decay: true);
                b[i] = bias ? Param(path + "." + p[i].Name + ".bias", new[] { p[i].Out }, biasInit, decay: false) : null;
            }
            Arg[] Each(System.Func<int, Arg> f) => new[] { f(0), f(1), f(2) };
            Arg[] values = Each(i => b[i] is { } bi ? Arg.Param(bi) : Arg.None), grads = Each(i => b[i] is { } bj ? Arg.ParamGrad(bj) : Arg.None);
            Arg[] sizes = { rows, Arg.Lit(Int(inFeatures)), Arg.Lit(Int(q.Out)), Arg.Lit(Int(k.Out)), Arg.Lit(Int(v.Out)) };
            var backwardKernels = new System.Collections.Generic.List<KernelLaunch>
            {
                GroupKernel("Projections.BackwardInputKernel", Concat(new[] { Arg.Grad(x) }, Each(i => Arg.Grad(y[i])), Each(i => Arg.Param(w[i])), sizes)),
            };
            for (int i = 0; i < 3; i++) backwardKernels.AddRange(LinearParamGrads(w[i], b[i], Arg.Grad(y[i]), x, rows, inFeatures, p[i].Out));
            long perRow = _shapes[x].PerSample / inFeatures;
            Op(Comment(path, "Projections q, k, v", x, y[0]) + ", " + _shapes[y[1]].Display + ", " + _shapes[y[2]].Display,
                Call("Projections.Forward", Concat(Each(i => Arg.Act(y[i])), new[] { Arg.Act(x) }, Each(i => Arg.Param(w[i])), values, sizes)),
                Call("Projections.Backward", Concat(new[] { Arg.Grad(x) }, Each(i => Arg.ParamGrad(w[i])), grads, Each(i => Arg.Grad(y[i])), new[] { Arg.Act(x) },
                    Each(i => Arg.Param(w[i])), sizes)),
                new[] { GroupKernel("Projections.ForwardKernel", Concat(Each(i => Arg.Act(y[i])), new[] { Arg.Act(x) }, Each(i => Arg.Param(w[i])), values, sizes,
                    new[] { Arg.Lit(Bool(bias)) })) },
                backwardKernels.ToArray(),
                flops: 2L * perRow * inFeatures * (q.Out + k.Out + v.Out));
            return (y[0], y[1], y[2]);
        }
    }
}
