using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Xunit.Sdk;

namespace ModelGen.Tests.Support;

/// <summary>Element-wise comparison with tolerance <c>atol + rtol·|expected|</c> that reports the worst element and the first few misses.</summary>
public static class Approx
{
    public static void Equal(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        var e = new double[expected.Length];
        expected.CopyTo(e);
        var a = new double[actual.Length];
        for (int i = 0; i < actual.Length; i++) a[i] = actual[i];
        Equal(e, a, atol, rtol, what);
    }

    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        var e = new double[expected.Length];
        for (int i = 0; i < expected.Length; i++) e[i] = expected[i];
        var a = new double[actual.Length];
        for (int i = 0; i < actual.Length; i++) a[i] = actual[i];
        Equal(e, a, atol, rtol, what);
    }

    public static void Equal(double[] expected, double[] actual, double atol, double rtol, string what)
    {
        if (expected.Length != actual.Length)
            throw new XunitException($"{what}: expected {expected.Length} elements but got {actual.Length}");
        var misses = new List<int>();
        int worst = -1;
        double worstExcess = double.NegativeInfinity;
        for (int i = 0; i < expected.Length; i++)
        {
            double allowed = atol + rtol * Math.Abs(expected[i]);
            double diff = Math.Abs(expected[i] - actual[i]);
            double excess = double.IsNaN(diff) ? double.PositiveInfinity : diff - allowed;
            if (excess > worstExcess) { worstExcess = excess; worst = i; }
            if (excess > 0) misses.Add(i);
        }
        if (misses.Count == 0) return;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{what}: {misses.Count} of {expected.Length} elements differ beyond atol={atol:G3} + rtol={rtol:G3}·|expected|.");
        sb.Append(CultureInfo.InvariantCulture, $" Worst at [{worst}]: expected {expected[worst]:G9}, actual {actual[worst]:G9}.");
        sb.Append(" First:");
        for (int k = 0; k < Math.Min(5, misses.Count); k++)
        {
            int i = misses[k];
            sb.Append(CultureInfo.InvariantCulture, $" [{i}] {expected[i]:G7} vs {actual[i]:G7};");
        }
        throw new XunitException(sb.ToString());
    }

    /// <summary>Largest relative error max|e-a| / max(|e|) over the whole array (the measure used against PyTorch).</summary>
    public static double RelativeError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            num = Math.Max(num, Math.Abs(expected[i] - actual[i]));
            den = Math.Max(den, Math.Abs(expected[i]));
        }
        return den == 0 ? num : num / den;
    }
}
