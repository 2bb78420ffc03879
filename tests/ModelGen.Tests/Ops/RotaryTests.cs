using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Rotary position embeddings: a double-precision reference written from the paper's rotation matrix, finite
/// differences for the backward, the defining property (a rotated query–key product depends only on the positions'
/// difference), the kernels on the simulator against the CPU, and PyTorch's complex-number formulation on the same input.</summary>
public class RotaryTests
{
    /// <summary>Block-diagonal rotation R(p·θ_i) on each head's pairs, in double.</summary>
    static double[] Reference(double[] x, int batch, int tokens, int heads, int d, double theta)
    {
        var y = new double[x.Length];
        for (int b = 0; b < batch; b++)
            for (int p = 0; p < tokens; p++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < d / 2; i++)
                    {
                        double angle = p * Math.Pow(theta, -2.0 * i / d);
                        int e = ((b * tokens + p) * heads + h) * d + 2 * i;
                        y[e] = Math.Cos(angle) * x[e] - Math.Sin(angle) * x[e + 1];
                        y[e + 1] = Math.Sin(angle) * x[e] + Math.Cos(angle) * x[e + 1];
                    }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1, 2, 10000.0)]
    [InlineData(2, 7, 3, 8, 10000.0)]
    [InlineData(3, 65, 2, 64, 10000.0)]
    [InlineData(2, 300, 4, 32, 500.0)]   // many rows: the CPU op runs on all cores
    public void Forward_MatchesReference(int batch, int tokens, int heads, int d, double theta)
    {
        var x = Rng.Floats(batch * tokens * heads * d, 1);
        var y = new float[x.Length];
        Array.Fill(y, 7f);
        Rotary.Forward(y, x, Rotary.Table(tokens, d, theta), batch, tokens, heads, d);
        Approx.Equal(Reference(Rng.ToDouble(x), batch, tokens, heads, d, theta), y, 2e-6, 2e-6, "rotary y");
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_AndAccumulates()
    {
        const int batch = 2, tokens = 5, heads = 3, d = 6;
        var x = Rng.ToDouble(Rng.Floats(batch * tokens * heads * d, 2));
        var dy = Rng.Floats(x.Length, 3);
        var expected = FiniteDifference.Gradient(() => Reference(x, batch, tokens, heads, d, 10000), x, Rng.ToDouble(dy));
        var dx = Arrays.Filled(x.Length, 0.25f);
        Rotary.Backward(dx, dy, Rotary.Table(tokens, d, 10000), batch, tokens, heads, d);
        for (int i = 0; i < expected.Length; i++) expected[i] += 0.25;
        Approx.Equal(expected, dx, 1e-6, 1e-5, "rotary dx");
    }

    [Fact]
    public void RotatedScores_DependOnlyOnThePositionsDifference()
    {
        // q·k after rotating q to position p and k to p′ is the same for (p, p′) = (3, 1), (10, 8), (40, 38).
        const int d = 16, tokens = 41;
        var table = Rotary.Table(tokens, d, 10000);
        var q = Rng.Floats(d, 4);
        var k = Rng.Floats(d, 5);
        double Score(int p, int pk)
        {
            var xq = new float[tokens * d];
            var xk = new float[tokens * d];
            Array.Copy(q, 0, xq, p * d, d);
            Array.Copy(k, 0, xk, pk * d, d);
            var rq = new float[xq.Length];
            var rk = new float[xk.Length];
            Rotary.Forward(rq, xq, table, 1, tokens, 1, d);
            Rotary.Forward(rk, xk, table, 1, tokens, 1, d);
            double s = 0;
            for (int i = 0; i < d; i++) s += (double)rq[p * d + i] * rk[pk * d + i];
            return s;
        }
        double s0 = Score(3, 1);
        Assert.Equal(s0, Score(10, 8), 4);
        Assert.Equal(s0, Score(40, 38), 4);
        Assert.NotEqual(Math.Round(s0, 4), Math.Round(Score(3, 2), 4));
    }

    [Fact]
    public void Table_RefusesAnOddWidthOrABaseOfOneOrLess()
    {
        Assert.Contains("even", Assert.Throws<ArgumentException>(() => Rotary.Table(4, 7, 10000)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Rotary.Table(4, 8, 1));
    }

    const int KB = 3, KTokens = 9, KHeads = 2, KD = 10;

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> t) => Rotary.ForwardKernel(i, y, x, t, KB, KTokens, KHeads, KD);

    static void Backward(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> t) => Rotary.BackwardKernel(i, dx, dy, t, KB, KTokens, KHeads, KD);

    [Fact]
    public void Kernels_MatchCpu()
    {
        int n = KB * KTokens * KHeads * KD;
        var table = Rotary.Table(KTokens, KD, 10000);
        var x = Rng.Floats(n, 6);
        var dy = Rng.Floats(n, 7);
        var y = new float[n];
        var dx = Arrays.Filled(n, 0.5f);
        Rotary.Forward(y, x, table, KB, KTokens, KHeads, KD);
        Rotary.Backward(dx, dy, table, KB, KTokens, KHeads, KD);
        using var h = new KernelHarness();
        using var gx = h.Upload(x);
        using var gt = h.Upload(table);
        using var gy = h.Zeros(n);
        using var gdy = h.Upload(dy);
        using var gdx = h.Filled(n, 0.5f);
        // One thread per pair, and a few past the end, which must do nothing.
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Forward)(n / 2 + 5, gy.View, gx.View, gt.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Backward)(n / 2 + 5, gdx.View, gdy.View, gt.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-7, 1e-6, "y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-7, 1e-6, "dx");
    }

    [SkippableFact]
    public void AgreesWithPyTorch()
    {
        // PyTorch rotates by complex multiplication (RoFormer's and LLaMA's formulation): (x[2i] + i·x[2i+1])·e^{i·p·θ_i}.
        const int batch = 2, tokens = 11, heads = 3, d = 8;
        var x = Rng.Floats(batch * tokens * heads * d, 8);
        var dy = Rng.Floats(x.Length, 9);
        var reference = TorchOps.Run(new { op = "rotary", theta = 10000.0, heads },
            new SafeTensor("x", new[] { batch, tokens, heads * d }, x), new SafeTensor("grad_output", new[] { batch, tokens, heads * d }, dy));
        var table = Rotary.Table(tokens, d, 10000);
        var y = new float[x.Length];
        var dx = new float[x.Length];
        Rotary.Forward(y, x, table, batch, tokens, heads, d);
        Rotary.Backward(dx, dy, table, batch, tokens, heads, d);
        TorchOps.Close(reference, "output", y);
        TorchOps.Close(reference, "grad.x", dx);
    }
}
