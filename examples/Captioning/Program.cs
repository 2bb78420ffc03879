using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using ModelGen;
using ModelGen.Data;
using ModelGen.Training;

namespace ModelGen.Examples.Captioning;

/// <summary>
/// An encoder–decoder on real data: garment canvases (2–4 Fashion-MNIST garments, overlapping, the segmentation example's data)
/// read by a ViT encoder, their classes decoded left to right by a Transformer decoder. Trains with teacher forcing (the per-token
/// TrainStep, padding ignored), then decodes the test canvases greedily through the generated key/value caches and reports
/// sequence and per-token accuracy, the same decoding by full recomputation (equal sequences, and its time), and writes
/// <c>captions.png</c>: canvases with their decoded labels and each step's cross-attention over the patches.
/// </summary>
public static class Program
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    const string Usage = """
        usage: Captioning [options]
          --epochs N     training epochs (default 12)
          --batch N      batch size (default 32)
          --lr X         peak AdamW learning rate of a one-cycle schedule (default 2e-3)
          --train N      training canvases (default 24000; 6000 overfit: 81 % of the training tokens, 50 % of the test tokens)
          --test N       test canvases (default 1000)
          --seed N       seeds the canvases, initialisation and shuffling (default 0)
          --out DIR      where the checkpoint and captions.png go (default runs/captioning)
          --data DIR     Fashion-MNIST IDX files (default: Debian's, else the embedded subset)
          --embedded     use the embedded subset even when the full set is installed
        """;

    public static int Main(string[] args)
    {
        try
        {
            if (args.Contains("--help") || args.Contains("-h"))
            {
                Console.WriteLine(Usage);
                return 0;
            }
            var known = new HashSet<string> { "--epochs", "--batch", "--lr", "--train", "--test", "--seed", "--out", "--data", "--embedded" };
            for (int i = 0; i < args.Length; i++)
            {
                if (!known.Contains(args[i])) throw new ArgumentException($"Unknown option '{args[i]}'.\n{Usage}");
                if (args[i] != "--embedded") i++;
            }
            int epochs = Int(args, "--epochs", 12), batch = Int(args, "--batch", 32), train = Int(args, "--train", 24000), test = Int(args, "--test", 1000),
                seed = Int(args, "--seed", 0);
            float lr = float.Parse(Value(args, "--lr") ?? "2e-3", Inv);
            if (!(lr > 0)) throw new ArgumentException($"--lr {lr} must be positive.");
            var fashion = args.Contains("--embedded") ? FashionMnist.LoadEmbedded() : FashionMnist.Load(Value(args, "--data"));
            Run(fashion, epochs, batch, lr, train, test, seed, Value(args, "--out") ?? "runs/captioning");
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException or ModelGen.InvalidDataException)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 2;
        }
    }

    static void Run(FashionMnist fashion, int epochs, int batch, float lr, int trainCount, int testCount, int seed, string output)
    {
        var (train, test) = GarmentCanvas.CreateSplits(fashion, trainCount, testCount, seed);
        if (train.Count < batch) throw new ArgumentException($"--batch {batch} is larger than the {train.Count} training canvases.");
        using var device = Device.Cpu();
        using var model = new GarmentCaptioner(device, seed);
        Console.WriteLine($"ModelGen · GarmentCaptioner · {model.Parameters.ElementCount:N0} parameters · {device}");
        Console.WriteLine($"data: {train} for training, {test} for testing, from {fashion.Source}");
        Directory.CreateDirectory(output);

        int pixels = train.Pixels, steps = train.Count / batch;
        var schedule = new OneCycle(lr, epochs * steps, pctStart: 0.1f);
        var optimizer = new AdamW(model.Parameters, lr, weightDecay: 0.05f);
        var x = new float[batch * pixels];
        var ids = new float[batch * Captions.Length];
        var targets = new int[batch * Captions.Length];
        int step = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            model.Training = true;
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            long correct = 0, counted = 0;
            foreach (var indices in train.Batches(batch, shuffle: true, seed, epoch))
            {
                if (indices.Length < batch) continue;
                Batch(train, fashion.Train, indices, x, ids, targets);
                optimizer.LearningRate = schedule.At(step);
                optimizer.Beta1 = schedule.MomentumAt(step);
                step++;
                // Forward, per-token cross-entropy with the padding ignored, backward, clipping and the AdamW step.
                var r = model.TrainStep(new Tensor(new[] { batch, 1, train.Size, train.Size }, x), new Tensor(new[] { batch, Captions.Length }, ids), targets,
                    optimizer, clipNorm: 1f, ignoreIndex: Captions.Pad);
                lossSum += r.Loss;
                correct += r.Correct;
                counted += targets.Count(t => t != Captions.Pad);
            }
            model.Training = false;
            var forced = TeacherForced(model, test, fashion.Test);
            Console.WriteLine(string.Create(Inv, $"epoch {epoch + 1}/{epochs}: train loss {lossSum / steps:F4}, train token accuracy {100.0 * correct / counted:F1}%, " +
                $"test token accuracy (teacher forcing) {100 * forced:F1}%, {clock.Elapsed.TotalSeconds:F1} s"));
        }
        model.Parameters.Save(Path.Combine(output, "model.safetensors"));

        // Greedy decoding of every test canvas through the caches, and the same decoding recomputing the whole prefix each step
        // (each warmed up first, so neither pays for compiling).
        int check = Math.Min(test.Count, 200);
        Decode(model, test, cache: true, count: Math.Min(check, 50));
        Decode(model, test, cache: false, count: Math.Min(check, 50));
        var cached = Stopwatch.StartNew();
        var decoded = Decode(model, test, cache: true);
        cached.Stop();
        var recomputeClock = Stopwatch.StartNew();
        var recomputed = Decode(model, test, cache: false, count: check);
        recomputeClock.Stop();
        int same = Enumerable.Range(0, check).Count(i => decoded[i].SequenceEqual(recomputed[i]));

        int exact = 0, tokensRight = 0, tokensTotal = 0;
        for (int i = 0; i < test.Count; i++)
        {
            var truth = Captions.Garments(test, fashion.Test, i).Append(Captions.Eos).ToArray();
            var got = decoded[i].Append(Captions.Eos).ToArray();
            if (truth.SequenceEqual(got)) exact++;
            for (int t = 0; t < truth.Length; t++, tokensTotal++) if (t < got.Length && got[t] == truth[t]) tokensRight++;
        }
        Console.WriteLine(string.Create(Inv, $"greedy decoding of {test.Count} test canvases: sequence accuracy {100.0 * exact / test.Count:F1}%, " +
            $"per-token accuracy {100.0 * tokensRight / tokensTotal:F1}% (the classes and the end, position by position)"));
        Console.WriteLine(string.Create(Inv, $"with the key/value cache {cached.Elapsed.TotalMilliseconds / test.Count:F2} ms a canvas; recomputing every prefix " +
            $"{recomputeClock.Elapsed.TotalMilliseconds / check:F2} ms a canvas; the same sequences for {same} of {check}"));

        string picture = Path.Combine(output, "captions.png");
        Pictures.Draw(picture, model, test, fashion.Test, decoded, Math.Min(6, test.Count));
        Console.WriteLine($"checkpoint {Path.Combine(output, "model.safetensors")} · pictures {picture}");
    }

    static void Batch(SegmentationSet set, Dataset source, int[] indices, float[] x, float[] ids, int[] targets)
    {
        set.Normalize(indices, x);
        for (int b = 0; b < indices.Length; b++)
            Captions.Fill(Captions.Garments(set, source, indices[b]), ids.AsSpan(b * Captions.Length, Captions.Length), targets.AsSpan(b * Captions.Length, Captions.Length));
    }

    /// <summary>The share of the test tokens (classes and ends) whose logits' argmax is the target when the true prefix is given.</summary>
    static double TeacherForced(GarmentCaptioner model, SegmentationSet test, Dataset source)
    {
        const int batch = 50;
        long right = 0, counted = 0;
        foreach (var indices in test.Batches(batch, shuffle: false, seed: 0, epoch: 0))
        {
            int n = indices.Length;
            var x = new float[n * test.Pixels];
            var ids = new float[n * Captions.Length];
            var targets = new int[n * Captions.Length];
            Batch(test, source, indices, x, ids, targets);
            var logits = model.Forward(new Tensor(new[] { n, 1, test.Size, test.Size }, x), new Tensor(new[] { n, Captions.Length }, ids)).Data;
            for (int p = 0; p < targets.Length; p++)
            {
                if (targets[p] == Captions.Pad) continue;
                counted++;
                if (CrossEntropy.ArgMax(logits.AsSpan(p * Captions.Vocab, Captions.Vocab)) == targets[p]) right++;
            }
        }
        return (double)right / counted;
    }

    /// <summary>Greedy decoding: from BOS, each step's most likely token, until the end token or four garments. With the cache one
    /// session step per position; without, a full forward over the prefix so far (padded) per position.</summary>
    internal static List<int[]> Decode(GarmentCaptioner model, SegmentationSet test, bool cache, int count = -1)
    {
        const int batch = 50;
        count = count < 0 ? test.Count : count;
        var result = new List<int[]>();
        foreach (var all in test.Batches(batch, shuffle: false, seed: 0, epoch: 0))
        {
            var indices = all.Where(i => i < count).ToArray();
            if (indices.Length == 0) break;
            int n = indices.Length;
            var x = new float[n * test.Pixels];
            test.Normalize(indices, x);
            var canvas = new Tensor(new[] { n, 1, test.Size, test.Size }, x);
            var sequences = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
            var done = new bool[n];
            var prefix = new float[n * Captions.Length];
            Array.Fill(prefix, Captions.Pad);
            for (int b = 0; b < n; b++) prefix[b * Captions.Length] = Captions.Bos;
            var session = cache ? model.StartDecoding(canvas) : null;
            var next = Enumerable.Repeat((float)Captions.Bos, n).ToArray();
            for (int t = 0; t < Captions.Length && !done.All(d => d); t++)
            {
                float[] logits;
                int stride;
                if (session is not null)
                {
                    logits = session.Step(new Tensor(new[] { n }, next)).Data;
                    stride = Captions.Vocab;
                }
                else
                {
                    logits = model.Forward(canvas, new Tensor(new[] { n, Captions.Length }, prefix)).Data;
                    stride = Captions.Length * Captions.Vocab;
                }
                for (int b = 0; b < n; b++)
                {
                    int token = CrossEntropy.ArgMax(logits.AsSpan(b * stride + (session is null ? t * Captions.Vocab : 0), Captions.Vocab));
                    if (!done[b])
                    {
                        if (token >= Captions.Classes || sequences[b].Count == Captions.MaxGarments) done[b] = true;
                        else sequences[b].Add(token);
                    }
                    // A finished sample is fed padding; its outputs are not read.
                    next[b] = done[b] ? Captions.Pad : token;
                    if (t + 1 < Captions.Length) prefix[b * Captions.Length + t + 1] = next[b];
                }
            }
            result.AddRange(sequences.Select(s => s.ToArray()));
        }
        return result;
    }

    static string? Value(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    static int Int(string[] args, string name, int fallback)
    {
        if (Value(args, name) is not { } s) return fallback;
        int v = int.Parse(s, Inv);
        return v > 0 ? v : throw new ArgumentException($"{name} {v} must be positive.");
    }
}
