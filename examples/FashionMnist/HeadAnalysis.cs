using System;
using System.Globalization;
using System.IO;
using System.Linq;
using ModelGen.Analysis;
using ModelGen.Data;
using ModelGen.Training;
using Spectre.Console;

namespace ModelGen.Examples.FashionMnist;

/// <summary>
/// --analyse: every head of every layer on test batches — its attention entropy (how spread its attention is), the similarity
/// of the heads of a layer (the cosine of their attention matrices) and each head's importance E[|∂L/∂W_h ⊙ W_h|] over the
/// batches — and the accuracy lost when each head, or the least important heads together, are pruned (masked at run time);
/// printed as tables and drawn as head-entropy.png, head-similarity.png, head-importance.png and head-pruning.png; then a
/// <see cref="FashionVitPruned"/> filled from the model without the least important head of each layer, which runs with 3 heads.
/// </summary>
internal static class HeadAnalysis
{
    const int Batches = 4, BatchSize = 128, Heads = 4;

    public static void Run(FashionVit model, Dataset test, string directory, int depth)
    {
        var entropy = new double[depth, Heads];
        var similarity = new double[depth][,];
        var importance = new double[depth, Heads];
        int batches = Math.Min(Batches, Math.Max(1, test.Count / BatchSize)), size = Math.Min(BatchSize, test.Count);
        model.Training = false;
        for (int batch = 0; batch < batches; batch++)
        {
            var (x, labels) = Batch(test, batch, size);
            var logits = model.Forward(x);
            var grad = new float[logits.Data.Length];
            CrossEntropy.Forward(logits.Data, labels, size, 10, 0f, grad);
            model.Parameters.ZeroGrad();
            model.Backward(new Tensor(logits.Shape, grad));
            for (int layer = 0; layer < depth; layer++)
            {
                string path = $"encoder.layers.{layer.ToString(CultureInfo.InvariantCulture)}.attn";
                var probs = model.Intermediate(path + ".heads.probs") ?? throw new InvalidOperationException($"no probabilities at {path}");
                var e = AttentionAnalysis.HeadEntropy(probs);
                var s = AttentionAnalysis.HeadSimilarity(probs);
                var i = AttentionAnalysis.HeadImportance(model.Parameters, path, Heads);
                similarity[layer] ??= new double[Heads, Heads];
                for (int h = 0; h < Heads; h++)
                {
                    entropy[layer, h] += e[h] / batches;
                    importance[layer, h] += i[h] / batches;
                    for (int g = 0; g < Heads; g++) similarity[layer][h, g] += s[h, g] / batches;
                }
            }
        }
        model.Parameters.ZeroGrad();

        double max = Math.Log(50); // 49 patches and the class token
        var table = new Table().AddColumn("layer").AddColumn($"entropy of heads 1-{Heads} (nats; uniform {max:F2})")
            .AddColumn($"importance of heads 1-{Heads}").AddColumn("mean similarity of its heads");
        for (int layer = 0; layer < depth; layer++)
        {
            string Row(double[,] v) => string.Join("  ", Enumerable.Range(0, Heads).Select(h => v[layer, h].ToString("F2", CultureInfo.InvariantCulture)));
            double off = 0;
            for (int h = 0; h < Heads; h++)
                for (int g = 0; g < Heads; g++) if (h != g) off += similarity[layer][h, g];
            table.AddRow(layer.ToString(CultureInfo.InvariantCulture), Row(entropy), Row(importance), (off / (Heads * (Heads - 1))).ToString("F3", CultureInfo.InvariantCulture));
        }
        AnsiConsole.MarkupLineInterpolated($"head analysis over {batches * size} test images:");
        AnsiConsole.Write(table);

        // Pruning: each head alone, then the least important heads (by the importance above) together.
        double baseline = Accuracy(model, test, batches, size);
        var drop = new double[depth, Heads];
        for (int layer = 0; layer < depth; layer++)
            for (int h = 0; h < Heads; h++)
                using (AttentionAnalysis.MaskHeads(model.Parameters, $"encoder.layers.{layer.ToString(CultureInfo.InvariantCulture)}.attn", Heads, h))
                    drop[layer, h] = 100 * (baseline - Accuracy(model, test, batches, size));
        var order = Enumerable.Range(0, depth * Heads).OrderBy(i => importance[i / Heads, i % Heads]).ToArray();
        var pruned = new System.Collections.Generic.List<(int Count, double Accuracy)> { (0, baseline) };
        foreach (int count in new[] { 1, 2, 4, 8, 12 })
        {
            var masks = order.Take(count).GroupBy(i => i / Heads)
                .Select(g => AttentionAnalysis.MaskHeads(model.Parameters, $"encoder.layers.{g.Key.ToString(CultureInfo.InvariantCulture)}.attn", Heads, g.Select(i => i % Heads).ToArray()))
                .ToList();
            pruned.Add((count, Accuracy(model, test, batches, size)));
            foreach (var mask in masks) mask.Dispose();
        }
        var prune = new Table().AddColumn("layer").AddColumn($"accuracy drop (points) pruning head 1-{Heads} alone");
        for (int layer = 0; layer < depth; layer++)
            prune.AddRow(layer.ToString(CultureInfo.InvariantCulture), string.Join("  ", Enumerable.Range(0, Heads).Select(h => drop[layer, h].ToString("F2", CultureInfo.InvariantCulture))));
        AnsiConsole.MarkupLineInterpolated($"pruning (accuracy {100 * baseline:F2}% with every head):");
        AnsiConsole.Write(prune);
        AnsiConsole.MarkupLine("least important heads pruned together: " + string.Join(", ",
            pruned.Skip(1).Select(p => $"{p.Count} -> {100 * p.Accuracy:F2}%")));

        // A model that runs with fewer heads: the least important head of each layer removed from the projections.
        var least = Enumerable.Range(0, depth).ToDictionary(layer => $"encoder.layers.{layer.ToString(CultureInfo.InvariantCulture)}.attn",
            layer => new[] { Enumerable.Range(0, Heads).OrderBy(h => importance[layer, h]).First() });
        double maskedAccuracy;
        using (var masks = new CompositeMask(least.Select(kv => AttentionAnalysis.MaskHeads(model.Parameters, kv.Key, Heads, kv.Value))))
            maskedAccuracy = Accuracy(model, test, batches, size);
        using (var small = new FashionVitPruned(model.Device))
        {
            AttentionAnalysis.PruneHeads(model.Parameters, small.Parameters, least, Heads);
            int correct = 0;
            for (int batch = 0; batch < batches; batch++)
            {
                var (x, labels) = Batch(test, batch, size);
                correct += CrossEntropy.Correct(small.Forward(x).Data, labels, size, 10);
            }
            AnsiConsole.MarkupLineInterpolated(
                $"pruned model ({nameof(FashionVitPruned)}: {Heads - 1} heads per layer, {small.Parameters.ElementCount:N0} of {model.Parameters.ElementCount:N0} parameters): accuracy {100.0 * correct / (batches * size):F2}% (the same heads masked: {100 * maskedAccuracy:F2}%)");
        }

        Bars(Path.Combine(directory, "head-pruning.png"), "accuracy drop (points) when one head is pruned", drop, depth);
        Bars(Path.Combine(directory, "head-entropy.png"), "attention entropy per head (nats; uniform over 50 tokens = 3.91)", entropy, depth);
        Bars(Path.Combine(directory, "head-importance.png"), "head importance E|dL/dW_h * W_h|", importance, depth);
        Similarity(Path.Combine(directory, "head-similarity.png"), similarity, depth);
        AnsiConsole.MarkupLineInterpolated($"plots: {Path.Combine(directory, "head-entropy.png")}, {Path.Combine(directory, "head-similarity.png")}, {Path.Combine(directory, "head-importance.png")}, {Path.Combine(directory, "head-pruning.png")}");
    }

    /// <summary>Several head masks undone together.</summary>
    sealed class CompositeMask(System.Collections.Generic.IEnumerable<IDisposable> masks) : IDisposable
    {
        readonly IDisposable[] _masks = masks.ToArray();

        public void Dispose()
        {
            foreach (var m in _masks) m.Dispose();
        }
    }

    /// <summary>Test accuracy of the model as it is on the analysis batches.</summary>
    static double Accuracy(FashionVit model, Dataset test, int batches, int size)
    {
        int correct = 0;
        for (int batch = 0; batch < batches; batch++)
        {
            var (x, labels) = Batch(test, batch, size);
            correct += CrossEntropy.Correct(model.Forward(x).Data, labels, size, 10);
        }
        return (double)correct / (batches * size);
    }

    /// <summary>Test images batch·size … batch·size + size − 1, normalised, and their labels.</summary>
    static (Tensor Images, int[] Labels) Batch(Dataset test, int batch, int size)
    {
        var indices = Enumerable.Range(batch * size, size).ToArray();
        var x = new float[size * 28 * 28];
        var labels = new int[size];
        ModelGen.Data.FashionMnist.Normalize(test, indices, x);
        ModelGen.Data.FashionMnist.Labels(test, indices, labels);
        return (new Tensor(new[] { size, 1, 28, 28 }, x), labels);
    }

    /// <summary>One bar per (layer, head), grouped by layer.</summary>
    static void Bars(string path, string title, double[,] values, int depth)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int h = 0; h < Heads; h++)
        {
            var bars = Enumerable.Range(0, depth).Select(l => new ScottPlot.Bar { Position = l * (Heads + 1) + h, Value = values[l, h], FillColor = palette.GetColor(h) }).ToArray();
            plot.Add.Bars(bars).LegendText = $"head {h + 1}";
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, depth).Select(l => (double)(l * (Heads + 1) + (Heads - 1) / 2.0)).ToArray(),
            Enumerable.Range(0, depth).Select(l => $"layer {l}").ToArray());
        plot.Title(title);
        plot.ShowLegend();
        plot.SavePng(path, 720, 420);
    }

    /// <summary>The layers' (heads × heads) similarity matrices side by side as one heat map.</summary>
    static void Similarity(string path, double[][,] similarity, int depth)
    {
        var grid = new double[Heads, depth * (Heads + 1) - 1];
        for (int r = 0; r < Heads; r++)
            for (int c = 0; c < grid.GetLength(1); c++) grid[r, c] = double.NaN;
        for (int l = 0; l < depth; l++)
            for (int h = 0; h < Heads; h++)
                for (int g = 0; g < Heads; g++) grid[h, l * (Heads + 1) + g] = similarity[l][h, g];
        var plot = new ScottPlot.Plot();
        var map = plot.Add.Heatmap(grid);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(map);
        // Row 0 of the grid is drawn at the top.
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, Heads).Select(h => (double)h).ToArray(), Enumerable.Range(0, Heads).Select(h => $"head {Heads - h}").ToArray());
        var columns = Enumerable.Range(0, depth).SelectMany(l => Enumerable.Range(0, Heads).Select(g => (Position: (double)(l * (Heads + 1) + g), Label: $"h{g + 1}"))).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(columns.Select(c => c.Position).ToArray(), columns.Select(c => c.Label).ToArray());
        plot.Title("head similarity tr(AiT Aj)/(|Ai||Aj|), layers 0.." + (depth - 1).ToString(CultureInfo.InvariantCulture) + " left to right");
        plot.SavePng(path, 900, 320);
    }
}
