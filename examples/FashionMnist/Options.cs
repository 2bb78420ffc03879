using System;
using System.Globalization;
using ModelGen.Data;

namespace ModelGen.Examples.FashionMnist;

/// <summary>Command-line options. Unknown or malformed options are errors that say what was expected.</summary>
public sealed record Options
{
    public int Epochs { get; init; } = 4;
    public int Batch { get; init; } = 128;
    public float LearningRate { get; init; } = 1e-3f;
    public float WeightDecay { get; init; } = 0.05f;
    public float Beta2 { get; init; } = 0.999f;
    public float LabelSmoothing { get; init; } = 0.1f;
    public int Seed { get; init; }
    public string Schedule { get; init; } = "cosine";
    public float Clip { get; init; } = 1f;
    /// <summary>Decay of the moving average of the weights that is evaluated and saved; 0 turns it off.</summary>
    public float Ema { get; init; }
    public string Device { get; init; } = "cpu";
    public string Output { get; init; } = "runs/fashion-mnist";
    public string? Resume { get; init; }
    public string? EvaluateCheckpoint { get; init; }
    public string? DataDirectory { get; init; }
    public bool Embedded { get; init; }
    /// <summary>flip-shift, flip or none.</summary>
    public string AugmentName { get; init; } = "flip";
    /// <summary>The largest shift of flip-shift, in pixels.</summary>
    public int Shift { get; init; } = 2;
    public Augmentation Augment => AugmentName switch
    {
        "flip-shift" => new Augmentation(Shift, horizontalFlip: true),
        "flip" => Augmentation.Flip,
        _ => Augmentation.None,
    };
    /// <summary>Test-time augmentation: flip scores a test image by the mean logits of it and its mirror; none by its own.</summary>
    public bool FlipAverage { get; init; }
    public bool Json { get; init; }
    /// <summary>Print the model's layers, parameters, FLOPs and activation memory (known at compile time) and exit.</summary>
    public bool Summary { get; init; }
    /// <summary>After training (or --eval), analyse the heads: entropy, similarity, importance, with plots.</summary>
    public bool Analyse { get; init; }

    public const string Usage = """
        usage: FashionMnist [options]
          --epochs N          training epochs (default 4)
          --batch N           batch size (default 128)
          --lr X              peak learning rate of AdamW, warmup + cosine (default 1e-3)
          --weight-decay X    AdamW weight decay, not applied to norms, biases, positions (default 0.05)
          --beta2 X           AdamW's decay of its second-moment average, in (0, 1) (default 0.999)
          --label-smoothing X (default 0.1)
          --seed N            seeds initialisation, shuffling and dropout (default 0)
          --schedule NAME     cosine (linear warmup over 10%, then cosine) | onecycle (PyTorch's OneCycleLR, pct_start 0.1)
          --clip X            clip the global gradient norm to X; 0 turns clipping off (default 1)
          --ema X             evaluate, plot and save a moving average of the weights with decay X (0.999 averages
                              about the last thousand steps), written to model-ema.safetensors; 0 turns it off (default 0)
          --augment NAME      flip-shift (random horizontal flip and shifts of up to --shift pixels) | flip | none (default flip)
          --shift N           the largest shift of flip-shift, 1 to 8 pixels (default 2)
          --tta NAME          test-time augmentation: flip (score each test image by the mean logits of it and its
                              mirror; single-view accuracy is reported beside) | none (default none)
          --device NAME       cpu | cuda | cuda-tf32 | opencl | sim | best (default cpu)
          --out DIR           where checkpoints and plots go (default runs/fashion-mnist)
          --resume FILE       continue training from a checkpoint written by this program (and its optimizer.safetensors)
          --eval FILE         only evaluate a checkpoint on the test set
          --data DIR          Fashion-MNIST IDX files (default: Debian's /usr/share/datasets/fashion-mnist, else the embedded subset)
          --embedded          use the embedded subset even when the full set is installed
          --json              also print one JSON line per epoch (for bench/fashion-recipe.sh)
          --analyse           after training (or with --eval) analyse every head on the test set: attention entropy,
                              head similarity tr(AᵢᵀAⱼ)/(‖Aᵢ‖‖Aⱼ‖), importance E|∂L/∂W_h ⊙ W_h|; tables and PNGs in --out
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
                "--epochs" => o with { Epochs = PositiveInt("--epochs", Next()) },
                "--batch" => o with { Batch = PositiveInt("--batch", Next()) },
                "--lr" => o with { LearningRate = PositiveFloat("--lr", Next()) },
                "--weight-decay" => o with { WeightDecay = Float("--weight-decay", Next()) },
                "--beta2" => o with
                {
                    Beta2 = Float("--beta2", Next()) is var b2 and > 0 and < 1 ? b2
                        : throw new ArgumentException($"--beta2 must be between 0 and 1 (exclusive) but got {args[i]}."),
                },
                "--label-smoothing" => o with { LabelSmoothing = Float("--label-smoothing", Next()) },
                "--seed" => o with { Seed = Int("--seed", Next()) },
                "--schedule" => o with { Schedule = Next() is var sc && sc is "cosine" or "onecycle" ? sc : throw new ArgumentException($"--schedule expects cosine or onecycle but got '{sc}'.") },
                "--clip" => o with { Clip = Float("--clip", Next()) },
                "--ema" => o with
                {
                    Ema = Float("--ema", Next()) is var d and < 1 ? d
                        : throw new ArgumentException($"--ema must be a decay below 1 (0 turns it off) but got {args[i]}."),
                },
                "--augment" => o with
                {
                    AugmentName = Next() is var a && a is "flip-shift" or "flip" or "none" ? a
                        : throw new ArgumentException($"--augment expects flip-shift, flip or none but got '{a}'."),
                },
                "--shift" => o with
                {
                    Shift = PositiveInt("--shift", Next()) is var sh and <= 8 ? sh
                        : throw new ArgumentException($"--shift must be 1 to 8 pixels (a 28×28 image) but got {args[i]}."),
                },
                "--tta" => o with
                {
                    FlipAverage = Next() switch
                    {
                        "flip" => true,
                        "none" => false,
                        var t => throw new ArgumentException($"--tta expects flip or none but got '{t}'."),
                    },
                },
                "--device" => o with { Device = Next() },
                "--out" => o with { Output = Next() },
                "--resume" => o with { Resume = Next() },
                "--eval" => o with { EvaluateCheckpoint = Next() },
                "--data" => o with { DataDirectory = Next() },
                "--embedded" => o with { Embedded = true },
                "--json" => o with { Json = true },
                "--summary" => o with { Summary = true },
                "--analyse" or "--analyze" => o with { Analyse = true },
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
