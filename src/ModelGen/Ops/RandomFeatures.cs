using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Cpu;

namespace ModelGen.Ops;

/// <summary>
/// FAVOR+'s positive random features (Choromanski et al., Performer): for a head's query or key x (d), with x' = d^(−1/4)·x and
/// the rows ω_r of a projection (m, d),
/// φ(x)_r = exp(ω_r·x' − |x'|²/2 − c) / √m, so that E[φ(q)·φ(k)] ∝ exp(q·k/√d), softmax attention's kernel. The stabiliser c
/// is the largest exponent of the query's own row, or of all the keys of a (sample, head): linear attention's ratio
/// φ(q)ᵀS/φ(q)ᵀz is unchanged by either, so c is held constant in backward. x (B, N, H·d) -> φ (B, H, N, m). Backward
/// accumulates dx += d^(−1/4)·Σ_r dφ_r·φ_r·(ω_r − x'), reading the saved φ.
/// </summary>
public static class RandomFeatures
{
    /// <summary>What a Performer layer's projection is named (a buffer saved with the parameters, never trained).</summary>
    public const string ProjectionName = "projection_matrix";

    /// <summary>Orthogonal random features (m, d): blocks of d orthonormal rows (Gram–Schmidt on Gaussian rows), the last block
    /// cut to m mod d rows, each row scaled to the norm of an independent Gaussian d-vector, so every row is marginally
    /// N(0, I) while the rows of a block stay orthogonal.</summary>
    public static float[] Orthogonal(int features, int headDim, Random random)
    {
        if (features < 1) throw new ArgumentOutOfRangeException(nameof(features), features, "The feature count must be positive.");
        if (headDim < 1) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The head width must be positive.");
        ArgumentNullException.ThrowIfNull(random);
        var w = new float[(long)features * headDim];
        var block = new double[headDim * headDim];
        for (int start = 0; start < features; start += headDim)
        {
            // Gaussian rows made orthonormal in order (modified Gram–Schmidt; a degenerate row is redrawn).
            for (int r = 0; r < headDim; r++)
            {
                var row = block.AsSpan(r * headDim, headDim);
                double norm;
                do
                {
                    for (int k = 0; k < headDim; k++) row[k] = Gaussian(random);
                    for (int p = 0; p < r; p++)
                    {
                        var prior = block.AsSpan(p * headDim, headDim);
                        double dot = 0;
                        for (int k = 0; k < headDim; k++) dot += row[k] * prior[k];
                        for (int k = 0; k < headDim; k++) row[k] -= dot * prior[k];
                    }
                    norm = 0;
                    for (int k = 0; k < headDim; k++) norm += row[k] * row[k];
                    norm = Math.Sqrt(norm);
                } while (norm < 1e-6);
                for (int k = 0; k < headDim; k++) row[k] /= norm;
            }
            for (int r = 0; r < Math.Min(headDim, features - start); r++)
            {
                double length = 0;
                for (int k = 0; k < headDim; k++)
                {
                    double g = Gaussian(random);
                    length += g * g;
                }
                length = Math.Sqrt(length);
                for (int k = 0; k < headDim; k++) w[(long)(start + r) * headDim + k] = (float)(block[r * headDim + k] * length);
            }
        }
        return w;
    }

    /// <summary>Fills a projection parameter (m, d) with <see cref="Orthogonal"/> features.</summary>
    public static void Draw(Parameter projection, Random random)
    {
        ArgumentNullException.ThrowIfNull(projection);
        if (projection.Shape.Length != 2)
            throw new ArgumentException($"A feature projection is (features, head width); '{projection.Name}' is {Tensor.Format(projection.Shape)}.", nameof(projection));
        Orthogonal(projection.Shape[0], projection.Shape[1], random).CopyTo(projection.Value, 0);
        projection.MarkChanged();
    }

    /// <summary>Redraws every Performer projection of a model from <paramref name="seed"/>, in parameter order (the next forward
    /// on a device uploads them). Returns how many were redrawn.</summary>
    public static int Redraw(ParameterSet parameters, int seed) => RedrawNamed(parameters, seed, ProjectionName, Draw);

    /// <summary>Redraws every buffer (not trained) named <paramref name="name"/> or ending in "." + name from one generator seeded
    /// with <paramref name="seed"/>, in parameter order; how many.</summary>
    internal static int RedrawNamed(ParameterSet parameters, int seed, string name, Action<Parameter, Random> draw)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var random = new Random(seed);
        int count = 0;
        foreach (var p in parameters)
        {
            if (p.Trainable || !(p.Name == name || p.Name.EndsWith("." + name, StringComparison.Ordinal))) continue;
            draw(p, random);
            count++;
        }
        return count;
    }

    internal static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>φ (B, H, N, m) of x (B, N, H·d); <paramref name="keys"/>: one stabiliser per (sample, head), else one per row. The
    /// exponents of a (sample, head) are one product x·Ωᵀ (N×d by d×m). Keys marked in <paramref name="padding"/> (B, N; nonzero
    /// pads) get φ = 0, so linear attention never sees them, and take no part in the stabiliser.</summary>
    public static void Forward(float[] phi, float[] x, float[] projection, float[]? padding, int batch, int tokens, int heads, int headDim, int features, bool keys)
    {
        float normalizer = DataNormalizer(headDim), ratio = 1f / MathF.Sqrt(features);
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads;
            Gemm.MultiplySerial(false, true, tokens, features, headDim, x, b * tokens * heads * headDim + h * headDim, heads * headDim,
                projection, 0, headDim, phi, bh * tokens * features, features, accumulate: false);
            float headMax = float.NegativeInfinity;
            for (int n = 0; n < tokens; n++)
            {
                var row = phi.AsSpan((bh * tokens + n) * features, features);
                var xr = x.AsSpan((b * tokens + n) * heads * headDim + h * headDim, headDim);
                float half = 0.5f * normalizer * normalizer * TensorPrimitives.Dot(xr, xr);
                // u = ω·x' − |x'|²/2 with x' = normalizer·x.
                TensorPrimitives.Multiply(row, normalizer, row);
                TensorPrimitives.Subtract(row, half, row);
                float max = TensorPrimitives.Max(row);
                if (!keys) Exponentiate(row, max, ratio);
                else if (!Padded(padding, b, tokens, n)) headMax = MathF.Max(headMax, max);
            }
            if (!keys) return;
            var head = phi.AsSpan(bh * tokens * features, tokens * features);
            if (float.IsNegativeInfinity(headMax)) head.Clear();
            else Exponentiate(head, headMax, ratio);
            for (int n = 0; n < tokens; n++)
                if (Padded(padding, b, tokens, n)) head.Slice(n * features, features).Clear();
        });
    }

    static bool Padded(float[]? padding, int b, int tokens, int n) => padding is not null && padding[b * tokens + n] != 0f;

    static void Exponentiate(Span<float> row, float shift, float ratio)
    {
        TensorPrimitives.Subtract(row, shift, row);
        TensorPrimitives.Exp(row, row);
        TensorPrimitives.Multiply(row, ratio, row);
    }

    [ThreadStatic] static float[]? t_weights;
    [ThreadStatic] static float[]? t_sums;

    /// <summary>dx += d^(−1/4)·Σ_r dφ_r·φ_r·(ω_r − x'), a task per (sample, head): the weights w = dφ ∘ φ, then one product w·Ω
    /// (N×m by m×d) and the row sums of w.</summary>
    public static void Backward(float[] dx, float[] dPhi, float[] phi, float[] x, float[] projection, int batch, int tokens, int heads, int headDim, int features)
    {
        float normalizer = DataNormalizer(headDim);
        Workers.For(batch * heads, bh =>
        {
            int b = bh / heads, h = bh % heads;
            var weights = ThreadScratch.AtLeast(ref t_weights, tokens * features);
            var sums = ThreadScratch.AtLeast(ref t_sums, tokens * headDim);
            TensorPrimitives.Multiply(dPhi.AsSpan(bh * tokens * features, tokens * features), phi.AsSpan(bh * tokens * features, tokens * features),
                weights.AsSpan(0, tokens * features));
            Gemm.MultiplySerial(false, false, tokens, headDim, features, weights, 0, features, projection, 0, headDim, sums, 0, headDim, accumulate: false);
            for (int n = 0; n < tokens; n++)
            {
                int e = (b * tokens + n) * heads * headDim + h * headDim;
                float shrink = TensorPrimitives.Sum(weights.AsSpan(n * features, features)) * normalizer * normalizer;
                var g = dx.AsSpan(e, headDim);
                var sum = sums.AsSpan(n * headDim, headDim);
                // dx += normalizer·Σ_r w_r·ω_r − normalizer²·(Σ_r w_r)·x.
                TensorPrimitives.MultiplyAdd(sum, normalizer, g, g);
                TensorPrimitives.MultiplyAdd(x.AsSpan(e, headDim), -shrink, g, g);
            }
        });
    }

    /// <summary>d^(−1/4), the data normalizer that makes E[φ(q)·φ(k)] ∝ exp(q·k/√d).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DataNormalizer(int headDim) => 1f / MathF.Sqrt(MathF.Sqrt(headDim));

    // Device kernels: the exponents a thread per feature, then a warp per stabiliser row (a query's m features, or a head's N·m).

    /// <summary>Extent: batch·heads·tokens·features. phi = ω_r·x' − |x'|²/2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LogitsKernel(Index1D i, ArrayView<float> phi, ArrayView<float> x, ArrayView<float> projection, int batch, int tokens, int heads,
        int headDim, int features)
    {
        if (i >= (long)batch * heads * tokens * features) return;
        int r = (int)(i % features);
        long row = i / features;
        int n = (int)(row % tokens), h = (int)(row / tokens % heads), b = (int)(row / ((long)tokens * heads));
        long e = ((long)b * tokens + n) * heads * headDim + (long)h * headDim, w = (long)r * headDim;
        float normalizer = DataNormalizer(headDim), dot = 0f, square = 0f;
        for (int k = 0; k < headDim; k++)
        {
            float v = x[e + k] * normalizer;
            dot += projection[w + k] * v;
            square += v * v;
        }
        phi[i] = dot - 0.5f * square;
    }

    /// <summary>A warp per stabiliser row.</summary>
    public static KernelConfig StabiliseKernelConfig(int rows) =>
        new(new Index3D((rows + LayerNorm.RowsPerGroup - 1) / LayerNorm.RowsPerGroup, 1, 1), new Index3D(32 * LayerNorm.RowsPerGroup, 1, 1));

    /// <summary>A warp per stabiliser row of <paramref name="n"/> exponents: φ = exp(u − max)/√m in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StabiliseKernel(ArrayView<float> phi, int rows, int n, int features)
    {
        int row = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * n;
        float max = float.NegativeInfinity;
        for (int j = lane; j < n; j += 32) max = MathF.Max(max, phi[o + j]);
        max = WarpReduce.Max(max);
        float ratio = 1f / MathF.Sqrt(features);
        for (int j = lane; j < n; j += 32) phi[o + j] = MathF.Exp(phi[o + j] - max) * ratio;
    }

    /// <summary>A warp per (sample, head) of keys.</summary>
    public static KernelConfig StabiliseKeysKernelConfig(int rows) => StabiliseKernelConfig(rows);

    /// <summary>A warp per (sample, head) of keys: φ = exp(u − max)/√m over its tokens·m exponents in place, the padded keys left
    /// out of the max and set to 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StabiliseKeysKernel(ArrayView<float> phi, ArrayView<float> padding, int rows, int heads, int tokens, int features, bool hasPadding)
    {
        int row = Grid.IdxX * LayerNorm.RowsPerGroup + Warp.WarpIdx, lane = Warp.LaneIdx;
        if (row >= rows) return;
        long o = (long)row * tokens * features, b = row / heads;
        int n = tokens * features;
        float max = float.NegativeInfinity;
        for (int j = lane; j < n; j += 32)
            if (!hasPadding || padding[b * tokens + j / features] == 0f) max = MathF.Max(max, phi[o + j]);
        max = WarpReduce.Max(max);
        float ratio = 1f / MathF.Sqrt(features);
        for (int j = lane; j < n; j += 32)
            phi[o + j] = (hasPadding && padding[b * tokens + j / features] != 0f) || max == float.NegativeInfinity ? 0f : MathF.Exp(phi[o + j] - max) * ratio;
    }

    /// <summary>Extent: batch·tokens·heads·headDim, a thread per input element summing over the m features.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardKernel(Index1D i, ArrayView<float> dx, ArrayView<float> dPhi, ArrayView<float> phi, ArrayView<float> x,
        ArrayView<float> projection, int batch, int tokens, int heads, int headDim, int features)
    {
        if (i >= (long)batch * tokens * heads * headDim) return;
        int k = (int)(i % headDim), h = (int)(i / headDim % heads);
        long bn = i / ((long)headDim * heads);
        int n = (int)(bn % tokens), b = (int)(bn / tokens);
        long f = (((long)b * heads + h) * tokens + n) * features;
        float normalizer = DataNormalizer(headDim), scaled = x[i] * normalizer, sum = 0f;
        for (int r = 0; r < features; r++) sum += dPhi[f + r] * phi[f + r] * (projection[(long)r * headDim + k] - scaled);
        dx[i] += normalizer * sum;
    }
}
