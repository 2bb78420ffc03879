using System;
using ModelGen.Cpu;
using System.Numerics;
using System.Runtime.InteropServices;

namespace ModelGen.Training;

/// <summary>Gradient clipping as PyTorch's <c>torch.nn.utils.clip_grad_norm_</c> (L2 norm).</summary>
public static class GradientClipping
{
    /// <summary>
    /// Computes the L2 norm of all gradients taken as one vector and, when <c>max/(norm + 1e-6)</c> is below 1, scales
    /// every gradient by that factor (as PyTorch does). Returns the norm before clipping. Sums are accumulated in double
    /// in a fixed order, so the result does not depend on threading. A non-finite norm (NaN or infinite gradients)
    /// is returned as is and, unlike PyTorch (which would multiply the gradients by NaN or 0), leaves the gradients
    /// untouched so the caller can skip the step.
    /// </summary>
    public static float ClipByGlobalNorm(ParameterSet parameters, float maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The maximum norm must be positive.");
        double norm = Math.Sqrt(SumOfSquares(parameters));
        float total = (float)norm;
        if (!double.IsFinite(norm)) return total;
        // PyTorch: clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1, with total_norm a float32 tensor.
        float coef = maxNorm / (total + 1e-6f);
        if (coef < 1f)
        {
            foreach (var p in parameters) Scale(p.Grad, coef);
        }
        return total;
    }

    /// <summary>Σ g² over every gradient, in double.</summary>
    public static double SumOfSquares(ParameterSet parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        const int chunk = 1 << 15;
        double total = 0;
        foreach (var p in parameters)
        {
            var g = p.Grad;
            int chunks = (g.Length + chunk - 1) / chunk;
            if (chunks <= 1)
            {
                total += SumOfSquares(g);
                continue;
            }
            var partial = new double[chunks];
            Workers.For(chunks, c =>
            {
                int start = c * chunk;
                partial[c] = SumOfSquares(g.AsSpan(start, Math.Min(chunk, g.Length - start)));
            });
            foreach (double s in partial) total += s;
        }
        return total;
    }

    static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double sum = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var acc = Vector<double>.Zero;
            var xv = MemoryMarshal.Cast<float, Vector<float>>(x);
            for (int k = 0; k < xv.Length; k++)
            {
                Vector.Widen(xv[k], out var lo, out var hi);
                acc += lo * lo + hi * hi;
            }
            sum = Vector.Sum(acc);
            i = xv.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) sum += (double)x[i] * x[i];
        return sum;
    }

    static void Scale(float[] g, float factor)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && g.Length >= Vector<float>.Count)
        {
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g.AsSpan());
            var f = new Vector<float>(factor);
            for (int k = 0; k < gv.Length; k++) gv[k] *= f;
            i = gv.Length * Vector<float>.Count;
        }
        for (; i < g.Length; i++) g[i] *= factor;
    }
}
