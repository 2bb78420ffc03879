using System;

namespace ModelGen.Tests.Support;

/// <summary>
/// Central finite differences on a double-precision function. The loss is L = Σ f(x)·r for a fixed random r,
/// so dL/dx is what an analytic backward given dy = r must produce.
/// </summary>
public static class FiniteDifference
{
    /// <param name="forward">Evaluates the op in double precision; reads the (mutated) inputs each call.</param>
    /// <param name="input">The array to perturb (one of the arrays <paramref name="forward"/> reads).</param>
    /// <param name="upstream">r, the weights of the output elements in the loss.</param>
    public static double[] Gradient(Func<double[]> forward, double[] input, double[] upstream, double h = 1e-6)
    {
        var g = new double[input.Length];
        for (int i = 0; i < input.Length; i++)
        {
            double keep = input[i];
            input[i] = keep + h;
            double plus = Dot(forward(), upstream);
            input[i] = keep - h;
            double minus = Dot(forward(), upstream);
            input[i] = keep;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }

    static double Dot(double[] a, double[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"output has {a.Length} elements, upstream {b.Length}");
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
