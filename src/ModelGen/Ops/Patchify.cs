using System;
using ModelGen.Cpu;
using System.Runtime.CompilerServices;
using ILGPU;

namespace ModelGen.Ops;

/// <summary>
/// Cuts images into non-overlapping patches, each flattened in (channel, row, column) order — the layout of a
/// Conv2d weight (D, C, P, P) — so a patch embedding is Patchify followed by Linear.
/// x (batch, C, H, W) -> y (batch, (H/P)·(W/P), C·P·P). Backward accumulates dx += the patches of dy put back.
/// </summary>
public static class Patchify
{
    public static void Forward(float[] y, float[] x, int batch, int channels, int height, int width, int patch)
    {
        int gw = width / patch, tokens = (height / patch) * gw, features = channels * patch * patch;
        Workers.For(batch * tokens, bt =>
        {
            int b = bt / tokens, t = bt - b * tokens, py = t / gw, px = t - py * gw;
            int o = bt * features;
            for (int c = 0; c < channels; c++)
                for (int ky = 0; ky < patch; ky++)
                {
                    int src = ((b * channels + c) * height + py * patch + ky) * width + px * patch;
                    Array.Copy(x, src, y, o, patch);
                    o += patch;
                }
        });
    }

    public static void Backward(float[] dx, float[] dy, int batch, int channels, int height, int width, int patch)
    {
        int gw = width / patch, tokens = (height / patch) * gw, features = channels * patch * patch;
        Workers.For(batch * tokens, bt =>
        {
            int b = bt / tokens, t = bt - b * tokens, py = t / gw, px = t - py * gw;
            int o = bt * features;
            for (int c = 0; c < channels; c++)
                for (int ky = 0; ky < patch; ky++)
                {
                    int dst = ((b * channels + c) * height + py * patch + ky) * width + px * patch;
                    for (int kx = 0; kx < patch; kx++) dx[dst + kx] += dy[o + kx];
                    o += patch;
                }
        });
    }

    /// <summary>Extent: batch * tokens * C·P·P (one thread per output element).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, int batch, int channels, int height, int width, int patch)
    {
        int gw = width / patch, tokens = (height / patch) * gw, features = channels * patch * patch;
        if (i >= batch * tokens * features) return;
        y[i] = x[SourceIndex(i, channels, height, width, patch, gw, tokens, features)];
    }

    /// <summary>Extent: batch * tokens * C·P·P. Patches do not overlap, so each input element has exactly one writer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, int batch, int channels, int height, int width, int patch)
    {
        int gw = width / patch, tokens = (height / patch) * gw, features = channels * patch * patch;
        if (i >= batch * tokens * features) return;
        dx[SourceIndex(i, channels, height, width, patch, gw, tokens, features)] += dy[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int SourceIndex(int i, int channels, int height, int width, int patch, int gw, int tokens, int features)
    {
        int f = i % features, bt = i / features;
        int b = bt / tokens, t = bt - b * tokens, py = t / gw, px = t - py * gw;
        int c = f / (patch * patch), r = f - c * patch * patch, ky = r / patch, kx = r - ky * patch;
        return ((b * channels + c) * height + py * patch + ky) * width + px * patch + kx;
    }
}
