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

namespace ModelGen.Examples.FashionMnist;

/// <summary>Trains and evaluates <see cref="FashionVit"/> on Fashion-MNIST: the main job of the README.</summary>
public static class Program
{
    const string Architecture = nameof(FashionVit);

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

    static int Run(Options o)
    {
        if (o.Summary)
        {
            Console.Write(FashionVit.Summary);
            return 0;
        }
        var data = o.Embedded ? ModelGen.Data.FashionMnist.LoadEmbedded() : ModelGen.Data.FashionMnist.Load(o.DataDirectory);
        using var device = Device.Parse(o.Device);
        using var model = new FashionVit(device, o.Seed);
        AnsiConsole.MarkupLineInterpolated($"[bold]ModelGen[/] · {Architecture} · {model.Parameters.ElementCount:N0} parameters · {device}");
        AnsiConsole.MarkupLineInterpolated($"data: {data}");

        if (o.EvaluateCheckpoint is { } evalPath)
        {
            int epoch = LoadCheckpoint(model, evalPath);
            var eval = Evaluate(model, data.Test, o.FlipAverage);
            AnsiConsole.MarkupLineInterpolated($"checkpoint {evalPath} (epoch {epoch}): test accuracy [bold]{eval.Describe()}[/], loss {eval.Loss:F4}");
            Report(eval);
            string maps = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(evalPath))!, "attention.png");
            DrawAttention(model, data.Test, maps);
            AnsiConsole.MarkupLineInterpolated($"attention maps: {maps}");
            if (o.Analyse) HeadAnalysis.Run(model, data.Test, Path.GetDirectoryName(Path.GetFullPath(evalPath))!, Depth);
            return 0;
        }

        var optimizer = new AdamW(model.Parameters, o.LearningRate, beta2: o.Beta2, weightDecay: o.WeightDecay);
        int startEpoch = 0;
        if (o.Resume is { } resume)
        {
            startEpoch = LoadCheckpoint(model, resume);
            ResumeBeside(resume, OptimizerFile, startEpoch * StepsPerEpoch(data, o), "AdamW state", "AdamW's moments start again from zero",
                path => { optimizer.LoadState(path); return optimizer.StepCount; });
        }
        // Made after resuming, so that without a saved average it starts from the resumed weights.
        var average = o.Ema > 0 ? new ExponentialMovingAverage(model.Parameters, o.Ema) : null;
        if (average is not null && o.Resume is { } from)
            ResumeBeside(from, AverageFile, startEpoch * StepsPerEpoch(data, o), "the moving average", "the moving average starts from the resumed weights",
                path => { average.Load(path); return average.UpdateCount; });
        if (startEpoch >= o.Epochs)
        {
            AnsiConsole.MarkupLineInterpolated($"The checkpoint has already trained {startEpoch} of {o.Epochs} epochs; raise --epochs to continue.");
            return 0;
        }
        Directory.CreateDirectory(o.Output);
        var history = Train(model, optimizer, average, data, o, startEpoch);
        if (o.Json)
            foreach (var r in history)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"impl\": \"modelgen\", \"seed\": {o.Seed}, \"epoch\": {r.Epoch}, \"train_loss\": {r.TrainLoss:F5}, \"train_acc\": {r.TrainAccuracy:F5}, \"test_acc\": {r.TestAccuracy:F5}, \"test_acc_single\": {r.SingleViewAccuracy:F5}, \"train_s\": {r.TrainSeconds:F1}, \"images_per_s\": {r.ImagesPerSecond:F0}}}"));
        // With --ema, the averaged weights are the model this run delivers: they are evaluated, drawn and reported.
        using (average?.Apply())
        {
            var final = Evaluate(model, data.Test, o.FlipAverage);
            Report(final);
            Plots.Curves(history, o.Output);
            DrawAttention(model, data.Test, Path.Combine(o.Output, "attention.png"));
            if (o.Analyse) HeadAnalysis.Run(model, data.Test, o.Output, Depth);
            AnsiConsole.MarkupLineInterpolated($"test accuracy [bold]{final.Describe()}[/] after {TimeSpan.FromSeconds(history[^1].TrainSeconds):m\\:ss} of training · checkpoint {Path.Combine(o.Output, average is null ? ModelFile : AverageFile)} · plots {Path.Combine(o.Output, "loss.png")}, {Path.Combine(o.Output, "accuracy.png")}, {Path.Combine(o.Output, "attention.png")}");
        }
        return 0;
    }

    static int StepsPerEpoch(ModelGen.Data.FashionMnist data, Options o) =>
        data.Train.Count / o.Batch is var steps and > 0 ? steps
            : throw new ArgumentException($"--batch {o.Batch} is larger than the {data.Train.Count} training images.");

    static List<EpochResult> Train(FashionVit model, AdamW optimizer, ExponentialMovingAverage? average, ModelGen.Data.FashionMnist data,
        Options o, int startEpoch)
    {
        int batch = o.Batch;
        int stepsPerEpoch = StepsPerEpoch(data, o);
        int totalSteps = o.Epochs * stepsPerEpoch;
        ILearningRateSchedule schedule = o.Schedule == "onecycle"
            ? new OneCycle(o.LearningRate, totalSteps, pctStart: 0.1f)
            : new WarmupCosine(o.LearningRate, Math.Max(1, totalSteps / 10), totalSteps);
        var x = new float[batch * 28 * 28];
        var labels = new int[batch];
        var history = new List<EpochResult>();
        int step = startEpoch * stepsPerEpoch;
        double trainSeconds = 0;

        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                for (int epoch = startEpoch; epoch < o.Epochs; epoch++)
                {
                    var task = ctx.AddTask($"epoch {epoch + 1}/{o.Epochs}", maxValue: stepsPerEpoch);
                    double lossSum = 0;
                    int correct = 0, seen = 0;
                    var clock = Stopwatch.StartNew();
                    model.Training = true;
                    foreach (var indices in ModelGen.Data.FashionMnist.Batches(data.Train.Count, batch, shuffle: true, o.Seed, epoch))
                    {
                        if (indices.Length < batch) continue;
                        ModelGen.Data.FashionMnist.Normalize(data.Train, indices, x, o.Augment, ModelGen.Data.FashionMnist.EpochSeed(o.Seed + 1, epoch));
                        ModelGen.Data.FashionMnist.Labels(data.Train, indices, labels);
                        optimizer.LearningRate = schedule.At(step);
                        // OneCycleLR also cycles Adam's beta1 (0.95 -> 0.85 -> 0.95), as PyTorch does by default.
                        if (schedule is OneCycle cycle) optimizer.Beta1 = cycle.MomentumAt(step);
                        step++;
                        // Forward, loss, backward, clipping and the AdamW step; on a GPU all of it stays there.
                        var result = model.TrainStep(new Tensor(new[] { batch, 1, 28, 28 }, x), labels, optimizer, o.LabelSmoothing, o.Clip);
                        average?.Update();
                        lossSum += result.Loss * batch;
                        correct += result.Correct;
                        seen += batch;
                        task.Increment(1);
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"epoch {epoch + 1}/{o.Epochs}  loss {lossSum / seen:F4}  acc {100.0 * correct / seen:F1}%  {seen / clock.Elapsed.TotalSeconds:F0} img/s");
                    }
                    double imagesPerSecond = seen / clock.Elapsed.TotalSeconds;
                    trainSeconds += clock.Elapsed.TotalSeconds;
                    Evaluation test;
                    using (average?.Apply()) test = Evaluate(model, data.Test, o.FlipAverage);
                    history.Add(new EpochResult(epoch + 1, lossSum / seen, (double)correct / seen, test.Loss, test.Accuracy, test.SingleViewAccuracy, imagesPerSecond, trainSeconds));
                    task.Description = string.Create(CultureInfo.InvariantCulture,
                        $"epoch {epoch + 1}/{o.Epochs}  loss {lossSum / seen:F4}  acc {100.0 * correct / seen:F1}%  test {test.Describe()}  {imagesPerSecond:F0} img/s");
                    SaveCheckpoint(model, optimizer, average, o.Output, epoch + 1, test);
                }
            });
        return history;
    }

    /// <summary>Test loss and accuracy (of the flip-averaged logits when asked), the confusion matrix they come from, and
    /// the accuracy of each image's own logits.</summary>
    internal sealed record Evaluation(double Loss, double Accuracy, int[,] Confusion, double SingleViewAccuracy, bool FlipAveraged)
    {
        public string Describe() => FlipAveraged
            ? string.Create(CultureInfo.InvariantCulture, $"{100 * Accuracy:F2}% (flip-averaged; single view {100 * SingleViewAccuracy:F2}%)")
            : string.Create(CultureInfo.InvariantCulture, $"{100 * Accuracy:F2}%");
    }

    static Evaluation Evaluate(FashionVit model, Dataset test, bool flipAverage)
    {
        model.Training = false;
        const int batch = 500;
        var confusion = new int[10, 10];
        double lossSum = 0;
        int correct = 0, singleCorrect = 0;
        foreach (var indices in ModelGen.Data.FashionMnist.Batches(test.Count, batch, shuffle: false, seed: 0))
        {
            int n = indices.Length;
            var x = new float[n * 28 * 28];
            var labels = new int[n];
            ModelGen.Data.FashionMnist.Normalize(test, indices, x);
            ModelGen.Data.FashionMnist.Labels(test, indices, labels);
            var logits = model.Forward(new Tensor(new[] { n, 1, 28, 28 }, x)).Data.AsSpan(0, n * 10).ToArray();
            singleCorrect += CrossEntropy.Correct(logits, labels, n, 10);
            if (flipAverage)
            {
                Augmentation.Mirror(x, x, 28, 28);
                var mirrored = model.Forward(new Tensor(new[] { n, 1, 28, 28 }, x)).Data;
                for (int i = 0; i < logits.Length; i++) logits[i] = 0.5f * (logits[i] + mirrored[i]);
            }
            lossSum += CrossEntropy.Forward(logits, labels, n, 10, 0f, null) * n;
            correct += CrossEntropy.Correct(logits, labels, n, 10);
            for (int i = 0; i < n; i++) confusion[labels[i], CrossEntropy.ArgMax(logits.AsSpan(i * 10, 10))]++;
        }
        return new Evaluation(lossSum / test.Count, (double)correct / test.Count, confusion, (double)singleCorrect / test.Count, flipAverage);
    }

    static void Report(Evaluation eval)
    {
        var names = ModelGen.Data.FashionMnist.ClassNames;
        var table = new Table().Title("test set: per-class accuracy and confusion (rows: true class, columns: predicted)");
        table.AddColumn("class");
        table.AddColumn(new TableColumn("acc").RightAligned());
        for (int c = 0; c < 10; c++) table.AddColumn(new TableColumn(c.ToString(CultureInfo.InvariantCulture)).RightAligned());
        for (int r = 0; r < 10; r++)
        {
            int total = 0;
            for (int c = 0; c < 10; c++) total += eval.Confusion[r, c];
            var row = new List<string> { $"{r} {names[r]}", total == 0 ? "-" : (100.0 * eval.Confusion[r, r] / total).ToString("F1", CultureInfo.InvariantCulture) + "%" };
            for (int c = 0; c < 10; c++)
            {
                string v = eval.Confusion[r, c].ToString(CultureInfo.InvariantCulture);
                row.Add(r == c ? $"[green]{v}[/]" : eval.Confusion[r, c] == 0 ? "[grey]0[/]" : v);
            }
            table.AddRow(row.ToArray());
        }
        AnsiConsole.Write(table);
    }

    /// <summary>The class token's attention in each head of the last layer, for the first six test images.</summary>
    static void DrawAttention(FashionVit model, Dataset test, string path)
    {
        int n = Math.Min(6, test.Count);
        var indices = new int[n];
        for (int i = 0; i < n; i++) indices[i] = i;
        var x = new float[n * 28 * 28];
        var labels = new int[n];
        ModelGen.Data.FashionMnist.Normalize(test, indices, x);
        ModelGen.Data.FashionMnist.Labels(test, indices, labels);
        model.Training = false;
        var logits = model.Forward(new Tensor(new[] { n, 1, 28, 28 }, x));
        var probs = model.Intermediate($"encoder.layers.{Depth - 1}.attn.heads.probs")
            ?? throw new InvalidOperationException("the model has no attention probabilities to draw");
        var images = new byte[n][];
        var captions = new string[n];
        var names = ModelGen.Data.FashionMnist.ClassNames;
        for (int i = 0; i < n; i++)
        {
            images[i] = test.Images.AsSpan(i * 784, 784).ToArray();
            int predicted = CrossEntropy.ArgMax(logits.Data.AsSpan(i * 10, 10));
            captions[i] = $"{names[labels[i]]} -> predicted {names[predicted]}   (image, then heads 1-4 of the last layer: class token attention)";
        }
        AttentionMaps.Save(path, images, probs, grid: 7, captions);
    }

    const int Depth = 4;

    const string ModelFile = "model.safetensors";
    const string OptimizerFile = "optimizer.safetensors";
    const string AverageFile = "model-ema.safetensors";

    /// <summary>Writes model.safetensors (loadable as a PyTorch state_dict) and, beside it, the optimizer's state and the
    /// moving average (also a state_dict). The test accuracy goes with the weights it was measured on.</summary>
    static void SaveCheckpoint(FashionVit model, AdamW optimizer, ExponentialMovingAverage? average, string directory, int epoch, Evaluation test)
    {
        optimizer.SaveState(Path.Combine(directory, OptimizerFile));
        Dictionary<string, string> Metadata(bool evaluated)
        {
            var m = new Dictionary<string, string> { ["model"] = Architecture, ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture) };
            if (evaluated)
            {
                m["test_accuracy"] = test.SingleViewAccuracy.ToString("F4", CultureInfo.InvariantCulture);
                if (test.FlipAveraged) m["test_accuracy_flip_averaged"] = test.Accuracy.ToString("F4", CultureInfo.InvariantCulture);
            }
            return m;
        }
        model.Parameters.Save(Path.Combine(directory, ModelFile), Metadata(average is null));
        average?.Save(Path.Combine(directory, AverageFile), Metadata(true));
    }

    /// <summary>
    /// Restores state kept in <paramref name="file"/> beside <paramref name="checkpoint"/> with <paramref name="load"/>, which
    /// returns the steps it has taken: they must be exactly <paramref name="expectedSteps"/>. Without the file, training
    /// goes on and the warning says what starts afresh.
    /// </summary>
    static void ResumeBeside(string checkpoint, string file, int expectedSteps, string what, string afresh, Func<string, int> load)
    {
        string path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpoint))!, file);
        if (!File.Exists(path))
        {
            AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] no {file} beside {checkpoint}; {afresh}.");
            return;
        }
        int steps = load(path);
        if (steps != expectedSteps)
            throw new ModelGen.InvalidDataException(
                $"'{path}' has taken {steps} steps but the checkpoint's epochs at --batch of this run make {expectedSteps}; resume with the batch size it was trained with.");
        AnsiConsole.MarkupLineInterpolated($"resumed {what} at step {steps} from {path}");
    }

    /// <summary>Loads a checkpoint written by this program and returns how many epochs it had trained.</summary>
    static int LoadCheckpoint(FashionVit model, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        var (_, metadata) = SafeTensors.LoadWithMetadata(path);
        if (!metadata.TryGetValue("model", out var architecture) || architecture != Architecture)
            throw new ModelGen.InvalidDataException($"'{path}' is a checkpoint of '{architecture ?? "an unknown model"}', not of {Architecture}.");
        model.Parameters.Load(path);
        return metadata.TryGetValue("epoch", out var e) && int.TryParse(e, NumberStyles.Integer, CultureInfo.InvariantCulture, out int epoch) ? epoch : 0;
    }
}
