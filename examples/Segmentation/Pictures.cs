using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SkiaSharp;

namespace ModelGen.Examples.Segmentation;

/// <summary>PNG output: canvases beside their ground truth and prediction, and the training curves.</summary>
internal static class Pictures
{
    const int Scale = 3, Margin = 6, Caption = 16;

    /// <summary>One colour per class: background black, then ten distinct hues.</summary>
    static readonly SKColor[] Palette =
    {
        SKColors.Black, new(230, 25, 75), new(60, 180, 75), new(255, 225, 25), new(0, 130, 200), new(245, 130, 48),
        new(145, 30, 180), new(70, 240, 240), new(240, 50, 230), new(210, 245, 60), new(250, 190, 212),
    };

    /// <summary>A row per canvas: the image, the true classes, the predicted classes (size×size each, NCHW bytes).</summary>
    public static void Predictions(string path, byte[] images, byte[] truth, byte[] predicted, int count, int size, string[] captions)
    {
        int cell = size * Scale, width = Margin + 3 * (cell + Margin), height = Margin + count * (cell + Caption + Margin) + 2 * Caption;
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 12);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            for (int i = 0; i < count; i++)
            {
                int top = Margin + i * (cell + Caption + Margin);
                canvas.DrawText(captions[i], Margin, top + 12, font, ink);
                for (int column = 0; column < 3; column++)
                {
                    int left = Margin + column * (cell + Margin);
                    for (int y = 0; y < cell; y++)
                        for (int x = 0; x < cell; x++)
                        {
                            int p = i * size * size + (y / Scale) * size + x / Scale;
                            var color = column switch
                            {
                                0 => new SKColor(images[p], images[p], images[p]),
                                1 => Palette[truth[p] % Palette.Length],
                                _ => Palette[predicted[p] % Palette.Length],
                            };
                            bitmap.SetPixel(left + x, top + Caption + y, color);
                        }
                }
            }
            // Legend: the class colours.
            int legendTop = height - 2 * Caption + 2, at = Margin;
            for (int c = 0; c < Palette.Length && c < ModelGen.Data.GarmentCanvas.ClassNames.Length; c++)
            {
                using var swatch = new SKPaint { Color = Palette[c] };
                string name = ModelGen.Data.GarmentCanvas.ClassNames[c];
                float textWidth = font.MeasureText(name);
                if (at + 14 + textWidth > width) { legendTop += Caption; at = Margin; }
                canvas.DrawRect(at, legendTop, 10, 10, swatch);
                canvas.DrawText(name, at + 13, legendTop + 10, font, ink);
                at += (int)(16 + textWidth + 8);
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    /// <summary>loss.png (train and test loss) and miou.png (test pixel accuracy and mean IoU) per epoch.</summary>
    public static void Curves(IReadOnlyList<EpochResult> history, string directory)
    {
        if (history.Count == 0) return;
        double[] epochs = history.Select(r => (double)r.Epoch).ToArray();
        Save(Path.Combine(directory, "loss.png"), "per-pixel cross-entropy", epochs, ("train", history.Select(r => r.TrainLoss)), ("test", history.Select(r => r.TestLoss)));
        Save(Path.Combine(directory, "miou.png"), "test (%)", epochs, ("pixel accuracy", history.Select(r => 100 * r.PixelAccuracy)), ("mean IoU", history.Select(r => 100 * r.MeanIoU)));
    }

    static void Save(string path, string title, double[] epochs, params (string Name, IEnumerable<double> Values)[] series)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, values) in series) plot.Add.Scatter(epochs, values.ToArray()).LegendText = name;
        plot.Title(title);
        plot.XLabel("epoch");
        plot.ShowLegend();
        plot.SavePng(path, 640, 420);
    }
}
