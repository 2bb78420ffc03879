using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace ModelGen.Examples.FashionMnist;

/// <summary>What one epoch of training measured.</summary>
/// <summary>One epoch: <paramref name="TrainSeconds"/> is the training time so far in this run (steps only: no evaluation,
/// checkpoints or data loading).</summary>
internal sealed record EpochResult(int Epoch, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy, double SingleViewAccuracy, double ImagesPerSecond, double TrainSeconds);

/// <summary>PNG plots of a run.</summary>
internal static class Plots
{
    /// <summary>Writes loss.png and accuracy.png (train and test per epoch) into <paramref name="directory"/>.</summary>
    public static void Curves(IReadOnlyList<EpochResult> history, string directory)
    {
        if (history.Count == 0) return;
        double[] epochs = history.Select(r => (double)r.Epoch).ToArray();
        Save(Path.Combine(directory, "loss.png"), "loss", epochs, history.Select(r => r.TrainLoss), history.Select(r => r.TestLoss));
        Save(Path.Combine(directory, "accuracy.png"), "accuracy (%)", epochs, history.Select(r => 100 * r.TrainAccuracy), history.Select(r => 100 * r.TestAccuracy));
    }

    static void Save(string path, string title, double[] epochs, IEnumerable<double> train, IEnumerable<double> test)
    {
        var plot = new ScottPlot.Plot();
        plot.Add.Scatter(epochs, train.ToArray()).LegendText = "train";
        plot.Add.Scatter(epochs, test.ToArray()).LegendText = "test";
        plot.Title(title);
        plot.XLabel("epoch");
        plot.ShowLegend();
        plot.SavePng(path, 640, 420);
    }
}
