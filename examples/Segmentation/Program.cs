using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using ModelGen;
using ModelGen.Data;
using ModelGen.IO;
using ModelGen.Training;
using Spectre.Console;

namespace ModelGen.Examples.Segmentation;

/// <summary>What one epoch measured.</summary>
internal sealed record EpochResult(int Epoch, double TrainLoss, double TestLoss, double PixelAccuracy, double MeanIoU, double Seconds, double MedianStepMs);

/// <summary>A generated segmentation model as the training loop sees it: images (B, 1, S, S) in, logits (B, K, S, S) out.</summary>
internal sealed record Network(string Name, Func<Tensor, Tensor> Forward, Action<Tensor> Backward, Func<Tensor, byte[], IOptimizer, StepResult> TrainStep,
    ParameterSet Parameters, Action<bool> SetTraining, IDisposable Model);

/// <summary>Trains and evaluates segmentation transformers on garment canvases made from Fashion-MNIST.</summary>
public static class Program
{
    const int Classes = GarmentCanvas.Classes;

    public static int Main(string[] args)
    {
        try
        {
            return Run(Options.Parse(args));
        }
        catch (HelpRequestedException)
        {
            Console.WriteLine(Options.Usage);
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or SafeTensorsFormatException
                                       or ModelGen.InvalidDataException or DeviceUnavailableException or UnauthorizedAccessException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 2;
        }
    }

    static Network Create(string name, Device device, int seed)
    {
        if (name == "segmenter")
        {
            var s = new GarmentSegmenter(device, seed);
            return new Network(nameof(GarmentSegmenter), s.Forward, g => s.Backward(g), (x, masks, opt) => s.TrainStep(x, masks, opt), s.Parameters,
                t => s.Training = t, s);
        }
        var m = new GarmentSetr(device, seed);
        return new Network(nameof(GarmentSetr), m.Forward, g => m.Backward(g), (x, masks, opt) => m.TrainStep(x, masks, opt), m.Parameters,
            t => m.Training = t, m);
    }

    static int Run(Options o)
    {
        if (o.Summary)
        {
            Console.Write(o.Model == "segmenter" ? GarmentSegmenter.Summary : GarmentSetr.Summary);
            return 0;
        }
        var fashion = o.Embedded ? FashionMnist.LoadEmbedded() : FashionMnist.Load(o.DataDirectory);
        var (train, test) = GarmentCanvas.CreateSplits(fashion, o.Train, o.Test, o.Seed);
        using var device = Device.Parse(o.Device);
        var net = Create(o.Model, device, o.Seed);
        using var owned = net.Model;
        AnsiConsole.MarkupLineInterpolated($"[bold]ModelGen[/] · {net.Name} · {net.Parameters.ElementCount:N0} parameters · {device}");
        AnsiConsole.MarkupLineInterpolated($"data: {train} for training, {test} for testing, from {fashion.Source}");

        if (o.EvaluateCheckpoint is { } evalPath)
        {
            int epoch = LoadCheckpoint(net, evalPath);
            var eval = Evaluate(net, test);
            AnsiConsole.MarkupLineInterpolated($"checkpoint {evalPath} (epoch {epoch}): pixel accuracy [bold]{eval.Metrics.PixelAccuracy:P2}[/], mean IoU [bold]{eval.Metrics.MeanIoU:P2}[/]");
            Report(eval.Metrics);
            string pictures = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(evalPath))!, "predictions.png");
            DrawPredictions(net, test, pictures);
            AnsiConsole.MarkupLineInterpolated($"predictions: {pictures}");
            return 0;
        }

        Directory.CreateDirectory(o.Output);
        var history = Train(net, train, test, o);
        if (o.Json)
            foreach (var r in history)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"peer\": \"modelgen\", \"case\": \"garment-{o.Model}\", \"epoch\": {r.Epoch}, \"median_step_ms\": {r.MedianStepMs:F2}, \"epoch_s\": {r.Seconds:F2}, \"train_loss\": {r.TrainLoss:F5}, \"test_pixel_acc\": {r.PixelAccuracy:F5}, \"test_miou\": {r.MeanIoU:F5}}}"));
        var final = Evaluate(net, test);
        Report(final.Metrics);
        Pictures.Curves(history, o.Output);
        DrawPredictions(net, test, Path.Combine(o.Output, "predictions.png"));
        AnsiConsole.MarkupLineInterpolated($"pixel accuracy [bold]{final.Metrics.PixelAccuracy:P2}[/] · mean IoU [bold]{final.Metrics.MeanIoU:P2}[/] · checkpoint {Path.Combine(o.Output, "model.safetensors")} · pictures {Path.Combine(o.Output, "predictions.png")}, {Path.Combine(o.Output, "miou.png")}, {Path.Combine(o.Output, "loss.png")}");
        return 0;
    }

    static List<EpochResult> Train(Network net, SegmentationSet train, SegmentationSet test, Options o)
    {
        int batch = o.Batch, size = train.Size, pixels = size * size;
        int stepsPerEpoch = train.Count / batch;
        if (stepsPerEpoch == 0) throw new ArgumentException($"--batch {batch} is larger than the {train.Count} training canvases.");
        var schedule = new OneCycle(o.LearningRate, o.Epochs * stepsPerEpoch, pctStart: 0.1f);
        var optimizer = new AdamW(net.Parameters, o.LearningRate, weightDecay: o.WeightDecay);
        var x = new float[batch * pixels];
        var masks = new byte[batch * pixels];
        var history = new List<EpochResult>();
        int step = 0;

        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                for (int epoch = 0; epoch < o.Epochs; epoch++)
                {
                    var task = ctx.AddTask($"epoch {epoch + 1}/{o.Epochs}", maxValue: stepsPerEpoch);
                    double lossSum = 0;
                    int seen = 0;
                    var stepMs = new List<double>();
                    var clock = Stopwatch.StartNew();
                    long correct = 0;
                    net.SetTraining(true);
                    foreach (var indices in train.Batches(batch, shuffle: true, o.Seed, epoch))
                    {
                        if (indices.Length < batch) continue;
                        var stepClock = Stopwatch.StartNew();
                        train.Normalize(indices, x);
                        train.CopyMasks(indices, masks);
                        optimizer.LearningRate = schedule.At(step);
                        optimizer.Beta1 = schedule.MomentumAt(step);
                        step++;
                        // Forward, per-pixel cross-entropy, backward and the AdamW step; on a device all of it stays there.
                        var result = net.TrainStep(new Tensor(new[] { batch, 1, size, size }, x), masks, optimizer);
                        stepMs.Add(stepClock.Elapsed.TotalMilliseconds);
                        correct += result.Correct;
                        float loss = result.Loss;
                        lossSum += loss * batch;
                        seen += batch;
                        task.Increment(1);
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"epoch {epoch + 1}/{o.Epochs}  loss {lossSum / seen:F4}  pixel acc {100.0 * correct / ((long)seen * pixels):F1}%  {seen / clock.Elapsed.TotalSeconds:F0} img/s");
                    }
                    double seconds = clock.Elapsed.TotalSeconds;
                    var eval = Evaluate(net, test);
                    stepMs.Sort();
                    history.Add(new EpochResult(epoch + 1, lossSum / seen, eval.Loss, eval.Metrics.PixelAccuracy, eval.Metrics.MeanIoU, seconds, stepMs[stepMs.Count / 2]));
                    task.Description = string.Create(CultureInfo.InvariantCulture,
                        $"epoch {epoch + 1}/{o.Epochs}  loss {lossSum / seen:F4}  test pixel acc {100 * eval.Metrics.PixelAccuracy:F2}%  mIoU {100 * eval.Metrics.MeanIoU:F2}%  {seconds:F1} s ({stepMs[stepMs.Count / 2]:F1} ms/step)");
                    SaveCheckpoint(net, optimizer, o.Output, epoch + 1, eval.Metrics.MeanIoU);
                }
            });
        return history;
    }

    internal sealed record Evaluation(double Loss, SegmentationMetrics Metrics);

    static Evaluation Evaluate(Network net, SegmentationSet test)
    {
        net.SetTraining(false);
        const int batch = 50;
        int size = test.Size, pixels = size * size;
        var metrics = new SegmentationMetrics(Classes);
        double lossSum = 0;
        foreach (var indices in test.Batches(batch, shuffle: false, seed: 0, epoch: 0))
        {
            int n = indices.Length;
            var x = new float[n * pixels];
            var masks = new byte[n * pixels];
            test.Normalize(indices, x);
            test.CopyMasks(indices, masks);
            var logits = net.Forward(new Tensor(new[] { n, 1, size, size }, x));
            lossSum += PixelCrossEntropy.Forward(logits.Data, masks, n, Classes, size, size) * n;
            metrics.AddLogits(logits.Data, masks, n, size, size);
        }
        return new Evaluation(lossSum / test.Count, metrics);
    }

    static void Report(SegmentationMetrics metrics)
    {
        var table = new Table().Title("test canvases: per-class IoU and accuracy");
        table.AddColumn("class");
        table.AddColumn(new TableColumn("IoU").RightAligned());
        table.AddColumn(new TableColumn("accuracy").RightAligned());
        var iou = metrics.PerClassIoU();
        var accuracy = metrics.PerClassAccuracy();
        for (int c = 0; c < Classes; c++)
            table.AddRow($"{c} {GarmentCanvas.ClassNames[c]}", Percent(iou[c]), Percent(accuracy[c]));
        table.AddRow("[bold]mean[/]", $"[bold]{Percent(metrics.MeanIoU)}[/]", $"[bold]{Percent(metrics.MeanClassAccuracy)}[/]");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"pixel accuracy {metrics.PixelAccuracy:P2}");
    }

    static string Percent(double v) => double.IsNaN(v) ? "-" : (100 * v).ToString("F1", CultureInfo.InvariantCulture) + "%";

    /// <summary>The first six test canvases: image, ground truth, prediction.</summary>
    static void DrawPredictions(Network net, SegmentationSet test, string path)
    {
        int n = Math.Min(6, test.Count), size = test.Size, pixels = size * size;
        var indices = Enumerable.Range(0, n).ToArray();
        var x = new float[n * pixels];
        var truth = new byte[n * pixels];
        test.Normalize(indices, x);
        test.CopyMasks(indices, truth);
        net.SetTraining(false);
        var logits = net.Forward(new Tensor(new[] { n, 1, size, size }, x));
        var predicted = new int[n * pixels];
        SegmentationMetrics.ArgMax(logits.Data, n, Classes, size, size, predicted);
        var captions = new string[n];
        for (int i = 0; i < n; i++)
        {
            var one = new SegmentationMetrics(Classes);
            one.AddPredictions(predicted.AsSpan(i * pixels, pixels).ToArray(), truth.AsSpan(i * pixels, pixels).ToArray().Select(b => (int)b).ToArray(), 1, size, size);
            captions[i] = string.Create(CultureInfo.InvariantCulture, $"canvas {i}: image, ground truth, prediction (pixel accuracy {100 * one.PixelAccuracy:F1}%)");
        }
        Pictures.Predictions(path, test.Images.AsSpan(0, n * pixels).ToArray(), truth, predicted.Select(p => (byte)p).ToArray(), n, size, captions);
    }

    const string OptimizerFile = "optimizer.safetensors";

    static void SaveCheckpoint(Network net, AdamW optimizer, string directory, int epoch, double meanIoU)
    {
        optimizer.SaveState(Path.Combine(directory, OptimizerFile));
        net.Parameters.Save(Path.Combine(directory, "model.safetensors"), new Dictionary<string, string>
        {
            ["model"] = net.Name,
            ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
            ["test_miou"] = meanIoU.ToString("F4", CultureInfo.InvariantCulture),
        });
    }

    static int LoadCheckpoint(Network net, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        var (_, metadata) = SafeTensors.LoadWithMetadata(path);
        if (!metadata.TryGetValue("model", out var architecture) || architecture != net.Name)
            throw new ModelGen.InvalidDataException($"'{path}' is a checkpoint of '{architecture ?? "an unknown model"}', not of {net.Name}.");
        net.Parameters.Load(path);
        return metadata.TryGetValue("epoch", out var e) && int.TryParse(e, NumberStyles.Integer, CultureInfo.InvariantCulture, out int epoch) ? epoch : 0;
    }
}
