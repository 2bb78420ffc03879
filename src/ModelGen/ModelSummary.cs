using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace ModelGen;

/// <summary>One declared layer's cost, computed by the generator from the constant sizes: its output shape per sample, trainable
/// parameters, forward FLOPs per sample (2 per multiply-add in matmuls, convolutions and attention; 1 per output element of
/// other ops; 0 for ops that only move data) and the bytes of the activations it keeps per sample (float32).</summary>
public sealed record LayerSummary(string Path, string Kind, IReadOnlyList<int> OutputShape, long Parameters, long Flops, long ActivationBytes);

/// <summary>A model's cost, known when its code was generated — no forward pass, no tracing. <see cref="ToString"/> prints the table.</summary>
public sealed class ModelSummary
{
    public ModelSummary(string model, IReadOnlyList<LayerSummary> layers)
    {
        Model = model;
        Layers = layers;
    }

    public string Model { get; }

    public IReadOnlyList<LayerSummary> Layers { get; }

    public long Parameters => Layers.Sum(l => l.Parameters);

    /// <summary>Forward FLOPs per sample; a training step costs about three times as much (forward, and backward to inputs and weights).</summary>
    public long Flops => Layers.Sum(l => l.Flops);

    /// <summary>Activations kept per sample in a forward pass; training keeps a gradient of about the same size beside them.</summary>
    public long ActivationBytes => Layers.Sum(l => l.ActivationBytes);

    /// <summary>The table: layer, kind, output shape, parameters, FLOPs and activation bytes per sample, and the totals.</summary>
    public override string ToString()
    {
        var rows = new List<string[]> { new[] { "layer", "kind", "output", "parameters", "FLOPs/sample", "activations/sample" } };
        foreach (var l in Layers)
            rows.Add(new[] { l.Path, l.Kind, "(B, " + string.Join(", ", l.OutputShape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")", Count(l.Parameters), Count(l.Flops), Bytes(l.ActivationBytes) });
        rows.Add(new[] { "total", Model, "", Count(Parameters), Count(Flops), Bytes(ActivationBytes) });
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new StringBuilder();
        for (int r = 0; r < rows.Count; r++)
        {
            if (r == rows.Count - 1) sb.Append(new string('-', widths.Sum() + 2 * (widths.Length - 1))).Append('\n');
            for (int c = 0; c < widths.Length; c++)
            {
                bool number = c >= 3;
                string cell = number ? rows[r][c].PadLeft(widths[c]) : rows[r][c].PadRight(widths[c]);
                sb.Append(cell).Append(c == widths.Length - 1 ? "" : "  ");
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>1 234 567 → "1.23M".</summary>
    public static string Count(long n) => n switch
    {
        >= 1_000_000_000 => (n / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "G",
        >= 1_000_000 => (n / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (n / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        _ => n.ToString(CultureInfo.InvariantCulture),
    };

    static string Bytes(long n) => n switch
    {
        >= 1 << 20 => (n / (double)(1 << 20)).ToString("0.##", CultureInfo.InvariantCulture) + " MiB",
        >= 1 << 10 => (n / (double)(1 << 10)).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        _ => n.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
