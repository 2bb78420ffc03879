using System;
using ModelGen.Cpu;
using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Group normalization as PyTorch's GroupNorm: the C channels are split into G groups of C/G consecutive channels, and each sample's
/// group is normalized over its n = (C/G)·H·W values with the biased variance: y = (x − mean_bg)·rstd_bg·gamma_c + beta_c,
/// rstd_bg = 1/sqrt(var_bg + eps). G must divide C.
/// x (batch, C, H, W), gamma (C), beta (C) -> y (batch, C, H, W); mean (batch, G) and rstd (batch, G) are saved for backward.
/// Backward accumulates into dx, dgamma and dbeta. With x̂ = (x − mean)·rstd and ĝ = dy·gamma_c:
/// dx += rstd·(ĝ − mean_group(ĝ) − x̂·mean_group(ĝ·x̂)), dgamma_c += Σ_{b, H, W} dy·x̂, dbeta_c += Σ_{b, H, W} dy.
/// </summary>
public static class GroupNorm
{
    public static void Forward(float[] y, float[] mean, float[] rstd, float[] x, float[] gamma, float[] beta,
        int batch, int channels, int height, int width, int groups, float eps)
    {
        int per = Validate(channels, groups), plane = height * width, n = per * plane;
        Workers.For(batch * groups, bg =>
        {
            int g = bg % groups, first = (bg / groups) * channels + g * per;
            double sum = 0;
            for (int c = 0; c < per; c++) sum += TensorPrimitives.Sum(x.AsSpan((first + c) * plane, plane));
            float m = (float)(sum / n);
            double sq = 0;
            for (int c = 0; c < per; c++) sq += Planes.SquaredDeviation(x.AsSpan((first + c) * plane, plane), m);
            float s = (float)(1 / Math.Sqrt(sq / n + eps));
            mean[bg] = m;
            rstd[bg] = s;
            for (int c = 0; c < per; c++)
            {
                int ch = g * per + c, o = (first + c) * plane;
                Planes.Normalize(y.AsSpan(o, plane), x.AsSpan(o, plane), m, s * gamma[ch], beta[ch]);
            }
        });
    }

    public static void Backward(float[] dx, float[] dgamma, float[] dbeta, float[] dy, float[] x, float[] mean, float[] rstd, float[] gamma,
        int batch, int channels, int height, int width, int groups)
    {
        int per = Validate(channels, groups), plane = height * width, n = per * plane;
        // Per (sample, channel) sums Σ dy and Σ dy·x̂: dx needs them per group, dgamma/dbeta summed over samples in a fixed order.
        float[] sums = ArrayPool<float>.Shared.Rent(2 * batch * channels);
        try
        {
            Workers.For(batch * groups, bg =>
            {
                int b = bg / groups, g = bg % groups, first = b * channels + g * per;
                float m = mean[bg], s = rstd[bg];
                double groupD = 0, groupDN = 0;
                for (int c = 0; c < per; c++)
                {
                    int o = (first + c) * plane;
                    var (d, dn) = Planes.Projections(dy.AsSpan(o, plane), x.AsSpan(o, plane), m, s);
                    sums[2 * (first + c)] = d;
                    sums[2 * (first + c) + 1] = dn;
                    float gc = gamma[g * per + c];
                    groupD += gc * (double)d;
                    groupDN += gc * (double)dn;
                }
                float meanD = (float)(groupD / n), meanDN = (float)(groupDN / n);
                for (int c = 0; c < per; c++)
                {
                    int o = (first + c) * plane;
                    InputGradient(dx.AsSpan(o, plane), dy.AsSpan(o, plane), x.AsSpan(o, plane), m, s, gamma[g * per + c], meanD, meanDN);
                }
            });
            for (int c = 0; c < channels; c++)
            {
                float d = 0f, dn = 0f;
                for (int b = 0; b < batch; b++)
                {
                    d += sums[2 * (b * channels + c)];
                    dn += sums[2 * (b * channels + c) + 1];
                }
                dgamma[c] += dn;
                dbeta[c] += d;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(sums);
        }
    }

    static int Validate(int channels, int groups)
    {
        if (groups < 1 || channels % groups != 0)
            throw new ArgumentException($"GroupNorm: {groups} groups do not divide {channels} channels", nameof(groups));
        return channels / groups;
    }

    /// <summary>dx += (dy·gamma − meanD − x̂·meanDN)·s, x̂ = (x − m)·s.</summary>
    static void InputGradient(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float m, float s, float gamma, float meanD, float meanDN)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var dys = MemoryMarshal.Cast<float, Vector<float>>(dy);
            var dxs = MemoryMarshal.Cast<float, Vector<float>>(dx);
            var mv = new Vector<float>(m);
            var sv = new Vector<float>(s);
            var gv = new Vector<float>(gamma);
            var md = new Vector<float>(meanD);
            var mdn = new Vector<float>(meanDN);
            for (int k = 0; k < xs.Length; k++) dxs[k] += (dys[k] * gv - md - (xs[k] - mv) * sv * mdn) * sv;
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) dx[i] += (dy[i] * gamma - meanD - (x[i] - m) * s * meanDN) * s;
    }

    // Device kernels: the statistics are a group of 256 threads per (sample, group) striding over its C/G·H·W values, the
    // parameter gradients a group per channel striding over batch and plane; each sum meets in ColumnSums.GroupSum's fixed tree.

    public static KernelConfig ForwardStatsKernelConfig(int batch, int groups) => ColumnSums.GroupPer(batch * groups);

    /// <summary>mean and rstd of sample b's group g (two passes: the mean, then the squared deviations from it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardStatsKernel(ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> x,
        int batch, int channels, int height, int width, int groups, float eps)
    {
        var shared = SharedMemory.Allocate<float>(ColumnSums.GroupThreads);
        int bg = Grid.IdxX, n = channels / groups * height * width;
        // A group's channels are consecutive, so its values are one contiguous run of n.
        long o = (long)bg * n;
        float sum = 0f;
        for (int j = Group.IdxX; j < n; j += ColumnSums.GroupThreads) sum += x[o + j];
        float m = ColumnSums.GroupSum(shared, sum) / n;
        float sq = 0f;
        for (int j = Group.IdxX; j < n; j += ColumnSums.GroupThreads)
        {
            float d = x[o + j] - m;
            sq += d * d;
        }
        float variance = ColumnSums.GroupSum(shared, sq) / n;
        if (Group.IdxX != 0) return;
        mean[bg] = m;
        rstd[bg] = 1f / MathF.Sqrt(variance + eps);
    }

    /// <summary>Extent: batch * C * H * W (one thread per element), after ForwardStatsKernel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NormalizeKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> gamma, ArrayView<float> beta, int batch, int channels, int height, int width, int groups)
    {
        int plane = height * width;
        if (i >= batch * channels * plane) return;
        int bc = i / plane, c = bc % channels, bg = bc / (channels / groups);
        y[i] = (x[i] - mean[bg]) * rstd[bg] * gamma[c] + beta[c];
    }

    public static KernelConfig BackwardStatsKernelConfig(int batch, int groups) => ColumnSums.GroupPer(batch * groups);

    /// <summary>
    /// A group per sample's group. Writes sums (2·batch·G scratch): mean over the group of dy·gamma at [2·bg] and of
    /// dy·gamma·x̂ at [2·bg + 1], for BackwardInputKernel, which runs after it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardStatsKernel(ArrayView<float> sums, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, int batch, int channels, int height, int width, int groups)
    {
        var shared = SharedMemory.Allocate<float>(ColumnSums.GroupThreads);
        int bg = Grid.IdxX, per = channels / groups, plane = height * width, n = per * plane;
        int g = bg % groups;
        long o = (long)bg * n;
        float m = mean[bg], s = rstd[bg];
        float sd = 0f, sdn = 0f;
        for (int j = Group.IdxX; j < n; j += ColumnSums.GroupThreads)
        {
            float d = dy[o + j] * gamma[g * per + j / plane];
            sd += d;
            sdn += d * ((x[o + j] - m) * s);
        }
        float totalD = ColumnSums.GroupSum(shared, sd), totalDN = ColumnSums.GroupSum(shared, sdn);
        if (Group.IdxX != 0) return;
        sums[2 * bg] = totalD / n;
        sums[2 * bg + 1] = totalDN / n;
    }

    /// <summary>Extent: batch * C * H * W (one thread per element), after BackwardStatsKernel filled sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, ArrayView<float> sums, int batch, int channels, int height, int width, int groups)
    {
        int plane = height * width;
        if (i >= batch * channels * plane) return;
        int bc = i / plane, c = bc % channels, bg = bc / (channels / groups);
        float s = rstd[bg];
        dx[i] += (dy[i] * gamma[c] - sums[2 * bg] - (x[i] - mean[bg]) * s * sums[2 * bg + 1]) * s;
    }

    public static KernelConfig BackwardParamsKernelConfig(int channels) => ColumnSums.GroupPer(channels);

    /// <summary>A group per channel: dgamma[c] += Σ_{b, H, W} dy·x̂, dbeta[c] += Σ_{b, H, W} dy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardParamsKernel(ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> rstd, int batch, int channels, int height, int width, int groups)
    {
        var shared = SharedMemory.Allocate<float>(ColumnSums.GroupThreads);
        int c = Grid.IdxX, plane = height * width, g = c / (channels / groups), count = batch * plane;
        float sg = 0f, sb = 0f;
        for (int e = Group.IdxX; e < count; e += ColumnSums.GroupThreads)
        {
            int b = e / plane, bg = b * groups + g;
            long at = (long)(b * channels + c) * plane + e - b * plane;
            float d = dy[at];
            sg += d * ((x[at] - mean[bg]) * rstd[bg]);
            sb += d;
        }
        float totalG = ColumnSums.GroupSum(shared, sg), totalB = ColumnSums.GroupSum(shared, sb);
        if (Group.IdxX != 0) return;
        dgamma[c] += totalG;
        dbeta[c] += totalB;
    }
}
