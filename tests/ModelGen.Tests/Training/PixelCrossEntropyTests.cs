using System;
using System.Linq;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

public class PixelCrossEntropyTests
{
    /// <summary>
    /// PyTorch's definition in double, written pixel by pixel from the NCHW index formula: Σ w[t]·(−log softmax_k x[b,k,h,w])[t]
    /// over counted pixels, divided by Σ w[t]; dlogits = w[t]·(p − onehot)/Σ w[t].
    /// </summary>
    static double Reference(double[] x, int[] t, int B, int K, int H, int W, double[]? weights, int? ignore, double[]? grad = null)
    {
        double num = 0, den = 0;
        if (grad is not null) Array.Clear(grad);
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
        {
            int target = t[(b * H + h) * W + w];
            if (target == ignore) continue;
            double[] logits = Enumerable.Range(0, K).Select(k => x[((b * K + k) * H + h) * W + w]).ToArray();
            double max = logits.Max();
            double lse = max + Math.Log(logits.Sum(v => Math.Exp(v - max)));
            double wt = weights?[target] ?? 1.0;
            num += wt * (lse - logits[target]);
            den += wt;
        }
        if (grad is not null && den > 0)
        {
            for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
            {
                int target = t[(b * H + h) * W + w];
                if (target == ignore) continue;
                double[] logits = Enumerable.Range(0, K).Select(k => x[((b * K + k) * H + h) * W + w]).ToArray();
                double max = logits.Max();
                double z = logits.Sum(v => Math.Exp(v - max));
                double wt = weights?[target] ?? 1.0;
                for (int k = 0; k < K; k++)
                    grad[((b * K + k) * H + h) * W + w] = wt * (Math.Exp(logits[k] - max) / z - (k == target ? 1 : 0)) / den;
            }
        }
        return den > 0 ? num / den : 0;
    }

    static int[] Targets(int n, int classes, int seed, int? ignore = null)
    {
        var r = new Random(seed);
        var t = new int[n];
        for (int i = 0; i < n; i++) t[i] = ignore is int ig && r.Next(5) == 0 ? ig : r.Next(classes);
        return t;
    }

    [Theory]
    [InlineData(1, 1, 1, 1, false, false)]
    [InlineData(2, 3, 4, 5, false, false)]
    [InlineData(3, 11, 8, 8, false, false)]
    [InlineData(2, 11, 5, 7, true, false)]
    [InlineData(2, 4, 6, 3, false, true)]
    [InlineData(4, 5, 3, 9, true, true)]
    public void MatchesDoubleReference(int B, int K, int H, int W, bool weighted, bool ignore)
    {
        var logits = Rng.Floats(B * K * H * W, 100 + K, scale: 4f);
        int? ignoreIndex = ignore ? 255 : null;
        var targets = Targets(B * H * W, K, 200 + H, ignoreIndex);
        float[]? weights = weighted ? Rng.Floats(K, 300).Select(v => 0.25f + Math.Abs(v) * 2).ToArray() : null;
        var grad = new float[logits.Length];
        float loss = PixelCrossEntropy.Forward(logits, targets, B, K, H, W, weights, ignoreIndex, grad);

        var refGrad = new double[logits.Length];
        double refLoss = Reference(Rng.ToDouble(logits), targets, B, K, H, W, weights?.Select(v => (double)v).ToArray(), ignoreIndex, refGrad);
        Approx.Equal(new[] { refLoss }, new[] { loss }, 1e-6, 1e-6, "loss");
        Approx.Equal(refGrad, grad, 1e-8, 1e-5, "dLoss/dlogits");

        // Byte targets give the same.
        var byteGrad = new float[logits.Length];
        float byteLoss = PixelCrossEntropy.Forward(logits, targets.Select(v => (byte)v).ToArray(), B, K, H, W, weights, ignoreIndex, byteGrad);
        Assert.Equal(loss, byteLoss);
        Assert.Equal(grad, byteGrad);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gradient_MatchesFiniteDifferences(bool weighted)
    {
        const int B = 2, K = 4, H = 3, W = 2;
        var logits = Rng.Floats(B * K * H * W, 7, scale: 3f);
        var targets = Targets(B * H * W, K, 8, ignore: 9);
        double[]? weights = weighted ? new[] { 0.5, 2.0, 1.0, 3.0 } : null;
        var grad = new float[logits.Length];
        PixelCrossEntropy.Forward(logits, targets, B, K, H, W, weights?.Select(v => (float)v).ToArray(), 9, grad);

        var x = Rng.ToDouble(logits);
        var numeric = FiniteDifference.Gradient(() => new[] { Reference(x, targets, B, K, H, W, weights, 9) }, x, new[] { 1.0 });
        Approx.Equal(numeric, grad, 1e-7, 1e-5, "finite differences");
        Assert.Contains(targets, t => t == 9); // some pixels are ignored...
        Assert.Contains(numeric, g => Math.Abs(g) > 1e-3); // ...and the rest have real gradients
    }

    [Fact]
    public void Layout_IsNchw_ClassStrideIsThePlane()
    {
        // One image, 2 classes, 1×2 pixels. Pixel 0 strongly predicts class 1, pixel 1 class 0; targets agree, so the
        // loss is tiny. Read as NHWC (class stride 1) the same numbers would say the opposite.
        var logits = new[] { -10f, 10f, /* class 1 */ 10f, -10f };
        float right = PixelCrossEntropy.Forward(logits, new[] { 1, 0 }, 1, 2, 1, 2);
        float wrong = PixelCrossEntropy.Forward(logits, new[] { 0, 1 }, 1, 2, 1, 2);
        Assert.Equal(Math.Log(1 + Math.Exp(-20)), right, 1e-7);
        Assert.Equal(20 + Math.Log(1 + Math.Exp(-20)), wrong, 1e-4);
    }

    [Fact]
    public void UniformLogits_GiveLogClasses_AndWeightsCancel()
    {
        var logits = new float[2 * 11 * 4 * 4];
        Array.Fill(logits, -3.5f);
        var targets = Targets(32, 11, 1);
        Assert.Equal(Math.Log(11), PixelCrossEntropy.Forward(logits, targets, 2, 11, 4, 4), 1e-6);
        var weights = Enumerable.Range(1, 11).Select(i => (float)i).ToArray();
        Assert.Equal(Math.Log(11), PixelCrossEntropy.Forward(logits, targets, 2, 11, 4, 4, weights), 1e-6);
    }

    [Fact]
    public void HugeLogits_StayFinite_AndGradientMayOverwriteLogits()
    {
        var logits = Rng.Floats(2 * 3 * 2 * 2, 5, scale: 3e4f);
        var targets = new[] { 0, 1, 2, 0, 2, 2, 1, 0 };
        var grad = new float[logits.Length];
        float loss = PixelCrossEntropy.Forward(logits, targets, 2, 3, 2, 2, null, null, grad);
        Assert.True(float.IsFinite(loss));
        Assert.All(grad, g => Assert.True(float.IsFinite(g)));
        Assert.Equal(Reference(Rng.ToDouble(logits), targets, 2, 3, 2, 2, null, null), loss, 1e-2);

        var inPlace = (float[])logits.Clone();
        float again = PixelCrossEntropy.Forward(inPlace, targets, 2, 3, 2, 2, null, null, inPlace);
        Assert.Equal(loss, again);
        Assert.Equal(grad, inPlace);
    }

    [Fact]
    public void GradientIsWrittenNotAccumulated_AndZeroAtIgnoredPixels()
    {
        var logits = Rng.Floats(1 * 3 * 2 * 2, 9);
        logits[3] = float.NaN; // an ignored pixel's logits do not matter
        var targets = new[] { 0, 255, 2, 255 };
        var dirty = Enumerable.Repeat(7f, logits.Length).ToArray();
        PixelCrossEntropy.Forward(logits, targets, 1, 3, 2, 2, null, 255, dirty);
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(0f, dirty[k * 4 + 1]);
            Assert.Equal(0f, dirty[k * 4 + 3]);
            Assert.NotEqual(0f, dirty[k * 4 + 0]);
        }
        Assert.Equal(0.0, dirty[0] + dirty[4] + dirty[8], 1e-7); // softmax − onehot sums to 0 per pixel
    }

    [Fact]
    public void NothingCounted_GivesZeroLossAndGradient()
    {
        var logits = Rng.Floats(2 * 3 * 1 * 2, 3);
        var grad = Enumerable.Repeat(1f, logits.Length).ToArray();
        Assert.Equal(0f, PixelCrossEntropy.Forward(logits, new[] { 9, 9, 9, 9 }, 2, 3, 1, 2, null, 9, grad));
        Assert.All(grad, g => Assert.Equal(0f, g));
        grad = Enumerable.Repeat(1f, logits.Length).ToArray();
        Assert.Equal(0f, PixelCrossEntropy.Forward(logits, new[] { 1, 1, 1, 1 }, 2, 3, 1, 2, new[] { 1f, 0f, 1f }, null, grad));
        Assert.All(grad, g => Assert.Equal(0f, g));
    }

    [Fact]
    public void BadInput_Throws_NamingTheNumbers()
    {
        var logits = new float[2 * 11 * 3 * 4];
        var targets = new int[2 * 3 * 4];
        targets[1 * 12 + 2 * 4 + 3] = 11;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => PixelCrossEntropy.Forward(logits, targets, 2, 11, 3, 4));
        Assert.Contains("Target 11 at (batch 1, row 2, col 3)", e.Message);
        Assert.Contains("11 classes (0 to 10)", e.Message);
        targets[1 * 12 + 2 * 4 + 3] = 255;
        var withIgnore = Assert.Throws<ArgumentOutOfRangeException>(() => PixelCrossEntropy.Forward(logits, targets, 2, 11, 3, 4, null, -100));
        Assert.Contains("Target 255", withIgnore.Message);
        Assert.Contains("ignore index -100", withIgnore.Message);
        PixelCrossEntropy.Forward(logits, targets, 2, 11, 3, 4, null, 255); // fine when ignored

        var shortLogits = Assert.Throws<ArgumentException>(() => PixelCrossEntropy.Forward(new float[100], new int[24], 2, 11, 3, 4));
        Assert.Contains("100", shortLogits.Message);
        Assert.Contains("2×11×3×4 = 264", shortLogits.Message);
        var shortTargets = Assert.Throws<ArgumentException>(() => PixelCrossEntropy.Forward(logits, new byte[23], 2, 11, 3, 4));
        Assert.Contains("23", shortTargets.Message);
        Assert.Contains("2×3×4 = 24", shortTargets.Message);
        var shortGrad = Assert.Throws<ArgumentException>(() => PixelCrossEntropy.Forward(logits, new int[24], 2, 11, 3, 4, null, null, new float[263]));
        Assert.Contains("263", shortGrad.Message);
        var weightCount = Assert.Throws<ArgumentException>(() => PixelCrossEntropy.Forward(logits, new int[24], 2, 11, 3, 4, new float[10]));
        Assert.Contains("10 weights but there are 11 classes", weightCount.Message);
        var negative = Assert.Throws<ArgumentException>(() => PixelCrossEntropy.Forward(logits, new int[24], 2, 11, 3, 4, Enumerable.Repeat(-0.5f, 11).ToArray()));
        Assert.Contains("-0.5", negative.Message);
        var zero = Assert.Throws<ArgumentOutOfRangeException>(() => PixelCrossEntropy.Forward(logits, new int[24], 0, 11, 3, 4));
        Assert.Contains("Batch 0", zero.Message);
    }

    [SkippableFact]
    public void MatchesTorch()
    {
        const int B = 2, K = 11, H = 5, W = 6;
        var logits = Rng.Floats(B * K * H * W, 61, scale: 5f);
        var targets = Targets(B * H * W, K, 62, ignore: 255);
        var weights = Rng.Floats(K, 63).Select(v => 0.5f + Math.Abs(v)).ToArray();
        var result = TorchOracle.Run("""
            x = torch.tensor(inp['logits'], dtype=torch.float32).reshape(inp['B'], inp['K'], inp['H'], inp['W']).requires_grad_()
            y = torch.tensor(inp['targets'], dtype=torch.long).reshape(inp['B'], inp['H'], inp['W'])
            w = torch.tensor(inp['weights'], dtype=torch.float32)
            out = {}
            for name, kw in (('plain', {}), ('ignore', {'ignore_index': 255}), ('weighted', {'ignore_index': 255, 'weight': w})):
                yy = y if name != 'plain' else y.clamp(max=inp['K'] - 1)
                loss = torch.nn.functional.cross_entropy(x, yy, **kw)
                g, = torch.autograd.grad(loss, x)
                out[name] = {'loss': loss.item(), 'grad': g.flatten().tolist()}
            print(json.dumps(out))
            """, new { logits, targets, weights, B, K, H, W });
        var clamped = targets.Select(t => Math.Min(t, K - 1)).ToArray();
        foreach (var (name, t, w, ignore) in new[] { ("plain", clamped, (float[]?)null, (int?)null), ("ignore", targets, null, 255), ("weighted", targets, weights, 255) })
        {
            var grad = new float[logits.Length];
            float loss = PixelCrossEntropy.Forward(logits, t, B, K, H, W, w, ignore, grad);
            var r = result.GetProperty(name);
            Approx.Equal(new[] { r.GetProperty("loss").GetDouble() }, new[] { loss }, 1e-6, 1e-6, $"loss ({name})");
            Approx.Equal(TorchOracle.Floats(r.GetProperty("grad")), grad, 1e-7, 1e-5, $"grad ({name})");
        }
    }
}
