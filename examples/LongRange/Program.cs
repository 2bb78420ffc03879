using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using ModelGen;
using ModelGen.Data;
using ModelGen.Training;

namespace ModelGen.Examples.LongRange;

/// <summary>
/// Fashion-MNIST as a sequence of 784 pixels, in the style of Long Range Arena's image task: trains one attention variant on a
/// subset and prints one JSON line (test accuracy, seconds per epoch, peak memory). bench/long-range.sh runs every variant, each
/// in its own process so each peak is its own, and prints the table.
///
///   dotnet run --project examples/LongRange -c Release -- --variant full|linformer|performer|reformer|bigbird|local
///       [--train 6000] [--test 2000] [--epochs 2] [--batch 32] [--lr 0.002] [--seed 0] [--data DIR]
/// </summary>
public static class Program
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>What every variant offers the loop: a training step and a forward.</summary>
    sealed record Variant(string Name, IDisposable Model, ParameterSet Parameters, Func<Tensor, int[], IOptimizer, StepResult> Step, Func<Tensor, Tensor> Forward);

    static Variant Create(string name, int seed)
    {
        var cpu = Device.Cpu();
        switch (name)
        {
            case "full": { var m = new PixelFull(cpu, seed); return new(name, m, m.Parameters, (x, y, o) => m.TrainStep(x, y, o), m.Forward); }
            case "linformer": { var m = new PixelLinformer(cpu, seed); return new(name, m, m.Parameters, (x, y, o) => m.TrainStep(x, y, o), m.Forward); }
            case "performer": { var m = new PixelPerformer(cpu, seed); return new(name, m, m.Parameters, (x, y, o) => m.TrainStep(x, y, o), m.Forward); }
            case "reformer": { var m = new PixelReformer(cpu, seed); return new(name, m, m.Parameters, (x, y, o) => m.TrainStep(x, y, o), m.Forward); }
            case "bigbird": { var m = new PixelBigBird(cpu, seed); return new(name, m, m.Parameters, (x, y, o) => m.TrainStep(x, y, o), m.Forward); }
            case "local": { var m = new PixelLocal(cpu, seed); return new(name, m, m.Parameters, (x, y, o) => m.TrainStep(x, y, o), m.Forward); }
            default: throw new ArgumentException($"--variant must be full, linformer, performer, reformer, bigbird or local, not '{name}'.");
        }
    }

    public static int Main(string[] args)
    {
        try
        {
            string variant = Value(args, "--variant") ?? throw new ArgumentException("--variant is required (full, linformer, performer, reformer, bigbird or local).");
            int train = Int(args, "--train", 6000), test = Int(args, "--test", 2000), epochs = Int(args, "--epochs", 2), batch = Int(args, "--batch", 32),
                seed = Int(args, "--seed", 0);
            float lr = float.Parse(Value(args, "--lr") ?? "0.002", Inv);
            var data = ModelGen.Data.FashionMnist.Load(Value(args, "--data"));
            if (train < batch || train > data.Train.Count)
                throw new ArgumentException($"--train {train} must be between the batch ({batch}) and the {data.Train.Count} training images.");
            if (test < 1 || test > data.Test.Count) throw new ArgumentException($"--test {test} must be between 1 and the {data.Test.Count} test images.");
            Run(variant, data, train, test, epochs, batch, lr, seed);
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or System.IO.FileNotFoundException or ModelGen.InvalidDataException)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 2;
        }
    }

    static void Run(string name, ModelGen.Data.FashionMnist data, int train, int test, int epochs, int batch, float lr, int seed)
    {
        using var self = Process.GetCurrentProcess();
        GC.Collect();
        self.Refresh();
        long baseline = self.PeakWorkingSet64;
        var v = Create(name, seed);
        using var _ = v.Model;
        var optimizer = new AdamW(v.Parameters, lr, weightDecay: 0.01f);
        var x = new float[batch * 784];
        var labels = new int[batch];
        double seconds = 0, loss = 0, trainAccuracy = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            double epochLoss = 0;
            int correct = 0, seen = 0;
            foreach (var indices in ModelGen.Data.FashionMnist.Batches(train, batch, shuffle: true, seed, epoch))
            {
                if (indices.Length != batch) continue;
                ModelGen.Data.FashionMnist.Normalize(data.Train, indices, x);
                ModelGen.Data.FashionMnist.Labels(data.Train, indices, labels);
                // The image's pixels in reading order are already the sequence (784, 1): the same floats.
                var r = v.Step(new Tensor(new[] { batch, 784, 1 }, x), labels, optimizer);
                epochLoss += r.Loss * batch;
                correct += r.Correct;
                seen += batch;
            }
            seconds += clock.Elapsed.TotalSeconds;
            loss = epochLoss / seen;
            trainAccuracy = (double)correct / seen;
        }
        int right = 0, count = 0;
        foreach (var indices in ModelGen.Data.FashionMnist.Batches(test, batch, shuffle: false, seed: 0))
        {
            var xs = new float[indices.Length * 784];
            var ys = new int[indices.Length];
            ModelGen.Data.FashionMnist.Normalize(data.Test, indices, xs);
            ModelGen.Data.FashionMnist.Labels(data.Test, indices, ys);
            var logits = v.Forward(new Tensor(new[] { indices.Length, 784, 1 }, xs)).Data;
            for (int i = 0; i < indices.Length; i++)
            {
                int best = 0;
                for (int c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
                right += best == ys[i] ? 1 : 0;
                count++;
            }
        }
        self.Refresh();
        Console.WriteLine(string.Create(Inv, $"{{\"impl\": \"modelgen\", \"variant\": \"{name}\", \"tokens\": 784, \"train\": {train}, \"test\": {test}, \"epochs\": {epochs}, " +
            $"\"parameters\": {v.Parameters.ElementCount}, \"train_loss\": {loss:F4}, \"train_acc\": {trainAccuracy:F4}, \"test_acc\": {(double)right / count:F4}, " +
            $"\"seconds_per_epoch\": {seconds / epochs:F1}, \"peak_mib\": {(self.PeakWorkingSet64 - baseline) / 1048576.0:F1}, \"data\": \"{data.Source}\"}}"));
    }

    static string? Value(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    static int Int(string[] args, string name, int fallback) => Value(args, name) is { } s ? int.Parse(s, Inv) : fallback;
}
