using System;
using System.Numerics;
using System.Runtime.Intrinsics;
using ModelGen.Cpu;
using Xunit;

namespace ModelGen.Tests.Cpu;

public class VectorMathTests
{
    [Fact]
    public void ExpNonPositive_IsWithin3e7RelativeOfDoubleExp_OnMinus87To0()
    {
        const int steps = 87 * 4096;
        var xs = new float[steps + 16];
        for (int k = 0; k < xs.Length; k++) xs[k] = (float)Math.Max(-87.0, -87.0 * k / steps);
        double worst = 0, at = 0;
        int w = Vector<float>.Count;
        for (int k = 0; k + w <= xs.Length; k += w)
        {
            var r = VectorMath.ExpNonPositive(new Vector<float>(xs, k));
            for (int l = 0; l < w; l++)
            {
                double exact = Math.Exp(xs[k + l]), err = Math.Abs(r[l] - exact) / exact;
                if (err > worst) { worst = err; at = xs[k + l]; }
            }
        }
        Assert.True(worst <= 3e-7, $"vector ExpNonPositive worst relative error {worst:G3} at x={at}");

        if (Vector512.IsHardwareAccelerated)
        {
            worst = 0;
            for (int k = 0; k + 16 <= xs.Length; k += 16)
            {
                var r = VectorMath.ExpNonPositive(Vector512.Create(xs.AsSpan(k, 16)));
                for (int l = 0; l < 16; l++)
                {
                    double exact = Math.Exp(xs[k + l]), err = Math.Abs(r[l] - exact) / exact;
                    if (err > worst) { worst = err; at = xs[k + l]; }
                }
            }
            Assert.True(worst <= 3e-7, $"Vector512 ExpNonPositive worst relative error {worst:G3} at x={at}");
        }

        // Below the clamp the result stays exp(-87): tiny, finite and normal.
        float clamped = VectorMath.ExpNonPositive(new Vector<float>(-1000f))[0];
        Assert.Equal((double)VectorMath.ExpNonPositive(new Vector<float>(-87f))[0], clamped);
        Assert.True(float.IsNormal(clamped) && clamped < 2e-38f);
    }

    /// <summary>Double-precision softmax; −∞ entries give 0.</summary>
    static double[] SoftmaxReference(float[] x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        var y = new double[x.Length];
        double sum = 0;
        for (int j = 0; j < x.Length; j++) sum += y[j] = float.IsNegativeInfinity(x[j]) ? 0 : Math.Exp(x[j] - max);
        for (int j = 0; j < x.Length; j++) y[j] /= sum;
        return y;
    }

    /// <summary>The public entry, and each form it may pick (the masked one only where AVX-512 runs).</summary>
    static string[] FormNames => System.Runtime.Intrinsics.X86.Avx512F.IsSupported
        ? new[] { "public", "copied", "masked" }
        : new[] { "public", "copied" };

    public static TheoryData<string> Forms() => new(FormNames);

    static unsafe float Softmax(string form, float* x, float* y, int n) => form switch
    {
        "copied" => VectorMath.Softmax(x, y, n, masked: false, out _),
        "masked" => VectorMath.Softmax(x, y, n, masked: true, out _),
        _ => VectorMath.Softmax(x, y, n),
    };

    public static TheoryData<string, int> FormsAndLengths()
    {
        var data = new TheoryData<string, int>();
        foreach (var form in FormNames)
            foreach (int n in new[] { 0, 1, 15, 16, 17, 50, 197 })
                data.Add(form, n);
        return data;
    }

    [Theory]
    [MemberData(nameof(FormsAndLengths))]
    public unsafe void Softmax_MatchesDouble_ForEveryLengthAroundTheVectorWidth(string form, int n)
    {
        var rnd = new Random(n);
        var x = new float[n + 1];
        for (int j = 0; j < n; j++) x[j] = (float)(rnd.NextDouble() * 40 - 20);
        x[n] = 12345f; // past the row: must be neither read into the max nor written
        var y = new float[n + 1];
        y[n] = -7f;
        float max;
        fixed (float* xp = x, yp = y) max = Softmax(form, xp, yp, n);
        var expected = SoftmaxReference(x.AsSpan(0, n).ToArray());
        float trueMax = float.NegativeInfinity;
        for (int j = 0; j < n; j++) trueMax = Math.Max(trueMax, x[j]);
        Assert.Equal(trueMax, max);
        for (int j = 0; j < n; j++)
            Assert.True(Math.Abs(y[j] - expected[j]) <= 1e-6 + 1e-6 * expected[j], $"{form} n={n} j={j}: {y[j]} vs {expected[j]}");
        Assert.Equal(-7f, y[n]);
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public unsafe void Softmax_GivesMinusInfinityExactlyZero_AndWorksInPlace(string form)
    {
        var x = new float[33];
        for (int j = 0; j < x.Length; j++) x[j] = j % 3 == 0 ? float.NegativeInfinity : 0.25f * j;
        var expected = SoftmaxReference(x);
        fixed (float* xp = x) Softmax(form, xp, xp, x.Length);
        for (int j = 0; j < x.Length; j++)
        {
            if (j % 3 == 0) Assert.Equal(0f, x[j]);
            else Assert.True(Math.Abs(x[j] - expected[j]) <= 1e-6, $"j={j}: {x[j]} vs {expected[j]}");
        }
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public unsafe void Softmax_OfAnAllMinusInfinityRow_ReturnsMinusInfinity(string form)
    {
        var x = new float[20];
        Array.Fill(x, float.NegativeInfinity);
        var y = new float[20];
        float max;
        fixed (float* xp = x, yp = y) max = Softmax(form, xp, yp, x.Length);
        Assert.True(float.IsNegativeInfinity(max));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(16)]
    [InlineData(33)]
    public unsafe void Dot_MatchesDouble_WithAndWithoutATail(int n)
    {
        var rnd = new Random(n + 100);
        var a = new float[n + 1];
        var b = new float[n + 1];
        double expected = 0;
        for (int j = 0; j < n; j++)
        {
            a[j] = (float)(rnd.NextDouble() * 2 - 1);
            b[j] = (float)(rnd.NextDouble() * 2 - 1);
            expected += (double)a[j] * b[j];
        }
        a[n] = b[n] = 1000f; // past the row: must not be summed
        float got;
        fixed (float* ap = a, bp = b) got = VectorMath.Dot(ap, bp, n);
        Assert.True(Math.Abs(got - expected) <= 1e-5, $"n={n}: {got} vs {expected}");
    }
}
