using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class BroadcastMultiplyTests
{
    /// <summary>x (B, C, H, W) and the gate's dims; each gate dim is x's or 1.</summary>
    public readonly record struct Shape(int B, int C, int H, int W, int GB, int GC, int GH, int GW)
    {
        public int N => B * C * H * W;
        public int GN => GB * GC * GH * GW;
        public override string ToString() => $"({B},{C},{H},{W})*({GB},{GC},{GH},{GW})";
    }

    static double[] Reference(double[] x, double[] g, Shape s)
    {
        var y = new double[s.N];
        for (int b = 0; b < s.B; b++)
            for (int c = 0; c < s.C; c++)
                for (int h = 0; h < s.H; h++)
                    for (int w = 0; w < s.W; w++)
                    {
                        // Broadcasting written out from its definition: a size-1 gate dim is read at index 0.
                        int gb = s.GB == 1 ? 0 : b, gc = s.GC == 1 ? 0 : c, gh = s.GH == 1 ? 0 : h, gw = s.GW == 1 ? 0 : w;
                        int xi = ((b * s.C + c) * s.H + h) * s.W + w;
                        y[xi] = x[xi] * g[((gb * s.GC + gc) * s.GH + gh) * s.GW + gw];
                    }
        return y;
    }

    static Shape Gate(int b, int c, int h, int w, string kind) => kind switch
    {
        "se" => new(b, c, h, w, b, c, 1, 1),
        "spatial" => new(b, c, h, w, b, 1, h, w),
        "coordH" => new(b, c, h, w, b, c, h, 1),
        "coordW" => new(b, c, h, w, b, c, 1, w),
        "channelScale" => new(b, c, h, w, 1, c, 1, 1),
        "equal" => new(b, c, h, w, b, c, h, w),
        "scalar" => new(b, c, h, w, 1, 1, 1, 1),
        "sharedMap" => new(b, c, h, w, 1, 1, h, w),
        _ => throw new ArgumentException(kind),
    };

    public static TheoryData<string, int, int, int, int> SmallCases()
    {
        var d = new TheoryData<string, int, int, int, int>();
        foreach (var kind in new[] { "se", "spatial", "coordH", "coordW", "channelScale", "equal", "scalar", "sharedMap" })
        {
            d.Add(kind, 2, 3, 4, 5);
            d.Add(kind, 1, 2, 3, 1);
            d.Add(kind, 3, 1, 1, 7);
        }
        return d;
    }

    public static TheoryData<string, int, int, int, int> LargeCases()
    {
        var d = new TheoryData<string, int, int, int, int>();
        foreach (var kind in new[] { "se", "spatial", "coordH", "coordW", "channelScale", "equal", "scalar", "sharedMap" })
        {
            d.Add(kind, 2, 64, 28, 28);
            d.Add(kind, 1, 33, 45, 37);
        }
        return d;
    }

    static double[] Shift(double[] a, double v)
    {
        var s = new double[a.Length];
        for (int i = 0; i < a.Length; i++) s[i] = a[i] + v;
        return s;
    }

    [Theory]
    [MemberData(nameof(SmallCases))]
    [MemberData(nameof(LargeCases))]
    public void Forward_MatchesReference(string kind, int b, int c, int h, int w)
    {
        var s = Gate(b, c, h, w, kind);
        var x = Rng.Floats(s.N, 1);
        var g = Rng.Floats(s.GN, 2);
        var y = Rng.Floats(s.N, 3, 100f);
        BroadcastMultiply.Forward(y, x, g, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
        Approx.Equal(Reference(Rng.ToDouble(x), Rng.ToDouble(g), s), y, 0, 1e-7, $"y {s}");
    }

    [Theory]
    [MemberData(nameof(SmallCases))]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(string kind, int b, int c, int h, int w)
    {
        var s = Gate(b, c, h, w, kind);
        var x = Rng.Floats(s.N, 4);
        var g = Rng.Floats(s.GN, 5);
        var r = Rng.Floats(s.N, 6);
        double[] xd = Rng.ToDouble(x), gd = Rng.ToDouble(g), rd = Rng.ToDouble(r);
        var ex = FiniteDifference.Gradient(() => Reference(xd, gd, s), xd, rd);
        var eg = FiniteDifference.Gradient(() => Reference(xd, gd, s), gd, rd);
        var dx = Filled(s.N, 0.5f);
        var dg = Filled(s.GN, -1.5f);
        BroadcastMultiply.Backward(dx, dg, r, x, g, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
        Approx.Equal(Shift(ex, 0.5), dx, 1e-6, 1e-5, $"dx {s}");
        Approx.Equal(Shift(eg, -1.5), dg, 1e-5, 1e-5, $"dg {s}");
    }

    [Theory]
    [MemberData(nameof(LargeCases))]
    public void Backward_LargeParallel_MatchesAnalyticReference_AndIsRepeatable(string kind, int b, int c, int h, int w)
    {
        var s = Gate(b, c, h, w, kind);
        var x = Rng.Floats(s.N, 7);
        var g = Rng.Floats(s.GN, 8);
        var r = Rng.Floats(s.N, 9);
        var ex = new double[s.N];
        var eg = new double[s.GN];
        Array.Fill(ex, 1.0);
        Array.Fill(eg, 1.0);
        for (int i = 0; i < s.N; i++)
        {
            int ww = i % s.W, hh = i / s.W % s.H, cc = i / (s.W * s.H) % s.C, bb = i / (s.W * s.H * s.C);
            int gi = BroadcastMultiply.GateIndex(bb, cc, hh, ww, s.GB, s.GC, s.GH, s.GW);
            ex[i] += (double)r[i] * g[gi];
            eg[gi] += (double)r[i] * x[i];
        }
        var dx = Filled(s.N, 1f);
        var dg = Filled(s.GN, 1f);
        BroadcastMultiply.Backward(dx, dg, r, x, g, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
        Approx.Equal(ex, dx, 1e-6, 1e-5, $"dx {s}");
        // A gate element can sum up to B·C·H·W products in float.
        Approx.Equal(eg, dg, 1e-5 * Math.Sqrt((double)s.N / s.GN), 1e-4, $"dg {s}");

        var dg2 = Filled(s.GN, 1f);
        BroadcastMultiply.Backward(new float[s.N], dg2, r, x, g, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
        Assert.Equal(dg, dg2);
    }

    [Theory]
    [InlineData(2, 3, 4, 5, 2, 3, 4, 2)]
    [InlineData(2, 3, 4, 5, 3, 3, 4, 5)]
    [InlineData(2, 3, 4, 5, 2, 0, 4, 5)]
    public void RejectsGateThatDoesNotBroadcast(int b, int c, int h, int w, int gb, int gc, int gh, int gw)
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            BroadcastMultiply.Forward(new float[b * c * h * w], new float[b * c * h * w], new float[Math.Max(1, gb * gc * gh * gw)], b, c, h, w, gb, gc, gh, gw));
        Assert.Contains($"({gb}, {gc}, {gh}, {gw})", ex.Message);
    }

    static void ForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> g, int b, int c, int h, int w, int gb, int gc, int gh, int gw) =>
        BroadcastMultiply.ForwardKernel(i, y, x, g, b, c, h, w, gb, gc, gh, gw);

    static void InputK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> g, int b, int c, int h, int w, int gb, int gc, int gh, int gw) =>
        BroadcastMultiply.BackwardInputKernel(i, dx, dy, g, b, c, h, w, gb, gc, gh, gw);

    static void GateK(Index1D i, ArrayView<float> dg, ArrayView<float> dy, ArrayView<float> x, int b, int c, int h, int w, int gb, int gc, int gh, int gw) =>
        BroadcastMultiply.BackwardGateKernel(i, dg, dy, x, b, c, h, w, gb, gc, gh, gw);

    static void GateReduceK(ArrayView<float> dg, ArrayView<float> dy, ArrayView<float> x, int b, int c, int h, int w, int gb, int gc, int gh, int gw) =>
        BroadcastMultiply.BackwardGateReduceKernel(dg, dy, x, b, c, h, w, gb, gc, gh, gw);

    [Fact]
    public void Kernels_MatchCpu()
    {
        using var hn = new KernelHarness();
        var fwd = hn.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int, int>(ForwardK);
        var inp = hn.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int, int>(InputK);
        var gat = hn.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int, int>(GateK);
        var red = hn.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int, int>(GateReduceK);
        foreach (var kind in new[] { "se", "spatial", "coordH", "coordW", "channelScale", "equal", "scalar", "sharedMap" })
        {
            var s = Gate(2, 3, 5, 7, kind);
            var x = Rng.Floats(s.N, 10);
            var g = Rng.Floats(s.GN, 11);
            var r = Rng.Floats(s.N, 12);
            var y = new float[s.N];
            BroadcastMultiply.Forward(y, x, g, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
            var dx = Filled(s.N, 0.5f);
            var dg = Filled(s.GN, -0.5f);
            BroadcastMultiply.Backward(dx, dg, r, x, g, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);

            using var xb = hn.Upload(x);
            using var gb = hn.Upload(g);
            using var rb = hn.Upload(r);
            using var yb = hn.Upload(Rng.Floats(s.N, 13, 50f));
            using var dxb = hn.Upload(Filled(s.N, 0.5f));
            using var dgb = hn.Upload(Filled(s.GN, -0.5f));
            fwd(s.N, yb.View, xb.View, gb.View, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
            inp(s.N, dxb.View, rb.View, gb.View, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
            gat(s.GN, dgb.View, rb.View, xb.View, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
            // The warp-per-gate-value kernel (the generator's choice when a gate value gathers 32 products or more) on every layout.
            using var dgw = hn.Upload(Filled(s.GN, -0.5f));
            red(BroadcastMultiply.BackwardGateReduceKernelConfig(s.GB, s.GC, s.GH, s.GW), dgw.View, rb.View, xb.View, s.B, s.C, s.H, s.W, s.GB, s.GC, s.GH, s.GW);
            hn.Accelerator.Synchronize();
            Approx.Equal(dg, KernelHarness.Download(dgw), 1e-5, 1e-5, $"warp kernel dg {s}");
            Assert.Equal(y, KernelHarness.Download(yb));
            Approx.Equal(dx, KernelHarness.Download(dxb), 1e-6, 1e-6, $"kernel dx {s}");
            Approx.Equal(dg, KernelHarness.Download(dgb), 1e-5, 1e-5, $"kernel dg {s}");
        }
    }
}
