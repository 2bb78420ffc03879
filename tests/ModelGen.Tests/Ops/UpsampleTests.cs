using System;
using System.Collections.Generic;
using System.IO;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;
using static ModelGen.Tests.Support.Arrays;

namespace ModelGen.Tests.Ops;

public class UpsampleTests
{
    // ---------------- double-precision references ----------------

    static double[] NearestReference(double[] x, int batch, int channels, int height, int width, int scale)
    {
        int oh = height * scale, ow = width * scale;
        var y = new double[batch * channels * oh * ow];
        for (int p = 0; p < batch * channels; p++)
            for (int h = 0; h < oh; h++)
                for (int w = 0; w < ow; w++)
                    y[(p * oh + h) * ow + w] = x[(p * height + h / scale) * width + w / scale];
        return y;
    }

    /// <summary>PyTorch's align_corners=False rule, written out in double from its definition.</summary>
    static (int I0, int I1, double L1) Source(int dst, int inSize, int outSize)
    {
        double src = Math.Max((dst + 0.5) * inSize / outSize - 0.5, 0);
        int i0 = Math.Min((int)Math.Floor(src), inSize - 1);
        int i1 = Math.Min(i0 + 1, inSize - 1);
        return (i0, i1, src - i0);
    }

    static double[] BilinearReference(double[] x, int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        var y = new double[batch * channels * outHeight * outWidth];
        for (int p = 0; p < batch * channels; p++)
            for (int oh = 0; oh < outHeight; oh++)
            {
                var (h0, h1, lh) = Source(oh, height, outHeight);
                for (int ow = 0; ow < outWidth; ow++)
                {
                    var (w0, w1, lw) = Source(ow, width, outWidth);
                    double X(int h, int w) => x[(p * height + h) * width + w];
                    y[(p * outHeight + oh) * outWidth + ow] =
                        (1 - lh) * ((1 - lw) * X(h0, w0) + lw * X(h0, w1)) + lh * ((1 - lw) * X(h1, w0) + lw * X(h1, w1));
                }
            }
        return y;
    }

    /// <summary>The transpose of <see cref="BilinearReference"/> (scatter form), for sizes too big for finite differences.</summary>
    static double[] BilinearBackwardReference(double[] dy, int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        var dx = new double[batch * channels * height * width];
        for (int p = 0; p < batch * channels; p++)
            for (int oh = 0; oh < outHeight; oh++)
            {
                var (h0, h1, lh) = Source(oh, height, outHeight);
                for (int ow = 0; ow < outWidth; ow++)
                {
                    var (w0, w1, lw) = Source(ow, width, outWidth);
                    double g = dy[(p * outHeight + oh) * outWidth + ow];
                    dx[(p * height + h0) * width + w0] += (1 - lh) * (1 - lw) * g;
                    dx[(p * height + h0) * width + w1] += (1 - lh) * lw * g;
                    dx[(p * height + h1) * width + w0] += lh * (1 - lw) * g;
                    dx[(p * height + h1) * width + w1] += lh * lw * g;
                }
            }
        return dx;
    }

    static double[] Shift(double[] a, double v)
    {
        var s = new double[a.Length];
        for (int i = 0; i < a.Length; i++) s[i] = a[i] + v;
        return s;
    }

    // ---------------- nearest ----------------

    [Theory]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(1, 1, 1, 1, 3)]
    [InlineData(2, 3, 5, 7, 2)]
    [InlineData(1, 2, 3, 4, 3)]
    [InlineData(4, 16, 32, 32, 2)]
    public void Nearest_Forward_MatchesReference(int batch, int channels, int height, int width, int scale)
    {
        var x = Rng.Floats(batch * channels * height * width, 1);
        var y = Rng.Floats(batch * channels * height * width * scale * scale, 2, 100f); // stale contents must be overwritten
        Upsample.NearestForward(y, x, batch, channels, height, width, scale);
        Approx.Equal(NearestReference(Rng.ToDouble(x), batch, channels, height, width, scale), y, 0, 0, "nearest y");
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 3)]
    [InlineData(2, 3, 5, 7, 2)]
    [InlineData(1, 2, 3, 4, 3)]
    [InlineData(1, 1, 2, 3, 1)]
    public void Nearest_Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int channels, int height, int width, int scale)
    {
        int n = batch * channels * height * width;
        var x = Rng.Floats(n, 3);
        var r = Rng.Floats(n * scale * scale, 4);
        var xd = Rng.ToDouble(x);
        var expected = FiniteDifference.Gradient(() => NearestReference(xd, batch, channels, height, width, scale), xd, Rng.ToDouble(r));
        var dx = Filled(n, 0.75f);
        Upsample.NearestBackward(dx, r, batch, channels, height, width, scale);
        Approx.Equal(Shift(expected, 0.75), dx, 1e-6, 1e-6, "nearest dx");
    }

    [Fact]
    public void Nearest_Backward_LargeParallel()
    {
        const int batch = 4, channels = 16, height = 24, width = 20, scale = 2;
        var r = Rng.Floats(batch * channels * height * width * scale * scale, 5);
        var dx = Filled(batch * channels * height * width, -1f);
        Upsample.NearestBackward(dx, r, batch, channels, height, width, scale);
        var expected = new double[dx.Length];
        int ow = width * scale;
        for (int i = 0; i < r.Length; i++)
        {
            int w = i % ow, h = i / ow % (height * scale), p = i / ow / (height * scale);
            expected[(p * height + h / scale) * width + w / scale] += r[i];
        }
        Approx.Equal(Shift(expected, -1), dx, 1e-5, 1e-5, "nearest dx");
    }

    // ---------------- bilinear ----------------

    [Theory]
    [InlineData(1, 1, 1, 1, 1, 1)]
    [InlineData(1, 1, 1, 1, 3, 2)]
    [InlineData(2, 3, 5, 7, 11, 4)]
    [InlineData(1, 2, 4, 4, 8, 8)]
    [InlineData(2, 1, 7, 5, 3, 9)]
    [InlineData(1, 3, 16, 16, 37, 23)]
    [InlineData(1, 1, 9, 9, 9, 9)]
    [InlineData(2, 8, 14, 14, 224, 224)]
    [InlineData(1, 4, 64, 48, 17, 13)]
    public void Bilinear_Forward_MatchesReference(int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        var x = Rng.Floats(batch * channels * height * width, 6);
        var y = Rng.Floats(batch * channels * outHeight * outWidth, 7, 100f);
        Upsample.BilinearForward(y, x, batch, channels, height, width, outHeight, outWidth);
        // The op computes source coordinates in float as PyTorch does (error ≈ coordinate·2⁻²⁴ in each weight); the reference in double.
        double atol = 1e-6 + 2e-7 * Math.Max(height, width);
        Approx.Equal(BilinearReference(Rng.ToDouble(x), batch, channels, height, width, outHeight, outWidth), y, atol, 1e-5, "bilinear y");
    }

    [Fact]
    public void Bilinear_SameSize_IsIdentity()
    {
        var x = Rng.Floats(2 * 3 * 5 * 7, 8);
        var y = new float[x.Length];
        Upsample.BilinearForward(y, x, 2, 3, 5, 7, 5, 7);
        Assert.Equal(x, y);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 3, 2)]
    [InlineData(1, 2, 5, 7, 11, 4)]
    [InlineData(2, 1, 7, 5, 3, 9)]
    [InlineData(1, 1, 4, 4, 8, 8)]
    [InlineData(1, 1, 9, 6, 2, 1)]
    public void Bilinear_Backward_MatchesFiniteDifferences_AndAccumulates(int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        int n = batch * channels * height * width;
        var x = Rng.Floats(n, 9);
        var r = Rng.Floats(batch * channels * outHeight * outWidth, 10);
        var xd = Rng.ToDouble(x);
        var rd = Rng.ToDouble(r);
        var expected = FiniteDifference.Gradient(() => BilinearReference(xd, batch, channels, height, width, outHeight, outWidth), xd, rd);
        Approx.Equal(expected, Array.ConvertAll(BilinearBackwardReference(rd, batch, channels, height, width, outHeight, outWidth), v => (float)v),
            1e-6, 1e-5, "scatter reference dx");
        var dx = Filled(n, 0.5f);
        Upsample.BilinearBackward(dx, r, batch, channels, height, width, outHeight, outWidth);
        Approx.Equal(Shift(expected, 0.5), dx, 1e-5, 1e-5, "bilinear dx");
    }

    [Theory]
    [InlineData(2, 8, 14, 14, 224, 224)]
    [InlineData(3, 16, 45, 37, 13, 11)]
    public void Bilinear_Backward_LargeParallel_MatchesReference(int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        var r = Rng.Floats(batch * channels * outHeight * outWidth, 11);
        var dx = Filled(batch * channels * height * width, 2f);
        Upsample.BilinearBackward(dx, r, batch, channels, height, width, outHeight, outWidth);
        var expected = BilinearBackwardReference(Rng.ToDouble(r), batch, channels, height, width, outHeight, outWidth);
        Approx.Equal(Shift(expected, 2), dx, 1e-4, 1e-5, "bilinear dx");
    }

    // ---------------- kernels on the ILGPU CPU accelerator ----------------

    static void NearestForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width, int scale) =>
        Upsample.NearestForwardKernel(i, y, x, batch, channels, height, width, scale);

    static void NearestBackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width, int scale) =>
        Upsample.NearestBackwardKernel(i, dx, dy, batch, channels, height, width, scale);

    static void BilinearForwardK(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width, int outHeight, int outWidth) =>
        Upsample.BilinearForwardKernel(i, y, x, batch, channels, height, width, outHeight, outWidth);

    static void BilinearBackwardK(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width, int outHeight, int outWidth) =>
        Upsample.BilinearBackwardKernel(i, dx, dy, batch, channels, height, width, outHeight, outWidth);

    [Fact]
    public void Nearest_Kernels_MatchCpu()
    {
        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(NearestForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(NearestBackwardK);
        foreach (var (b, c, hh, w, s) in new[] { (2, 3, 5, 7, 2), (1, 2, 3, 1, 3), (1, 1, 4, 4, 1) })
        {
            int n = b * c * hh * w, m = n * s * s;
            var x = Rng.Floats(n, 12);
            var r = Rng.Floats(m, 13);
            var y = new float[m];
            Upsample.NearestForward(y, x, b, c, hh, w, s);
            var dx = Filled(n, 0.5f);
            Upsample.NearestBackward(dx, r, b, c, hh, w, s);

            using var xb = h.Upload(x);
            using var rb = h.Upload(r);
            using var yb = h.Upload(Rng.Floats(m, 14, 50f));
            using var dxb = h.Upload(Filled(n, 0.5f));
            fwd(m, yb.View, xb.View, b, c, hh, w, s);
            bwd(n, dxb.View, rb.View, b, c, hh, w, s);
            h.Accelerator.Synchronize();
            Assert.Equal(y, KernelHarness.Download(yb));
            Approx.Equal(dx, KernelHarness.Download(dxb), 1e-6, 1e-6, $"nearest kernel dx {b}x{c}x{hh}x{w} s{s}");
        }
    }

    [Fact]
    public void Bilinear_Kernels_MatchCpu()
    {
        using var h = new KernelHarness();
        var fwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(BilinearForwardK);
        var bwd = h.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(BilinearBackwardK);
        // Up, down, mixed, identity, extreme ratios both ways (where the gather's run of readers is longest or shortest).
        var shapes = new[]
        {
            (2, 3, 5, 7, 11, 4), (1, 2, 4, 4, 8, 8), (1, 1, 7, 5, 3, 9), (1, 1, 9, 9, 9, 9), (1, 1, 1, 1, 7, 3),
            (1, 1, 2, 3, 29, 40), (1, 1, 40, 29, 2, 3), (1, 1, 31, 17, 4, 1), (2, 2, 14, 14, 56, 56), (1, 1, 13, 11, 5, 19),
            (1, 1, 3, 3, 1, 1), (1, 1, 100, 7, 3, 64),
        };
        foreach (var (b, c, hh, w, oh, ow) in shapes)
        {
            int n = b * c * hh * w, m = b * c * oh * ow;
            var x = Rng.Floats(n, 15);
            var r = Rng.Floats(m, 16);
            var y = new float[m];
            Upsample.BilinearForward(y, x, b, c, hh, w, oh, ow);
            var dx = Filled(n, 0.5f);
            Upsample.BilinearBackward(dx, r, b, c, hh, w, oh, ow);

            using var xb = h.Upload(x);
            using var rb = h.Upload(r);
            using var yb = h.Upload(Rng.Floats(m, 17, 50f));
            using var dxb = h.Upload(Filled(n, 0.5f));
            fwd(m, yb.View, xb.View, b, c, hh, w, oh, ow);
            bwd(n, dxb.View, rb.View, b, c, hh, w, oh, ow);
            h.Accelerator.Synchronize();
            string what = $"{b}x{c}x{hh}x{w} -> {oh}x{ow}";
            Approx.Equal(y, KernelHarness.Download(yb), 1e-6, 1e-6, "bilinear kernel y " + what);
            Approx.Equal(dx, KernelHarness.Download(dxb), 1e-5, 1e-5, "bilinear kernel dx " + what);
        }
    }

    // ---------------- PyTorch parity (Peers/upsample_reference.py) ----------------

    [SkippableTheory]
    [InlineData("bilinear", 2, 3, 5, 7, 11, 4)]
    [InlineData("bilinear", 1, 2, 7, 5, 3, 9)]
    [InlineData("bilinear", 1, 4, 14, 14, 224, 224)]
    [InlineData("bilinear", 2, 2, 37, 23, 16, 16)]
    [InlineData("bilinear", 1, 1, 3, 8, 10, 3)]
    [InlineData("bilinear", 1, 3, 13, 9, 20, 31)]
    [InlineData("bilinear", 1, 1, 1, 1, 5, 6)]
    [InlineData("nearest", 2, 3, 5, 7, 10, 14)]
    [InlineData("nearest", 1, 2, 3, 4, 9, 12)]
    public void AgreesWithPyTorch(string mode, int batch, int channels, int height, int width, int outHeight, int outWidth)
    {
        Torch.RequireOrSkip();
        var x = Rng.Floats(batch * channels * height * width, 18);
        var dy = Rng.Floats(batch * channels * outHeight * outWidth, 19);
        var y = new float[dy.Length];
        var dx = new float[x.Length];
        if (mode == "bilinear")
        {
            Upsample.BilinearForward(y, x, batch, channels, height, width, outHeight, outWidth);
            Upsample.BilinearBackward(dx, dy, batch, channels, height, width, outHeight, outWidth);
        }
        else
        {
            int scale = outHeight / height;
            Assert.Equal(outWidth, width * scale);
            Upsample.NearestForward(y, x, batch, channels, height, width, scale);
            Upsample.NearestBackward(dx, dy, batch, channels, height, width, scale);
        }

        using var temp = new TempDirectory("modelgen-torch-");
        string config = temp.File("config.json"), inputs = temp.File("inputs.safetensors"), outputs = temp.File("outputs.safetensors");
        File.WriteAllText(config, $$"""{"mode": "{{mode}}", "size": [{{outHeight}}, {{outWidth}}], "dtype": "float32"}""");
        SafeTensors.Save(inputs, new List<SafeTensor>
        {
            new("x", new[] { batch, channels, height, width }, x),
            new("grad_output", new[] { batch, channels, outHeight, outWidth }, dy),
        });
        string script = Path.Combine(AppContext.BaseDirectory, "Peers", "upsample_reference.py");
        var (code, output) = Torch.Run(new[] { script, config, inputs, outputs }, TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"upsample_reference.py exited with {code}:\n{output}");
        var reference = SafeTensors.Load(outputs);
        Assert.Equal(new[] { batch, channels, outHeight, outWidth }, reference["output"].Shape);
        Assert.Equal(new[] { batch, channels, height, width }, reference["grad.x"].Shape);
        Approx.Equal(reference["output"].Data, y, 1e-6, 1e-5, $"{mode} y vs PyTorch");
        Approx.Equal(reference["grad.x"].Data, dx, 1e-5, 1e-5, $"{mode} dx vs PyTorch");
    }
}
