using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class BatchedMatMulTests
{
    /// <summary>op(a)[row, t] for a stored as (m × k), or (k × m) when transposed.</summary>
    static double A(double[] a, int item, int row, int t, int m, int k, bool transA) =>
        transA ? a[item * m * k + t * m + row] : a[item * m * k + row * k + t];

    /// <summary>op(b)[t, col] for b stored as (k × n), or (n × k) when transposed.</summary>
    static double B(double[] b, int item, int t, int col, int n, int k, bool transB) =>
        transB ? b[item * k * n + col * k + t] : b[item * k * n + t * n + col];

    static double[] Reference(double[] a, double[] b, int batch, int m, int n, int k, bool transA, bool transB)
    {
        var c = new double[batch * m * n];
        for (int item = 0; item < batch; item++)
            for (int row = 0; row < m; row++)
                for (int col = 0; col < n; col++)
                {
                    double s = 0;
                    for (int t = 0; t < k; t++) s += A(a, item, row, t, m, k, transA) * B(b, item, t, col, n, k, transB);
                    c[(item * m + row) * n + col] = s;
                }
        return c;
    }

    static double[] Shift(double[] a, double v)
    {
        var s = new double[a.Length];
        for (int i = 0; i < a.Length; i++) s[i] = a[i] + v;
        return s;
    }

    public static TheoryData<int, int, int, int, bool, bool> ForwardCases()
    {
        var d = new TheoryData<int, int, int, int, bool, bool>();
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            d.Add(1, 1, 1, 1, ta, tb);
            d.Add(3, 5, 7, 9, ta, tb);
            d.Add(16, 49, 49, 32, ta, tb);     // non-local block on a 7×7 map, small items: parallel over the batch
            d.Add(2, 197, 150, 64, ta, tb);    // Segmenter masks: patches · classesᵀ
            d.Add(2, 300, 257, 130, ta, tb);   // big items: Gemm splits each
        }
        return d;
    }

    public static TheoryData<int, int, int, int, bool, bool> GradientCases()
    {
        var d = new TheoryData<int, int, int, int, bool, bool>();
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            d.Add(1, 1, 1, 1, ta, tb);
            d.Add(2, 3, 4, 5, ta, tb);
            d.Add(3, 5, 2, 3, ta, tb);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void Forward_MatchesReference(int batch, int m, int n, int k, bool transA, bool transB)
    {
        var a = Rng.Floats(batch * m * k, 1);
        var b = Rng.Floats(batch * k * n, 2);
        var c = Rng.Floats(batch * m * n, 3, 100f); // stale contents must be overwritten
        BatchedMatMul.Forward(c, a, b, batch, m, n, k, transA, transB);
        Approx.Equal(Reference(Rng.ToDouble(a), Rng.ToDouble(b), batch, m, n, k, transA, transB), c, 1e-5 * Math.Sqrt(k), 1e-5, "c");
    }

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int m, int n, int k, bool transA, bool transB)
    {
        var a = Rng.Floats(batch * m * k, 4);
        var b = Rng.Floats(batch * k * n, 5);
        var r = Rng.Floats(batch * m * n, 6);
        double[] ad = Rng.ToDouble(a), bd = Rng.ToDouble(b), rd = Rng.ToDouble(r);
        Func<double[]> f = () => Reference(ad, bd, batch, m, n, k, transA, transB);
        var ea = FiniteDifference.Gradient(f, ad, rd);
        var eb = FiniteDifference.Gradient(f, bd, rd);
        var da = Filled(a.Length, 0.5f);
        var db = Filled(b.Length, -0.25f);
        BatchedMatMul.Backward(da, db, r, a, b, batch, m, n, k, transA, transB);
        Approx.Equal(Shift(ea, 0.5), da, 1e-5, 1e-5, "da");
        Approx.Equal(Shift(eb, -0.25), db, 1e-5, 1e-5, "db");
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void Backward_MatchesAnalyticReference(int batch, int m, int n, int k, bool transA, bool transB)
    {
        var a = Rng.Floats(batch * m * k, 7);
        var b = Rng.Floats(batch * k * n, 8);
        var r = Rng.Floats(batch * m * n, 9);
        double[] ad = Rng.ToDouble(a), bd = Rng.ToDouble(b), rd = Rng.ToDouble(r);
        // d op(a)[row, t] = Σ_col dC[row, col]·op(b)[t, col]; d op(b)[t, col] = Σ_row op(a)[row, t]·dC[row, col].
        var ea = new double[a.Length];
        var eb = new double[b.Length];
        Array.Fill(ea, 1.0);
        Array.Fill(eb, 1.0);
        for (int item = 0; item < batch; item++)
            for (int row = 0; row < m; row++)
                for (int col = 0; col < n; col++)
                {
                    double g = rd[(item * m + row) * n + col];
                    for (int t = 0; t < k; t++)
                    {
                        ea[transA ? item * m * k + t * m + row : item * m * k + row * k + t] += g * B(bd, item, t, col, n, k, transB);
                        eb[transB ? item * k * n + col * k + t : item * k * n + t * n + col] += g * A(ad, item, row, t, m, k, transA);
                    }
                }
        var da = Filled(a.Length, 1f);
        var db = Filled(b.Length, 1f);
        BatchedMatMul.Backward(da, db, r, a, b, batch, m, n, k, transA, transB);
        Approx.Equal(ea, da, 1e-5 * Math.Sqrt(n), 1e-5, "da");
        Approx.Equal(eb, db, 1e-5 * Math.Sqrt(m), 1e-5, "db");
    }

    // ILGPU takes no bool kernel parameters; generated wrappers pass the flags as literals, these pass them as ints.
    static void ForwardK(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, int batch, int m, int n, int k, int transA, int transB) =>
        BatchedMatMul.ForwardKernel(c, a, b, batch, m, n, k, transA != 0, transB != 0, tensorCores: false);

    static void BackwardAK(ArrayView<float> da, ArrayView<float> dc, ArrayView<float> b, int batch, int m, int n, int k, int transA, int transB) =>
        BatchedMatMul.BackwardAKernel(da, dc, b, batch, m, n, k, transA != 0, transB != 0, tensorCores: false);

    static void BackwardBK(ArrayView<float> db, ArrayView<float> dc, ArrayView<float> a, int batch, int m, int n, int k, int transA, int transB) =>
        BatchedMatMul.BackwardBKernel(db, dc, a, batch, m, n, k, transA != 0, transB != 0, tensorCores: false);

    [Fact]
    public void Kernels_MatchCpu()
    {
        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(ForwardK);
        var bwdA = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(BackwardAK);
        var bwdB = h.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(BackwardBK);
        // Sizes below and across the 64×64×16 GEMM tiles (70 rows, 17 columns, 33 inner), every transposition.
        foreach (var (batch, m, n, k) in new[] { (3, 5, 7, 9), (2, 13, 4, 6), (1, 1, 3, 2), (2, 70, 17, 33) })
            foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                var a = Rng.Floats(batch * m * k, 10);
                var b = Rng.Floats(batch * k * n, 11);
                var r = Rng.Floats(batch * m * n, 12);
                var c = new float[batch * m * n];
                BatchedMatMul.Forward(c, a, b, batch, m, n, k, ta, tb);
                var da = Filled(a.Length, 0.5f);
                var db = Filled(b.Length, -0.5f);
                BatchedMatMul.Backward(da, db, r, a, b, batch, m, n, k, ta, tb);

                using var ab = h.Upload(a);
                using var bb = h.Upload(b);
                using var rb = h.Upload(r);
                using var cb = h.Upload(Rng.Floats(c.Length, 13, 50f));
                using var dab = h.Upload(Filled(a.Length, 0.5f));
                using var dbb = h.Upload(Filled(b.Length, -0.5f));
                int fa = ta ? 1 : 0, fb = tb ? 1 : 0;
                fwd(BatchedMatMul.ForwardKernelConfig(batch, m, n), cb.View, ab.View, bb.View, batch, m, n, k, fa, fb);
                bwdA(BatchedMatMul.BackwardAKernelConfig(batch, m, k, ta), dab.View, rb.View, bb.View, batch, m, n, k, fa, fb);
                bwdB(BatchedMatMul.BackwardBKernelConfig(batch, n, k, tb), dbb.View, rb.View, ab.View, batch, m, n, k, fa, fb);
                h.Accelerator.Synchronize();
                string what = $"{batch}x{m}x{n}x{k} tA={ta} tB={tb}";
                Approx.Equal(c, KernelHarness.Download(cb), 1e-5, 1e-5, "kernel c " + what);
                Approx.Equal(da, KernelHarness.Download(dab), 1e-5, 1e-5, "kernel da " + what);
                Approx.Equal(db, KernelHarness.Download(dbb), 1e-5, 1e-5, "kernel db " + what);
            }
    }
}
