using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// A linear layer whose output joins a residual sum, fused: branch = x·wᵀ (+ b), y = residual + branch, as a Transformer
/// layer's attention output projection and second MLP layer. On the CPU backend exactly <see cref="Linear"/> then
/// <see cref="Add"/>. On a device the forward is one product whose epilogue writes the branch and the sum; the backward adds dy
/// to the residual's gradient and runs Linear's backward from dy itself (the branch's gradient is dy, exactly).
/// </summary>
public static class LinearResidual
{
    public static void Forward(float[] y, float[] branch, float[] x, float[] w, float[]? b, float[] residual, int rows, int inFeatures, int outFeatures)
    {
        Linear.Forward(branch, x, w, b, rows, inFeatures, outFeatures);
        Add.Forward(y, residual, branch, rows * outFeatures);
    }

    public static void Backward(float[] dx, float[] dw, float[]? db, float[] dbranch, float[] dresidual, float[] dy, float[] x, float[] w,
        int rows, int inFeatures, int outFeatures)
    {
        Add.Backward(dresidual, dbranch, dy, rows * outFeatures);
        Linear.Backward(dx, dw, db, dbranch, x, w, rows, inFeatures, outFeatures);
    }

    public static KernelConfig ForwardKernelConfig(int rows, int outFeatures) => TiledGemm.Config(rows, outFeatures);

    /// <summary>branch = x·wᵀ (+ b) and y = residual + branch from the product's epilogue. When <paramref name="hasBias"/> is
    /// false, b is an unused dummy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> y, ArrayView<float> branch, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> residual, int rows, int inFeatures, int outFeatures, bool hasBias, bool tensorCores) =>
        TiledGemm.Multiply(new TiledGemm.Dense(x, 0, inFeatures, innerContiguous: true), new TiledGemm.Dense(w, 0, inFeatures, innerContiguous: true),
            rows, outFeatures, 0, inFeatures, new Epilogue(y, branch, b, residual, outFeatures, hasBias), tensorCores);

    readonly struct Epilogue : TiledGemm.ITileEpilogue
    {
        readonly ArrayView<float> _y, _branch, _bias, _residual;
        readonly int _n;
        readonly bool _hasBias;

        public Epilogue(ArrayView<float> y, ArrayView<float> branch, ArrayView<float> bias, ArrayView<float> residual, int n, bool hasBias)
        {
            _y = y; _branch = branch; _bias = bias; _residual = residual; _n = n; _hasBias = hasBias;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(int row, int column, float sum)
        {
            long at = (long)row * _n + column;
            float v = _hasBias ? sum + _bias[column] : sum;
            _branch[at] = v;
            _y[at] = _residual[at] + v;
        }
    }

    /// <summary>Extent: n. dresidual += dy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardResidualKernel(Index1D i, ArrayView<float> dresidual, ArrayView<float> dy, int n)
    {
        if (i >= n) return;
        dresidual[i] += dy[i];
    }
}
