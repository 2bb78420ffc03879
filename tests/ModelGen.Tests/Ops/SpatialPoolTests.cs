using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class SpatialPoolTests
{
    // The peer script's op names.
    const string GlobalAvg = "global_avg", GlobalMax = "global_max", ChannelMean = "channel_mean", ChannelMax = "channel_max",
        MeanOverWidth = "mean_over_width", MeanOverHeight = "mean_over_height";

    /// <summary>Sizes as one kernel argument (plain ints, so ILGPU can pass it by value).</summary>
    public readonly record struct Shape(int B, int C, int H, int W)
    {
        public int Size => B * C * H * W;
    }

    static int[] OutputShape(string op, Shape s) => op switch
    {
        GlobalAvg or GlobalMax => [s.B, s.C, 1, 1],
        ChannelMean or ChannelMax => [s.B, 1, s.H, s.W],
        MeanOverWidth => [s.B, s.C, s.H, 1],
        MeanOverHeight => [s.B, s.C, 1, s.W],
        _ => throw new ArgumentException(op),
    };

    static int OutputSize(string op, Shape s)
    {
        var shape = OutputShape(op, s);
        return shape[0] * shape[1] * shape[2] * shape[3];
    }

    /// <summary>Every op as a reduction of x[b, c, h, w] into y[index(b, c, h, w)]: a mean over the values sharing an index, or their max.</summary>
    static double[] Reference(string op, double[] x, Shape s)
    {
        int n = OutputSize(op, s);
        var y = new double[n];
        var count = new int[n];
        bool max = op is GlobalMax or ChannelMax;
        if (max) Array.Fill(y, double.NegativeInfinity);
        for (int b = 0; b < s.B; b++)
            for (int c = 0; c < s.C; c++)
                for (int h = 0; h < s.H; h++)
                    for (int w = 0; w < s.W; w++)
                    {
                        int o = op switch
                        {
                            GlobalAvg or GlobalMax => b * s.C + c,
                            ChannelMean or ChannelMax => (b * s.H + h) * s.W + w,
                            MeanOverWidth => (b * s.C + c) * s.H + h,
                            _ => (b * s.C + c) * s.W + w,
                        };
                        double v = x[((b * s.C + c) * s.H + h) * s.W + w];
                        y[o] = max ? Math.Max(y[o], v) : y[o] + v;
                        count[o]++;
                    }
        if (!max) for (int o = 0; o < n; o++) y[o] /= count[o];
        return y;
    }

    static void Forward(string op, float[] y, float[] x, Shape s)
    {
        switch (op)
        {
            case GlobalAvg: SpatialPool.GlobalAvgForward(y, x, s.B, s.C, s.H, s.W); break;
            case GlobalMax: SpatialPool.GlobalMaxForward(y, x, s.B, s.C, s.H, s.W); break;
            case ChannelMean: SpatialPool.ChannelMeanForward(y, x, s.B, s.C, s.H, s.W); break;
            case ChannelMax: SpatialPool.ChannelMaxForward(y, x, s.B, s.C, s.H, s.W); break;
            case MeanOverWidth: SpatialPool.MeanOverWidthForward(y, x, s.B, s.C, s.H, s.W); break;
            default: SpatialPool.MeanOverHeightForward(y, x, s.B, s.C, s.H, s.W); break;
        }
    }

    static void Backward(string op, float[] dx, float[] dy, float[] x, Shape s)
    {
        switch (op)
        {
            case GlobalAvg: SpatialPool.GlobalAvgBackward(dx, dy, s.B, s.C, s.H, s.W); break;
            case GlobalMax: SpatialPool.GlobalMaxBackward(dx, dy, x, s.B, s.C, s.H, s.W); break;
            case ChannelMean: SpatialPool.ChannelMeanBackward(dx, dy, s.B, s.C, s.H, s.W); break;
            case ChannelMax: SpatialPool.ChannelMaxBackward(dx, dy, x, s.B, s.C, s.H, s.W); break;
            case MeanOverWidth: SpatialPool.MeanOverWidthBackward(dx, dy, s.B, s.C, s.H, s.W); break;
            default: SpatialPool.MeanOverHeightBackward(dx, dy, s.B, s.C, s.H, s.W); break;
        }
    }

    public static TheoryData<string, int, int, int, int> Shapes()
    {
        var data = new TheoryData<string, int, int, int, int>();
        foreach (var op in new[] { GlobalAvg, GlobalMax, ChannelMean, ChannelMax, MeanOverWidth, MeanOverHeight })
        {
            data.Add(op, 1, 1, 1, 1);
            data.Add(op, 2, 3, 5, 7);
            data.Add(op, 3, 5, 1, 9);
            data.Add(op, 2, 7, 6, 1);
            data.Add(op, 8, 64, 33, 31); // big enough to run in parallel
        }
        return data;
    }

    public static TheoryData<string, int, int, int, int> SmallShapes()
    {
        var data = new TheoryData<string, int, int, int, int>();
        foreach (var op in new[] { GlobalAvg, GlobalMax, ChannelMean, ChannelMax, MeanOverWidth, MeanOverHeight })
        {
            data.Add(op, 2, 3, 4, 5);
            data.Add(op, 1, 4, 3, 1);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_MatchesReference(string op, int b, int c, int h, int w)
    {
        var s = new Shape(b, c, h, w);
        var x = Rng.Floats(s.Size, 1);
        var y = Rng.Floats(OutputSize(op, s), 2, 100f);
        Forward(op, y, x, s);
        Approx.Equal(Reference(op, Rng.ToDouble(x), s), y, 1e-6, 1e-5, op + " y");
    }

    [Theory]
    [MemberData(nameof(SmallShapes))]
    public void Backward_MatchesFiniteDifferences_AndAccumulates(string op, int b, int c, int h, int w)
    {
        var s = new Shape(b, c, h, w);
        var x = Rng.Floats(s.Size, 3);
        var dy = Rng.Floats(OutputSize(op, s), 4);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => Reference(op, xd, s), xd, Rng.ToDouble(dy));
        var dx = Filled(s.Size, 0.5f);
        Backward(op, dx, dy, x, s);
        Approx.Equal(Array.ConvertAll(expected, e => e + 0.5), dx, 1e-6, 1e-5, op + " dx");
    }

    [Fact]
    public void Max_GivesATieToTheFirstMaximum()
    {
        // x (1, 2, 2, 2): channel 0 = [3, 1; 3, 2], channel 1 = [3, 1; 0, 2].
        float[] x = { 3, 1, 3, 2, 3, 1, 0, 2 };
        var dxGlobal = new float[8];
        SpatialPool.GlobalMaxBackward(dxGlobal, new[] { 10f, 20f }, x, 1, 2, 2, 2);
        Assert.Equal(new float[] { 10, 0, 0, 0, 20, 0, 0, 0 }, dxGlobal);
        var dxChannel = new float[8];
        SpatialPool.ChannelMaxBackward(dxChannel, new[] { 1f, 2f, 3f, 4f }, x, 1, 2, 2, 2);
        Assert.Equal(new float[] { 1, 2, 3, 4, 0, 0, 0, 0 }, dxChannel);
    }

    [Theory]
    [InlineData(GlobalMax)]
    [InlineData(ChannelMax)]
    [InlineData(GlobalAvg)]
    [InlineData(ChannelMean)]
    [InlineData(MeanOverWidth)]
    [InlineData(MeanOverHeight)]
    public void Backward_Large_MatchesDirectRouting(string op)
    {
        var s = new Shape(8, 64, 33, 31);
        var x = Rng.Floats(s.Size, 5);
        var dy = Rng.Floats(OutputSize(op, s), 6);
        // The gradient of a reduction, in double: dy/n to every value of a mean, dy to the first maximum of a max.
        var expected = new double[s.Size];
        var y = Reference(op, Rng.ToDouble(x), s);
        var taken = new bool[y.Length];
        bool max = op is GlobalMax or ChannelMax;
        int perOutput = s.Size / y.Length;
        for (int b = 0; b < s.B; b++)
            for (int c = 0; c < s.C; c++)
                for (int h = 0; h < s.H; h++)
                    for (int w = 0; w < s.W; w++)
                    {
                        int o = op switch
                        {
                            GlobalAvg or GlobalMax => b * s.C + c,
                            ChannelMean or ChannelMax => (b * s.H + h) * s.W + w,
                            MeanOverWidth => (b * s.C + c) * s.H + h,
                            _ => (b * s.C + c) * s.W + w,
                        };
                        int i = ((b * s.C + c) * s.H + h) * s.W + w;
                        if (!max) expected[i] = (double)dy[o] / perOutput;
                        else if (!taken[o] && x[i] == y[o]) { expected[i] = dy[o]; taken[o] = true; }
                    }
        var dx = Filled(s.Size, 0.25f);
        Backward(op, dx, dy, x, s);
        Approx.Equal(Array.ConvertAll(expected, e => e + 0.25), dx, 1e-6, 1e-6, op + " dx");
    }

    // The global reductions run a warp per plane (launched in groups); the others a thread per output.
    static void GlobalAvgF(ArrayView<float> y, ArrayView<float> x, Shape s) => SpatialPool.GlobalAvgForwardKernel(y, x, s.B, s.C, s.H, s.W);
    static void GlobalMaxF(ArrayView<float> y, ArrayView<float> x, Shape s) => SpatialPool.GlobalMaxForwardKernel(y, x, s.B, s.C, s.H, s.W);
    static void ChannelMeanF(Index1D i, ArrayView<float> y, ArrayView<float> x, Shape s) => SpatialPool.ChannelMeanForwardKernel(i, y, x, s.B, s.C, s.H, s.W);
    static void ChannelMaxF(Index1D i, ArrayView<float> y, ArrayView<float> x, Shape s) => SpatialPool.ChannelMaxForwardKernel(i, y, x, s.B, s.C, s.H, s.W);
    static void MeanOverWidthF(Index1D i, ArrayView<float> y, ArrayView<float> x, Shape s) => SpatialPool.MeanOverWidthForwardKernel(i, y, x, s.B, s.C, s.H, s.W);
    static void MeanOverHeightF(Index1D i, ArrayView<float> y, ArrayView<float> x, Shape s) => SpatialPool.MeanOverHeightForwardKernel(i, y, x, s.B, s.C, s.H, s.W);

    // Backward wrappers share one signature; the means ignore x.
    static void GlobalAvgB(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, Shape s) => SpatialPool.GlobalAvgBackwardKernel(i, dx, dy, s.B, s.C, s.H, s.W);
    static void GlobalMaxB(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, Shape s) => SpatialPool.GlobalMaxBackwardKernel(dx, dy, x, s.B, s.C, s.H, s.W);
    static void ChannelMeanB(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, Shape s) => SpatialPool.ChannelMeanBackwardKernel(i, dx, dy, s.B, s.C, s.H, s.W);
    static void ChannelMaxB(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, Shape s) => SpatialPool.ChannelMaxBackwardKernel(i, dx, dy, x, s.B, s.C, s.H, s.W);
    static void MeanOverWidthB(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, Shape s) => SpatialPool.MeanOverWidthBackwardKernel(i, dx, dy, s.B, s.C, s.H, s.W);
    static void MeanOverHeightB(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, Shape s) => SpatialPool.MeanOverHeightBackwardKernel(i, dx, dy, s.B, s.C, s.H, s.W);

    [Theory]
    [InlineData(GlobalAvg)]
    [InlineData(GlobalMax)]
    [InlineData(ChannelMean)]
    [InlineData(ChannelMax)]
    [InlineData(MeanOverWidth)]
    [InlineData(MeanOverHeight)]
    public void Kernels_MatchCpu(string op)
    {
        var s = new Shape(2, 5, 6, 7);
        var x = Rng.Floats(s.Size, 7);
        for (int i = 0; i < x.Length; i += 4) x[i] = 0.5f; // ties: the kernels must take the same maximum as the CPU
        int n = OutputSize(op, s);
        var dy = Rng.Floats(n, 8);
        var y = new float[n];
        Forward(op, y, x, s);
        var dx = Filled(s.Size, 0.5f);
        Backward(op, dx, dy, x, s);

        Action<Index1D, ArrayView<float>, ArrayView<float>, Shape>? forward = op switch
        {
            ChannelMean => ChannelMeanF, ChannelMax => ChannelMaxF, MeanOverWidth => MeanOverWidthF, MeanOverHeight => MeanOverHeightF, _ => null,
        };
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>? backward = op switch
        {
            GlobalAvg => GlobalAvgB, ChannelMean => ChannelMeanB, ChannelMax => ChannelMaxB, MeanOverWidth => MeanOverWidthB,
            MeanOverHeight => MeanOverHeightB, _ => null,
        };
        // The extents the doc comments give: outputs for the forwards; inputs for the mean backwards, outputs for the max ones.
        int backwardExtent = op is GlobalMax or ChannelMax ? n : s.Size;

        using var hr = new KernelHarness();
        var acc = hr.Accelerator;
        using var gx = hr.Upload(x);
        using var gdy = hr.Upload(dy);
        using var gy = hr.Zeros(n);
        using var gdx = hr.Upload(Filled(s.Size, 0.5f));
        var planes = SpatialPool.GlobalAvgForwardKernelConfig(s.B, s.C);
        if (forward != null) acc.LoadAutoGroupedStreamKernel(forward)(n + 3, gy.View, gx.View, s);
        else acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, Shape>(op == GlobalAvg ? GlobalAvgF : GlobalMaxF)(planes, gy.View, gx.View, s);
        if (backward != null) acc.LoadAutoGroupedStreamKernel(backward)(backwardExtent + 3, gdx.View, gdy.View, gx.View, s);
        else acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(GlobalMaxB)(planes, gdx.View, gdy.View, gx.View, s);
        acc.Synchronize();
        Approx.Equal(y, KernelHarness.Download(gy), 1e-6, 1e-5, op + " kernel y");
        Approx.Equal(dx, KernelHarness.Download(gdx), 1e-6, 1e-5, op + " kernel dx");
    }

    [SkippableTheory]
    [InlineData(GlobalAvg)]
    [InlineData(GlobalMax)]
    [InlineData(ChannelMean)]
    [InlineData(ChannelMax)]
    [InlineData(MeanOverWidth)]
    [InlineData(MeanOverHeight)]
    public void AgreesWithPyTorch(string op)
    {
        Torch.RequireOrSkip();
        var s = new Shape(2, 6, 5, 7);
        var x = Rng.Floats(s.Size, 10);
        int n = OutputSize(op, s);
        var dy = Rng.Floats(n, 11);
        var y = new float[n];
        Forward(op, y, x, s);
        var dx = new float[s.Size];
        Backward(op, dx, dy, x, s);
        var torch = TorchOps.Run(new { op }, new SafeTensor("x", [s.B, s.C, s.H, s.W], x), new SafeTensor("grad_output", OutputShape(op, s), dy));
        TorchOps.Close(torch, "output", y);
        TorchOps.Close(torch, "grad.x", dx);
    }
}
