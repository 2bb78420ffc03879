using System;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

public class CrossEntropyTests
{
    /// <summary>PyTorch's definition in double: mean over rows of −Σ_c target_c·log softmax(x)_c.</summary>
    static double ReferenceLoss(double[] x, int[] labels, int rows, int classes, double eps, double[]? grad = null)
    {
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < classes; c++) max = Math.Max(max, x[r * classes + c]);
            double z = 0;
            for (int c = 0; c < classes; c++) z += Math.Exp(x[r * classes + c] - max);
            for (int c = 0; c < classes; c++)
            {
                double logp = x[r * classes + c] - max - Math.Log(z);
                double target = (c == labels[r] ? 1 - eps : 0) + eps / classes;
                total -= target * logp;
                if (grad is not null) grad[r * classes + c] = (Math.Exp(logp) - target) / rows;
            }
        }
        return total / rows;
    }

    static int[] Labels(int rows, int classes, int seed)
    {
        var r = new Random(seed);
        var l = new int[rows];
        for (int i = 0; i < rows; i++) l[i] = r.Next(classes);
        return l;
    }

    [Theory]
    [InlineData(1, 1, 0f)]
    [InlineData(1, 10, 0f)]
    [InlineData(7, 10, 0f)]
    [InlineData(7, 10, 0.1f)]
    [InlineData(64, 10, 0.2f)]
    [InlineData(5, 1000, 0.1f)]
    [InlineData(3, 4, 1f)]
    public void Forward_MatchesDoubleReference(int rows, int classes, float eps)
    {
        var logits = Rng.Floats(rows * classes, 11, scale: 4f);
        var labels = Labels(rows, classes, 12);
        var grad = new float[rows * classes];
        float loss = CrossEntropy.Forward(logits, labels, rows, classes, eps, grad);

        var refGrad = new double[rows * classes];
        double refLoss = ReferenceLoss(Rng.ToDouble(logits), labels, rows, classes, eps, refGrad);
        Approx.Equal(new[] { refLoss }, new[] { loss }, 1e-6, 1e-6, "loss");
        Approx.Equal(refGrad, grad, 1e-8, 1e-6, "dLoss/dlogits");
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)]
    public void Gradient_MatchesFiniteDifferences(float eps)
    {
        const int rows = 6, classes = 5;
        var logits = Rng.Floats(rows * classes, 21, scale: 3f);
        var labels = Labels(rows, classes, 22);
        var grad = new float[rows * classes];
        CrossEntropy.Forward(logits, labels, rows, classes, eps, grad);

        var x = Rng.ToDouble(logits);
        var numeric = FiniteDifference.Gradient(() => new[] { ReferenceLoss(x, labels, rows, classes, eps) }, x, new[] { 1.0 });
        Approx.Equal(numeric, grad, 1e-7, 1e-5, "finite differences");
    }

    [Fact]
    public void UniformLogits_GiveLogClasses_WhateverTheSmoothing()
    {
        var logits = new float[3 * 10];
        Array.Fill(logits, 2.5f);
        var labels = new[] { 0, 4, 9 };
        foreach (float eps in new[] { 0f, 0.1f, 0.5f })
            Assert.Equal(Math.Log(10), CrossEntropy.Forward(logits, labels, 3, 10, eps, null), 1e-6);
    }

    [Fact]
    public void HugeLogits_StayFinite()
    {
        var logits = new[] { 1000f, -1000f, 0f, 30000f, 29990f, -5f };
        var labels = new[] { 0, 1 };
        var grad = new float[6];
        float loss = CrossEntropy.Forward(logits, labels, 2, 3, 0.1f, grad);
        Assert.True(float.IsFinite(loss));
        foreach (var g in grad) Assert.True(float.IsFinite(g));
        double expected = ReferenceLoss(Rng.ToDouble(logits), labels, 2, 3, 0.1);
        Assert.Equal(expected, loss, 1e-3);
        // Row 0 is confidently right (loss only from smoothing); row 1 is wrong by 10 nats.
        Assert.True(loss > 5 && loss < 1000);
    }

    [Fact]
    public void GradientMayOverwriteTheLogits()
    {
        const int rows = 4, classes = 7;
        var logits = Rng.Floats(rows * classes, 31, scale: 2f);
        var labels = Labels(rows, classes, 32);
        var separate = new float[rows * classes];
        float a = CrossEntropy.Forward(logits, labels, rows, classes, 0.1f, separate);
        var inPlace = (float[])logits.Clone();
        float b = CrossEntropy.Forward(inPlace, labels, rows, classes, 0.1f, inPlace);
        Assert.Equal(a, b);
        Assert.Equal(separate, inPlace);
    }

    [Fact]
    public void GradientIsWrittenNotAccumulated()
    {
        var logits = Rng.Floats(20, 41);
        var labels = Labels(2, 10, 42);
        var once = new float[20];
        CrossEntropy.Forward(logits, labels, 2, 10, 0f, once);
        var dirty = new float[20];
        Array.Fill(dirty, 123f);
        CrossEntropy.Forward(logits, labels, 2, 10, 0f, dirty);
        Assert.Equal(once, dirty);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(-1)]
    public void LabelOutOfRange_Throws_NamingRowLabelAndClassCount(int bad)
    {
        var logits = new float[4 * 10];
        var labels = new[] { 1, 2, bad, 3 };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(logits, labels, 4, 10, 0f, new float[40]));
        Assert.Contains($"Label {bad}", e.Message);
        Assert.Contains("row 2", e.Message);
        Assert.Contains("10 classes", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Correct(logits, labels, 4, 10));
    }

    [Fact]
    public void ShortBuffers_Throw()
    {
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(new float[9], new int[1], 1, 10, 0f, null));
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(new float[20], new int[1], 2, 10, 0f, null));
        Assert.Throws<ArgumentException>(() => CrossEntropy.Forward(new float[20], new int[2], 2, 10, 0f, new float[19]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(new float[20], new int[2], 2, 10, 1.5f, null));
    }

    [Fact]
    public void Correct_CountsArgmaxMatches_FirstMaxWinsTies()
    {
        var logits = new[]
        {
            0.1f, 0.9f, 0.0f, // argmax 1
            2.0f, 2.0f, 1.0f, // tie: argmax 0
            -1f, -3f, -0.5f,  // argmax 2
            5f, 5f, 5f,       // tie: argmax 0
        };
        Assert.Equal(4, CrossEntropy.Correct(logits, new[] { 1, 0, 2, 0 }, 4, 3));
        Assert.Equal(0, CrossEntropy.Correct(logits, new[] { 0, 1, 1, 2 }, 4, 3));
        Assert.Equal(2, CrossEntropy.Correct(logits, new[] { 1, 1, 2, 1 }, 4, 3));
    }

    [SkippableFact]
    public void MatchesTorch()
    {
        const int rows = 9, classes = 10;
        var logits = Rng.Floats(rows * classes, 51, scale: 5f);
        var labels = Labels(rows, classes, 52);
        var result = TorchOracle.Run("""
            x = torch.tensor(inp['logits'], dtype=torch.float32).reshape(inp['rows'], inp['classes']).requires_grad_()
            y = torch.tensor(inp['labels'], dtype=torch.long)
            out = {}
            for eps in (0.0, 0.1):
                loss = torch.nn.functional.cross_entropy(x, y, label_smoothing=eps)
                g, = torch.autograd.grad(loss, x)
                out[str(eps)] = {'loss': loss.item(), 'grad': g.flatten().tolist()}
            print(json.dumps(out))
            """, new { logits, labels, rows, classes });
        foreach (var (key, eps) in new[] { ("0.0", 0f), ("0.1", 0.1f) })
        {
            var grad = new float[rows * classes];
            float loss = CrossEntropy.Forward(logits, labels, rows, classes, eps, grad);
            var t = result.GetProperty(key);
            Approx.Equal(new[] { t.GetProperty("loss").GetDouble() }, new[] { loss }, 1e-6, 1e-6, $"loss ε={eps}");
            Approx.Equal(TorchOracle.Floats(t.GetProperty("grad")), grad, 1e-7, 1e-5, $"grad ε={eps}");
        }
    }
}
