using System;
using System.Globalization;

namespace ModelGen.Examples.Segmentation;

/// <summary>Command-line options. Unknown or malformed options are errors that say what was expected.</summary>
public sealed record Options
{
    public string Model { get; init; } = "setr";
    public int Epochs { get; init; } = 3;
    public int Batch { get; init; } = 32;
    public float LearningRate { get; init; } = 1e-3f;
    public float WeightDecay { get; init; } = 0.05f;
    public int Train { get; init; } = 6000;
    public int Test { get; init; } = 1000;
    public int Seed { get; init; }
    public string Device { get; init; } = "cpu";
    public string Output { get; init; } = "runs/segmentation";
    public string? EvaluateCheckpoint { get; init; }
    public string? DataDirectory { get; init; }
    public bool Embedded { get; init; }
    public bool Json { get; init; }
    /// <summary>Print the model's layers, parameters, FLOPs and activation memory (known at compile time) and exit.</summary>
    public bool Summary { get; init; }

    public const string Usage = """
        usage: Segmentation [options]
          --model NAME        setr (SETR with a progressive-upsampling decoder, default) | segmenter (mask transformer)
          --epochs N          training epochs (default 3)
          --batch N           batch size (default 32)
          --lr X              peak learning rate of AdamW under a one-cycle schedule (default 1e-3)
          --weight-decay X    AdamW weight decay, not applied to norms, biases and positions (default 0.05)
          --train N           training canvases (default 6000)
          --test N            test canvases (default 1000)
          --seed N            seeds the canvases, initialisation and shuffling (default 0)
          --device NAME       cpu | cuda | cuda-tf32 | opencl | sim | best (default cpu)
          --out DIR           where checkpoints and pictures go (default runs/segmentation)
          --eval FILE         only evaluate a checkpoint written by this program
          --data DIR          Fashion-MNIST IDX files (default: Debian's /usr/share/datasets/fashion-mnist, else the embedded subset)
          --embedded          use the embedded subset even when the full set is installed
          --json              also print one JSON line per epoch (for bench/segmentation.sh)
          --summary           print the model's layers with output shapes, parameters, FLOPs and activation bytes
                              per sample (computed by the generator, no forward pass) and exit
        """;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.\n{Usage}");
            o = args[i] switch
            {
                "--model" => o with { Model = Next() is var m && m is "setr" or "segmenter" ? m : throw new ArgumentException($"--model expects setr or segmenter but got '{m}'.") },
                "--epochs" => o with { Epochs = PositiveInt("--epochs", Next()) },
                "--batch" => o with { Batch = PositiveInt("--batch", Next()) },
                "--lr" => o with { LearningRate = PositiveFloat("--lr", Next()) },
                "--weight-decay" => o with { WeightDecay = Float("--weight-decay", Next()) },
                "--train" => o with { Train = PositiveInt("--train", Next()) },
                "--test" => o with { Test = PositiveInt("--test", Next()) },
                "--seed" => o with { Seed = Int("--seed", Next()) },
                "--device" => o with { Device = Next() },
                "--out" => o with { Output = Next() },
                "--eval" => o with { EvaluateCheckpoint = Next() },
                "--data" => o with { DataDirectory = Next() },
                "--embedded" => o with { Embedded = true },
                "--json" => o with { Json = true },
                "--summary" => o with { Summary = true },
                "-h" or "--help" => throw new HelpRequestedException(),
                _ => throw new ArgumentException($"Unknown option '{args[i]}'.\n{Usage}"),
            };
        }
        return o;
    }

    static int Int(string name, string s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
        ? v : throw new ArgumentException($"{name} expects an integer but got '{s}'.");

    static int PositiveInt(string name, string s) => Int(name, s) is var v and > 0 ? v : throw new ArgumentException($"{name} must be positive but got {s}.");

    static float Float(string name, string s) => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v) && v >= 0
        ? v : throw new ArgumentException($"{name} expects a non-negative number but got '{s}'.");

    static float PositiveFloat(string name, string s) => Float(name, s) is var v and > 0 ? v : throw new ArgumentException($"{name} must be positive but got {s}.");
}

public sealed class HelpRequestedException : Exception
{
}
