using System;
using System.Linq;
using ModelGen.Data;
using SkiaSharp;

namespace ModelGen.Examples.Captioning;

/// <summary>captions.png: a row per canvas, the canvas with its true and decoded classes, then for every decoding step the
/// last decoder layer's cross-attention over the 8×8 patches (mean over heads) laid over the canvas, captioned with the token
/// that step produced.</summary>
internal static class Pictures
{
    const int Scale = 3, Margin = 8, Caption = 30;

    public static void Draw(string path, GarmentCaptioner model, SegmentationSet test, Dataset source, System.Collections.Generic.List<int[]> decoded, int count)
    {
        int size = test.Size, cell = size * Scale, columns = 1 + Captions.Length;
        var indices = Enumerable.Range(0, count).ToArray();
        var x = new float[count * test.Pixels];
        test.Normalize(indices, x);
        // The decoded prefix through a full forward gives the attention of each step (equal to the cached steps').
        var ids = new float[count * Captions.Length];
        var produced = new int[count][];
        for (int i = 0; i < count; i++)
        {
            produced[i] = decoded[i].Length < Captions.MaxGarments ? decoded[i].Append(Captions.Eos).ToArray() : decoded[i];
            ids.AsSpan(i * Captions.Length, Captions.Length).Fill(Captions.Pad);
            ids[i * Captions.Length] = Captions.Bos;
            for (int t = 0; t < decoded[i].Length && t + 1 < Captions.Length; t++) ids[i * Captions.Length + t + 1] = decoded[i][t];
        }
        model.Training = false;
        model.Forward(new Tensor(new[] { count, 1, size, size }, x), new Tensor(new[] { count, Captions.Length }, ids));
        var probs = model.Intermediate("decoder.layers.1.cross_attn.heads.probs")
            ?? throw new InvalidOperationException("The decoder's cross-attention probabilities are not kept.");
        int heads = probs.Shape[1], queries = probs.Shape[2], keys = probs.Shape[3], grid = (int)Math.Round(Math.Sqrt(keys));

        int width = Margin + columns * (cell + Margin), height = Margin + count * (cell + 2 * Caption + Margin);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 12);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            for (int i = 0; i < count; i++)
            {
                int top = Margin + i * (cell + 2 * Caption + Margin);
                string truth = string.Join(", ", Captions.Garments(test, source, i).Select(Captions.Name));
                string got = string.Join(", ", decoded[i].Select(Captions.Name));
                canvas.DrawText($"canvas {i}: truth {truth}", Margin, top + 12, font, ink);
                canvas.DrawText($"decoded {got}", Margin, top + 26, font, ink);
                for (int column = 0; column < columns; column++)
                {
                    int left = Margin + column * (cell + Margin), step = column - 1;
                    if (step >= produced[i].Length) break;
                    float max = 0;
                    var map = new float[keys];
                    if (step >= 0)
                    {
                        for (int k = 0; k < keys; k++)
                        {
                            for (int h = 0; h < heads; h++) map[k] += probs.Data[((i * heads + h) * queries + step) * keys + k] / heads;
                            max = Math.Max(max, map[k]);
                        }
                        canvas.DrawText($"step {step + 1}: {Captions.Name(produced[i][step])}", left, top + Caption + cell + 14, font, ink);
                    }
                    for (int py = 0; py < cell; py++)
                        for (int px = 0; px < cell; px++)
                        {
                            int y = py / Scale, xx = px / Scale;
                            byte v = test.Images[i * test.Pixels + y * size + xx];
                            var color = new SKColor(v, v, v);
                            if (step >= 0 && max > 0)
                            {
                                float a = map[(y * grid / size) * grid + xx * grid / size] / max;
                                color = new SKColor((byte)Math.Min(255, v * (1 - a) + 255 * a), (byte)(v * (1 - a)), (byte)(v * (1 - a * 0.6f)));
                            }
                            bitmap.SetPixel(left + px, top + Caption + py, color);
                        }
                }
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        using var file = System.IO.File.Create(path);
        data.SaveTo(file);
    }
}
