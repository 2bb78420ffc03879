using System;
using System.IO;
using SkiaSharp;

namespace ModelGen.Examples.FashionMnist;

/// <summary>
/// Draws, for a few test images, the image and then the class token's attention over the patches in each head of the
/// last layer, overlaid on the image: a row per image, a column per head.
/// </summary>
internal static class AttentionMaps
{
    const int Scale = 5, Margin = 6, Caption = 16;

    /// <param name="images">(n, 28·28) raw pixels 0..255.</param>
    /// <param name="probs">(n, heads, tokens, tokens) with token 0 the class token and tokens 1.. the patches in row-major order.</param>
    public static void Save(string path, byte[][] images, Tensor probs, int grid, string[] captions)
    {
        int n = probs.Shape[0], heads = probs.Shape[1], tokens = probs.Shape[2];
        if (tokens != grid * grid + 1) throw new ArgumentException($"{tokens} tokens do not make a class token and a {grid}×{grid} grid.");
        int cell = 28 * Scale, width = Margin + (heads + 1) * (cell + Margin), height = Margin + n * (cell + Caption + Margin);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 12);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            for (int i = 0; i < n; i++)
            {
                int top = Margin + i * (cell + Caption + Margin);
                canvas.DrawText(captions[i], Margin, top + 12, font, ink);
                for (int column = 0; column <= heads; column++)
                {
                    int left = Margin + column * (cell + Margin);
                    for (int y = 0; y < cell; y++)
                        for (int x = 0; x < cell; x++)
                        {
                            float grey = images[i][(y / Scale) * 28 + x / Scale] / 255f;
                            SKColor color;
                            if (column == 0) color = Grey(grey);
                            else
                            {
                                // Nearest patch's attention, normalised per head so the strongest patch is full colour.
                                int patch = (y * grid / cell) * grid + x * grid / cell;
                                float a = probs[i, column - 1, 0, 1 + patch] / MaxOverPatches(probs, i, column - 1, grid);
                                color = Blend(Grey(grey * 0.6f), Heat(a), 0.25f + 0.6f * a);
                            }
                            bitmap.SetPixel(left + x, top + Caption + y, color);
                        }
                }
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    static float MaxOverPatches(Tensor probs, int i, int head, int grid)
    {
        float max = 1e-12f;
        for (int p = 0; p < grid * grid; p++) max = Math.Max(max, probs[i, head, 0, 1 + p]);
        return max;
    }

    static SKColor Grey(float v)
    {
        byte b = (byte)Math.Clamp(v * 255f, 0f, 255f);
        return new SKColor(b, b, b);
    }

    /// <summary>Black → red → yellow → white.</summary>
    static SKColor Heat(float a)
    {
        a = Math.Clamp(a, 0f, 1f);
        float r = Math.Clamp(3f * a, 0f, 1f), g = Math.Clamp(3f * a - 1f, 0f, 1f), b = Math.Clamp(3f * a - 2f, 0f, 1f);
        return new SKColor((byte)(r * 255), (byte)(g * 255), (byte)(b * 255));
    }

    static SKColor Blend(SKColor under, SKColor over, float alpha) => new(
        (byte)(under.Red * (1 - alpha) + over.Red * alpha),
        (byte)(under.Green * (1 - alpha) + over.Green * alpha),
        (byte)(under.Blue * (1 - alpha) + over.Blue * alpha));
}
