using System.Linq;
using ModelGen;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>The generated summary against counts worked out by hand, and against the model's own parameters.</summary>
public class ModelSummaryTests
{
    /// <summary>TinyVit: a 2×12×8 image in 4×4 patches (a 3×2 grid: 6 tokens, 7 with the class token), width 16, two pre-norm
    /// layers with 2 heads and a 32-wide MLP, a 5-class head. FLOPs: 2 per multiply-add in matmuls and attention, 1 per output
    /// element elsewhere, 0 for the class token and token selection.</summary>
    [Fact]
    public void TinyVit_MatchesCountsByHand()
    {
        const int n = 7, d = 16, h = 2, dh = 8, ff = 32;
        // One encoder layer: LayerNorm (1/elem) + q, k, v, out projections + QKᵀ and PV + residual + LayerNorm + MLP + GELU + residual.
        long layerFlops = n * d + 3 * 2L * n * d * d + 2L * h * n * n * (dh + dh) + 2L * n * d * d + n * d + n * d + 2L * n * d * ff + n * ff + 2L * n * ff * d + n * d;
        long layerParameters = 2 * d + 4 * (d * d + d) + 2 * d + (d * ff + ff) + (ff * d + d);
        // Kept per layer: norm1 (+ mean, rstd), q, k, v, heads (+ probabilities), out_proj, res1, norm2 (+ mean, rstd), fc1, GELU, fc2, res2.
        long layerActivations = (n * d + 2 * n) + 3 * n * d + (n * d + h * n * n) + n * d + n * d + (n * d + 2 * n) + n * ff + n * ff + n * d + n * d;
        var expected = new (string Path, string Kind, int[] Shape, long Parameters, long Flops, long Floats)[]
        {
            ("embed", "PatchEmbedding", new[] { 6, d }, d * 2 * 4 * 4 + d, 2L * 6 * 32 * d, 6 * 32 + 6 * d),
            ("tokens", "ClassToken", new[] { n, d }, d, 0, n * d),
            ("pos", "LearnedPositions", new[] { n, d }, n * d, n * d, n * d),
            ("encoder", "TransformerEncoder", new[] { n, d }, 2 * layerParameters, 2 * layerFlops, 2 * layerActivations),
            ("norm", "LayerNorm", new[] { n, d }, 2 * d, n * d, n * d + 2 * n),
            ("head", "ClassifierHead", new[] { 5 }, d * 5 + 5, 2L * d * 5, d + 5),
        };
        var summary = TinyVit.Summary;
        Assert.Equal("TinyVit", summary.Model);
        Assert.Equal(expected.Length, summary.Layers.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            var (path, kind, shape, parameters, flops, floats) = expected[i];
            var layer = summary.Layers[i];
            Assert.Equal((path, kind), (layer.Path, layer.Kind));
            Assert.Equal(shape, layer.OutputShape);
            Assert.Equal(parameters, layer.Parameters);
            Assert.Equal(flops, layer.Flops);
            Assert.Equal(4 * floats, layer.ActivationBytes);
        }
        Assert.Equal(expected.Sum(e => e.Parameters), summary.Parameters);
        Assert.Equal(expected.Sum(e => e.Flops), summary.Flops);
    }

    [Fact]
    public void ParametersAreTheModelsTrainableParameters()
    {
        using var vit = new TinyVit(Device.Cpu());
        Assert.Equal(vit.Parameters.Where(p => p.Trainable).Sum(p => (long)p.Value.Length), TinyVit.Summary.Parameters);
        // BatchNorm's running statistics are saved with the parameters but are not trained, so they are not counted.
        using var setr = new TinySetr(Device.Cpu());
        Assert.Contains(setr.Parameters, p => !p.Trainable);
        Assert.Equal(setr.Parameters.Where(p => p.Trainable).Sum(p => (long)p.Value.Length), TinySetr.Summary.Parameters);
    }

    [Fact]
    public void TablePrintsEveryLayerAndTheTotals()
    {
        string table = TinyVit.Summary.ToString();
        var lines = table.TrimEnd('\n').Split('\n');
        Assert.Equal(1 + 6 + 1 + 1, lines.Length); // header, layers, rule, totals
        Assert.StartsWith("layer", lines[0]);
        Assert.Contains("encoder", lines[4]);
        Assert.Contains("TransformerEncoder", lines[4]);
        Assert.Contains("(B, 7, 16)", lines[4]);
        Assert.StartsWith("total", lines[^1]);
        Assert.Contains(TinyVit.Summary.Parameters.ToString(System.Globalization.CultureInfo.InvariantCulture), lines[^1]);
    }
}
