using System;
using ModelGen.Cpu;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Batch normalization per channel as PyTorch's BatchNorm2d: y = (x − mean_c)·rstd_c·gamma_c + beta_c, rstd_c = 1/sqrt(var_c + eps).
/// Training: mean_c and the biased var_c are taken over (batch, H, W), n = batch·H·W values (n must exceed 1), and the running
/// statistics move towards them: running_mean ← (1 − momentum)·running_mean + momentum·mean_c,
/// running_var ← (1 − momentum)·running_var + momentum·var_c·n/(n − 1) (the unbiased variance, as PyTorch).
/// Eval: running_mean and running_var are used as they are and left unchanged.
/// x (batch, C, H, W), gamma, beta, runningMean, runningVar (C) -> y (batch, C, H, W); mean (C) and rstd (C) are written with the
/// statistics used (the batch's in training, the running ones in eval) and are what Backward reads.
/// Backward accumulates into dx, dgamma and dbeta. With x̂ = (x − mean)·rstd and sums over (batch, H, W) of the channel:
/// dgamma += Σ dy·x̂, dbeta += Σ dy; training: dx += gamma·rstd·(dy − Σdy/n − x̂·Σ(dy·x̂)/n); eval: dx += gamma·rstd·dy.
/// </summary>
public static class BatchNorm2d
{
    public static void Forward(float[] y, float[] mean, float[] rstd, float[] runningMean, float[] runningVar, float[] x, float[] gamma, float[] beta,
        int batch, int channels, int height, int width, float eps, float momentum, bool training)
    {
        int plane = height * width;
        long n = (long)batch * plane;
        if (training && n < 2)
            throw new ArgumentException($"BatchNorm2d: training needs more than one value per channel, got batch {batch} of {height}x{width}", nameof(x));
        Workers.For(channels, c =>
        {
            float m, s;
            if (training)
            {
                double sum = 0;
                for (int b = 0; b < batch; b++) sum += TensorPrimitives.Sum(x.AsSpan((b * channels + c) * plane, plane));
                double dm = sum / n;
                double sq = 0;
                for (int b = 0; b < batch; b++) sq += Planes.SquaredDeviation(x.AsSpan((b * channels + c) * plane, plane), (float)dm);
                double variance = sq / n;
                m = (float)dm;
                s = (float)(1 / Math.Sqrt(variance + eps));
                runningMean[c] = (1 - momentum) * runningMean[c] + momentum * m;
                runningVar[c] = (1 - momentum) * runningVar[c] + momentum * (float)(variance * n / (n - 1));
            }
            else
            {
                m = runningMean[c];
                s = 1f / MathF.Sqrt(runningVar[c] + eps);
            }
            mean[c] = m;
            rstd[c] = s;
            float scale = s * gamma[c], shift = beta[c];
            for (int b = 0; b < batch; b++)
            {
                int o = (b * channels + c) * plane;
                Planes.Normalize(y.AsSpan(o, plane), x.AsSpan(o, plane), m, scale, shift);
            }
        });
    }

    public static void Backward(float[] dx, float[] dgamma, float[] dbeta, float[] dy, float[] x, float[] mean, float[] rstd, float[] gamma,
        int batch, int channels, int height, int width, bool training)
    {
        int plane = height * width;
        long n = (long)batch * plane;
        Workers.For(channels, c =>
        {
            float m = mean[c], s = rstd[c];
            double sumD = 0, sumDN = 0;
            for (int b = 0; b < batch; b++)
            {
                int o = (b * channels + c) * plane;
                var (d, dn) = Planes.Projections(dy.AsSpan(o, plane), x.AsSpan(o, plane), m, s);
                sumD += d;
                sumDN += dn;
            }
            dgamma[c] += (float)sumDN;
            dbeta[c] += (float)sumD;
            float scale = gamma[c] * s;
            float meanD = training ? (float)(sumD / n) : 0f, meanDN = training ? (float)(sumDN / n) : 0f;
            for (int b = 0; b < batch; b++)
            {
                int o = (b * channels + c) * plane;
                InputGradient(dx.AsSpan(o, plane), dy.AsSpan(o, plane), x.AsSpan(o, plane), m, s, scale, meanD, meanDN);
            }
        });
    }

    /// <summary>dx += (dy − meanD − x̂·meanDN)·scale, x̂ = (x − m)·s.</summary>
    static void InputGradient(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, float m, float s, float scale, float meanD, float meanDN)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var xs = MemoryMarshal.Cast<float, Vector<float>>(x);
            var dys = MemoryMarshal.Cast<float, Vector<float>>(dy);
            var dxs = MemoryMarshal.Cast<float, Vector<float>>(dx);
            var mv = new Vector<float>(m);
            var sv = new Vector<float>(s);
            var cv = new Vector<float>(scale);
            var md = new Vector<float>(meanD);
            var mdn = new Vector<float>(meanDN);
            for (int k = 0; k < xs.Length; k++) dxs[k] += (dys[k] - md - (xs[k] - mv) * sv * mdn) * cv;
            i = xs.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) dx[i] += (dy[i] - meanD - (x[i] - m) * s * meanDN) * scale;
    }

    // Device kernels: the per-channel statistics and parameter gradients are a group (256 threads) per channel, striding over
    // the batch and the plane and meeting in a fixed-order shared-memory tree (ColumnSums.GroupSum); the elementwise passes
    // are a thread per element.

    public static KernelConfig StatsKernelConfig(int channels) => ColumnSums.GroupPer(channels);

    /// <summary>A group per channel. Training: the batch statistics (two passes: mean, then the variance about it) and the running
    /// statistics' update; evaluation (a mode known only at run time): mean and rstd from the running statistics.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StatsKernel(ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> runningMean, ArrayView<float> runningVar,
        ArrayView<float> x, int batch, int channels, int height, int width, float eps, float momentum, bool training)
    {
        int c = Grid.IdxX, t = Group.IdxX;
        if (!training)
        {
            if (t != 0) return;
            mean[c] = runningMean[c];
            rstd[c] = 1f / MathF.Sqrt(runningVar[c] + eps);
            return;
        }
        var shared = SharedMemory.Allocate<float>(ColumnSums.GroupThreads);
        int plane = height * width, n = batch * plane;
        float sum = 0f;
        for (int e = t; e < n; e += ColumnSums.GroupThreads) sum += x[Element(e, plane, channels, c)];
        float m = ColumnSums.GroupSum(shared, sum) / n;
        float sq = 0f;
        for (int e = t; e < n; e += ColumnSums.GroupThreads)
        {
            float d = x[Element(e, plane, channels, c)] - m;
            sq += d * d;
        }
        sq = ColumnSums.GroupSum(shared, sq);
        if (t != 0) return;
        mean[c] = m;
        rstd[c] = 1f / MathF.Sqrt(sq / n + eps);
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * m;
        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * (sq / (n - 1));
    }

    /// <summary>The index of element e (of batch·plane) of channel c in (B, C, H, W).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static long Element(int e, int plane, int channels, int c)
    {
        int b = e / plane;
        return ((long)b * channels + c) * plane + (e - b * plane);
    }

    /// <summary>Extent: batch * C * H * W (one thread per element), after StatsKernel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void NormalizeKernel(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> gamma, ArrayView<float> beta, int batch, int channels, int height, int width)
    {
        int plane = height * width;
        if (i >= batch * channels * plane) return;
        int c = (i / plane) % channels;
        y[i] = (x[i] - mean[c]) * rstd[c] * gamma[c] + beta[c];
    }

    public static KernelConfig BackwardParamsKernelConfig(int channels) => ColumnSums.GroupPer(channels);

    /// <summary>
    /// A group per channel. dgamma += Σ dy·x̂, dbeta += Σ dy, and the same two sums are written to sums (2·C scratch: Σ dy at
    /// [c], Σ dy·x̂ at [C + c]) for BackwardInputKernel, which runs after it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardParamsKernel(ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> sums, ArrayView<float> dy,
        ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, int batch, int channels, int height, int width)
    {
        var shared = SharedMemory.Allocate<float>(ColumnSums.GroupThreads);
        int c = Grid.IdxX, t = Group.IdxX, plane = height * width, n = batch * plane;
        float m = mean[c], s = rstd[c];
        float sd = 0f, sdn = 0f;
        for (int e = t; e < n; e += ColumnSums.GroupThreads)
        {
            long at = Element(e, plane, channels, c);
            float d = dy[at];
            sd += d;
            sdn += d * ((x[at] - m) * s);
        }
        sd = ColumnSums.GroupSum(shared, sd);
        sdn = ColumnSums.GroupSum(shared, sdn);
        if (t != 0) return;
        sums[c] = sd;
        sums[channels + c] = sdn;
        dgamma[c] += sdn;
        dbeta[c] += sd;
    }

    /// <summary>Extent: batch * C * H * W (one thread per element), after BackwardParamsKernel filled sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> gamma, ArrayView<float> sums, int batch, int channels, int height, int width, bool training)
    {
        int plane = height * width;
        if (i >= batch * channels * plane) return;
        int c = (i / plane) % channels, n = batch * plane;
        float s = rstd[c];
        float g = dy[i];
        if (training) g -= (sums[c] + (x[i] - mean[c]) * s * sums[channels + c]) / n;
        dx[i] += g * gamma[c] * s;
    }
}
