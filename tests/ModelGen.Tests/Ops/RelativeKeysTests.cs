using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>Shaw's relative keys as a score bias: a double-precision reference written from the paper's e_ij = q_i·a_(clip(j − i)),
/// finite differences for the queries and the table, and the kernels on the simulator against the CPU.</summary>
public class RelativeKeysTests
{
    static double[] Reference(double[] q, double[] table, int batch, int n, int heads, int d, int k, double scale)
    {
        var y = new double[batch * heads * n * n];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                    {
                        int t = Math.Clamp(j - i, -k, k) + k;
                        double dot = 0;
                        for (int e = 0; e < d; e++) dot += q[((b * n + i) * heads + h) * d + e] * table[t * d + e];
                        y[((b * heads + h) * n + i) * n + j] = scale * dot;
                    }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1, 2, 1)]
    [InlineData(2, 9, 3, 4, 2)]
    [InlineData(2, 17, 2, 8, 20)]   // a clip beyond the sequence: every distance its own vector
    public void Forward_MatchesReference(int batch, int n, int heads, int d, int k)
    {
        int buckets = 2 * k + 1;
        var q = Rng.Floats(batch * n * heads * d, 1);
        var table = Rng.Floats(buckets * d, 2);
        var y = Arrays.Filled(batch * heads * n * n, 9f);
        RelativeKeys.Forward(y, q, table, RelativeBias.ClippedIndex(n, n, k), batch, n, heads, d, buckets, 0.5f);
        Approx.Equal(Reference(Rng.ToDouble(q), Rng.ToDouble(table), batch, n, heads, d, k, 0.5), y, 1e-6, 1e-5, "y");
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_AndAccumulates()
    {
        const int batch = 2, n = 6, heads = 2, d = 3, k = 2, buckets = 2 * k + 1;
        var qf = Rng.Floats(batch * n * heads * d, 3);
        var tf = Rng.Floats(buckets * d, 4);
        var dy = Rng.Floats(batch * heads * n * n, 5);
        var dq = Arrays.Filled(qf.Length, 0.25f);
        var dt = Arrays.Filled(tf.Length, 0.25f);
        RelativeKeys.Backward(dq, dt, dy, qf, tf, RelativeBias.ClippedIndex(n, n, k), batch, n, heads, d, buckets, 0.7f);
        double[] q = Rng.ToDouble(qf), t = Rng.ToDouble(tf), r = Rng.ToDouble(dy);
        Func<double[]> f = () => Reference(q, t, batch, n, heads, d, k, 0.7);
        Approx.Equal(FiniteDifference.Gradient(f, q, r).Select(g => g + 0.25).ToArray(), dq, 1e-6, 1e-4, "dq");
        Approx.Equal(FiniteDifference.Gradient(f, t, r).Select(g => g + 0.25).ToArray(), dt, 1e-6, 1e-4, "dtable");
    }

    const int KB = 2, KN = 11, KH = 3, KD = 6, KK = 3, KT = 2 * KK + 1;
    const float KScale = 0.4f;

    static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> q, ArrayView<float> t, ArrayView<float> index) =>
        RelativeKeys.ForwardKernel(i, y, q, t, index, KB, KN, KH, KD, KT, KScale);
    static void Query(Index1D i, ArrayView<float> dq, ArrayView<float> dy, ArrayView<float> t, ArrayView<float> index) =>
        RelativeKeys.BackwardQueryKernel(i, dq, dy, t, index, KB, KN, KH, KD, KT, KScale);
    static void Table(Index1D i, ArrayView<float> dt, ArrayView<float> dy, ArrayView<float> q, ArrayView<float> positions) =>
        RelativeKeys.BackwardTableKernel(i, dt, dy, q, positions, KB, KN, KH, KD, KT, KScale);

    [Fact]
    public void Kernels_MatchCpu()
    {
        var index = RelativeBias.ClippedIndex(KN, KN, KK);
        var positions = RelativeBias.Positions(index, KT);
        var q = Rng.Floats(KB * KN * KH * KD, 6);
        var table = Rng.Floats(KT * KD, 7);
        var dy = Rng.Floats(KB * KH * KN * KN, 8);
        var y = new float[dy.Length];
        var dq = Arrays.Filled(q.Length, 0.5f);
        var dt = Arrays.Filled(table.Length, 0.5f);
        RelativeKeys.Forward(y, q, table, index, KB, KN, KH, KD, KT, KScale);
        RelativeKeys.Backward(dq, dt, dy, q, table, index, KB, KN, KH, KD, KT, KScale);
        using var h = new KernelHarness();
        using var gq = h.Upload(q);
        using var gt = h.Upload(table);
        using var gi = h.Upload(index);
        using var gp = h.Upload(positions);
        using var gdy = h.Upload(dy);
        using var gy = h.Zeros(y.Length);
        using var gdq = h.Filled(q.Length, 0.5f);
        using var gdt = h.Filled(table.Length, 0.5f);
        var four = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Forward);
        four(y.Length + 3, gy.View, gq.View, gt.View, gi.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Query)(q.Length + 3, gdq.View, gdy.View, gt.View, gi.View);
        h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Table)(table.Length + 3, gdt.View, gdy.View, gq.View, gp.View);
        h.Accelerator.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-6, 1e-5, "kernel y");
        Approx.Equal(dq, KernelHarness.Download(gdq), 1e-6, 1e-4, "kernel dq");
        Approx.Equal(dt, KernelHarness.Download(gdt), 1e-6, 1e-4, "kernel dtable");
    }
}
