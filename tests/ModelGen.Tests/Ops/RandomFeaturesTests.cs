using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>FAVOR+'s positive random features: a double-precision reference written from the paper's formula, finite differences
/// with the stabiliser held (the op's contract), the kernel estimate of softmax's kernel exp(q·k/√d), the orthogonal draw,
/// and the kernels on the simulator against the CPU.</summary>
public class RandomFeaturesTests
{
    /// <summary>φ (B, H, N, m) in double; the stabiliser per row (queries) or per (sample, head) (keys), or the given ones.</summary>
    static double[] Reference(double[] x, float[] w, int batch, int tokens, int heads, int d, int m, bool keys, double[]? shifts, out double[] used)
    {
        var phi = new double[batch * heads * tokens * m];
        double normalizer = Math.Pow(d, -0.25);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int n = 0; n < tokens; n++)
                {
                    int e = ((b * tokens + n) * heads + h) * d;
                    double square = 0;
                    for (int k = 0; k < d; k++) square += x[e + k] * normalizer * x[e + k] * normalizer;
                    for (int r = 0; r < m; r++)
                    {
                        double dot = 0;
                        for (int k = 0; k < d; k++) dot += w[r * d + k] * x[e + k] * normalizer;
                        phi[((b * heads + h) * tokens + n) * m + r] = dot - square / 2;
                    }
                }
        int rows = keys ? batch * heads : batch * heads * tokens, length = phi.Length / rows;
        used = shifts ?? Enumerable.Range(0, rows).Select(row => phi.Skip(row * length).Take(length).Max()).ToArray();
        for (int i = 0; i < phi.Length; i++) phi[i] = Math.Exp(phi[i] - used[i / length]) / Math.Sqrt(m);
        return phi;
    }

    [Theory]
    [InlineData(1, 1, 1, 4, 3, false)]
    [InlineData(2, 7, 3, 8, 20, false)]
    [InlineData(2, 7, 3, 8, 20, true)]
    [InlineData(3, 33, 2, 16, 40, true)]
    public void Forward_MatchesReference(int batch, int tokens, int heads, int d, int m, bool keys)
    {
        var x = Rng.Floats(batch * tokens * heads * d, 1, 1.5f);
        var w = RandomFeatures.Orthogonal(m, d, new Random(2));
        var phi = Arrays.Filled(batch * heads * tokens * m, 9f);
        RandomFeatures.Forward(phi, x, w, null, batch, tokens, heads, d, m, keys);
        Approx.Equal(Reference(Rng.ToDouble(x), w, batch, tokens, heads, d, m, keys, null, out _), phi, 1e-7, 2e-5, "phi");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Backward_MatchesFiniteDifferences_WithTheStabiliserHeld(bool keys)
    {
        const int batch = 2, tokens = 3, heads = 2, d = 4, m = 6;
        var xf = Rng.Floats(batch * tokens * heads * d, 3);
        var x = Rng.ToDouble(xf);
        var w = RandomFeatures.Orthogonal(m, d, new Random(4));
        var dphi = Rng.Floats(batch * heads * tokens * m, 5);
        var phi = Reference(x, w, batch, tokens, heads, d, m, keys, null, out var shifts);
        var expected = FiniteDifference.Gradient(() => Reference(x, w, batch, tokens, heads, d, m, keys, shifts, out _), x, Rng.ToDouble(dphi));
        var phiF = phi.Select(v => (float)v).ToArray();
        var dx = Arrays.Filled(x.Length, 0.25f);
        RandomFeatures.Backward(dx, dphi, phiF, xf, w, batch, tokens, heads, d, m);
        Approx.Equal(expected.Select(g => g + 0.25).ToArray(), dx, 1e-6, 1e-4, "dx");
    }

    [Fact]
    public void FeatureProducts_EstimateSoftmaxKernelRatios()
    {
        // φ(q)·φ(k₁) / φ(q)·φ(k₂) → exp(q·(k₁ − k₂)/√d): the stabilisers cancel, and 16 384 features make the estimate tight.
        const int d = 16, m = 16384;
        var q = Rng.Floats(d, 6, 0.8f);
        var keys = Rng.Floats(2 * d, 7, 0.8f);
        var w = RandomFeatures.Orthogonal(m, d, new Random(8));
        var phiQ = new float[m];
        var phiK = new float[2 * m];
        RandomFeatures.Forward(phiQ, q, w, null, 1, 1, 1, d, m, keys: false);
        RandomFeatures.Forward(phiK, keys, w, null, 1, 2, 1, d, m, keys: true);
        double Dot(int j) => Enumerable.Range(0, m).Sum(r => (double)phiQ[r] * phiK[j * m + r]);
        double exact = Math.Exp(Enumerable.Range(0, d).Sum(k => (double)q[k] * (keys[k] - keys[d + k])) / Math.Sqrt(d));
        Assert.InRange(Dot(0) / Dot(1) / exact, 0.97, 1.03);
    }

    [Fact]
    public void Orthogonal_RowsOfABlockAreOrthogonal_WithGaussianNorms_AndTheSeedDecides()
    {
        const int d = 8, m = 20;   // two full blocks and a block of 4 rows
        var w = RandomFeatures.Orthogonal(m, d, new Random(9));
        for (int start = 0; start < m; start += d)
            for (int r = start; r < Math.Min(start + d, m); r++)
                for (int s = start; s < r; s++)
                {
                    double dot = 0, nr = 0, ns = 0;
                    for (int k = 0; k < d; k++)
                    {
                        dot += w[r * d + k] * w[s * d + k];
                        nr += w[r * d + k] * w[r * d + k];
                        ns += w[s * d + k] * w[s * d + k];
                    }
                    Assert.True(Math.Abs(dot) < 1e-5 * Math.Sqrt(nr * ns), $"rows {r} and {s}: {dot}");
                }
        // Norms are chi-distributed with d degrees of freedom: mean square d.
        var big = RandomFeatures.Orthogonal(4000, d, new Random(10));
        double meanSquare = Enumerable.Range(0, 4000).Average(r => Enumerable.Range(0, d).Sum(k => (double)big[r * d + k] * big[r * d + k]));
        Assert.InRange(meanSquare, d * 0.95, d * 1.05);
        Assert.Equal(w, RandomFeatures.Orthogonal(m, d, new Random(9)));
        Assert.NotEqual(w, RandomFeatures.Orthogonal(m, d, new Random(11)));
    }

    [Fact]
    public void Redraw_RefillsOnlyTheProjections_AndMarksThemChanged()
    {
        var projection = new Parameter("attn." + RandomFeatures.ProjectionName, new[] { 6, 4 }, decay: false, trainable: false);
        var weight = new Parameter("attn.q_proj.weight", new[] { 4, 4 }, decay: true);
        var set = new ParameterSet(new[] { projection, weight });
        Assert.Equal(1, RandomFeatures.Redraw(set, 3));
        var first = (float[])projection.Value.Clone();
        int version = projection.Version;
        Assert.Equal(1, RandomFeatures.Redraw(set, 4));
        Assert.NotEqual(first, projection.Value);
        Assert.True(projection.Version > version);
        Assert.All(weight.Value, v => Assert.Equal(0f, v));
        RandomFeatures.Redraw(set, 3);
        Assert.Equal(first, projection.Value);
        Assert.Contains("(features, head width)", Assert.Throws<ArgumentException>(() =>
            RandomFeatures.Draw(new Parameter("p", new[] { 24 }, decay: false), new Random(1))).Message);
    }

    const int KB = 2, KN = 11, KH = 3, KD = 10, KM = 37;

    static void Logits(Index1D i, ArrayView<float> phi, ArrayView<float> x, ArrayView<float> w) => RandomFeatures.LogitsKernel(i, phi, x, w, KB, KN, KH, KD, KM);

    static void Back(Index1D i, ArrayView<float> dx, ArrayView<float> dphi, ArrayView<float> phi, ArrayView<float> x, ArrayView<float> w) =>
        RandomFeatures.BackwardKernel(i, dx, dphi, phi, x, w, KB, KN, KH, KD, KM);

    static void Keys(ArrayView<float> phi, ArrayView<float> padding) => RandomFeatures.StabiliseKeysKernel(phi, padding, KB * KH, KH, KN, KM, false);
    static void PaddedKeys(ArrayView<float> phi, ArrayView<float> padding) => RandomFeatures.StabiliseKeysKernel(phi, padding, KB * KH, KH, KN, KM, true);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Kernels_MatchCpu(bool keys, bool padded)
    {
        int nx = KB * KN * KH * KD, nphi = KB * KH * KN * KM;
        var x = Rng.Floats(nx, 12, 1.5f);
        var w = RandomFeatures.Orthogonal(KM, KD, new Random(13));
        var dphi = Rng.Floats(nphi, 14);
        var phi = new float[nphi];
        var dx = Arrays.Filled(nx, 0.5f);
        // Padded: the last two keys of the first sample, and every key of the second (its features all 0).
        var padding = new float[KB * KN];
        for (int n = KN - 2; n < KN; n++) padding[n] = 1f;
        for (int n = 0; n < KN; n++) padding[KN + n] = 1f;
        RandomFeatures.Forward(phi, x, w, padded ? padding : null, KB, KN, KH, KD, KM, keys);
        RandomFeatures.Backward(dx, dphi, phi, x, w, KB, KN, KH, KD, KM);
        if (padded)
        {
            Assert.All(phi.Skip(KH * KN * KM), v => Assert.Equal(0f, v));
            Assert.Contains(phi.Take(KN * KM), v => v > 0f);
        }
        using var h = new KernelHarness();
        using var gx = h.Upload(x);
        using var gw = h.Upload(w);
        using var gphi = h.Zeros(nphi);
        using var gdphi = h.Upload(dphi);
        using var gdx = h.Filled(nx, 0.5f);
        using var gpad = h.Upload(padding);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Logits)(nphi + 7, gphi.View, gx.View, gw.View);
        if (keys)
            h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>>(padded ? PaddedKeys : Keys)(RandomFeatures.StabiliseKeysKernelConfig(KB * KH), gphi.View,
                gpad.View);
        else
            h.Accelerator.LoadStreamKernel<ArrayView<float>, int, int, int>(RandomFeatures.StabiliseKernel)(RandomFeatures.StabiliseKernelConfig(KB * KH * KN), gphi.View,
                KB * KH * KN, KM, KM);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Back)(
            nx + 7, gdx.View, gdphi.View, gphi.View, gx.View, gw.View);
        h.Accelerator.Synchronize();
        Approx.Equal(phi, KernelHarness.Download(gphi), 1e-7, 2e-5, "kernel phi");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-6, 1e-4, "kernel dx");
    }
}
