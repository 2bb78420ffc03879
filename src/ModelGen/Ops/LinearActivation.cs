using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// A linear layer and the activation after it, fused: pre = x·wᵀ + b, y = act(pre) with act GELU (exact, erf) or ReLU, as a
/// feed-forward block's first layer. On the CPU backend exactly <see cref="Linear"/> then <see cref="Gelu"/> or <see cref="Relu"/>.
/// On a device the forward is one product whose epilogue writes pre and y from registers, and the backward never stores
/// dpre = dy ⊙ act′(pre): the input-gradient and weight-gradient products and the bias sum read it on the fly from dy and pre.
/// </summary>
public static class LinearActivation
{
    public const int GeluKind = 0, ReluKind = 1;

    public static void Forward(float[] y, float[] pre, float[] x, float[] w, float[] b, int rows, int inFeatures, int outFeatures, int activation)
    {
        Linear.Forward(pre, x, w, b, rows, inFeatures, outFeatures);
        if (activation == GeluKind) Gelu.Forward(y, pre, rows * outFeatures);
        else Relu.Forward(y, pre, rows * outFeatures);
    }

    /// <summary>dpre (the pre-activation's gradient, which the CPU keeps) += dy ⊙ act′(pre), then Linear's backward from it.</summary>
    public static void Backward(float[] dx, float[] dw, float[] db, float[] dpre, float[] dy, float[] pre, float[] x, float[] w,
        int rows, int inFeatures, int outFeatures, int activation)
    {
        if (activation == GeluKind) Gelu.Backward(dpre, dy, pre, rows * outFeatures);
        else Relu.Backward(dpre, dy, pre, rows * outFeatures);
        Linear.Backward(dx, dw, db, dpre, x, w, rows, inFeatures, outFeatures);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Activate(float v, int activation) => activation == GeluKind ? Gelu.Value(v) : v > 0f ? v : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Slope(float v, int activation) => activation == GeluKind ? Gelu.Slope(v) : v > 0f ? 1f : 0f;

    public static KernelConfig ForwardKernelConfig(int rows, int outFeatures) => TiledGemm.Config(rows, outFeatures);

    /// <summary>pre = x·wᵀ + b and y = act(pre), both written by the product's epilogue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> y, ArrayView<float> pre, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        int rows, int inFeatures, int outFeatures, int activation, bool tensorCores) =>
        TiledGemm.Multiply(new TiledGemm.Dense(x, 0, inFeatures, innerContiguous: true), new TiledGemm.Dense(w, 0, inFeatures, innerContiguous: true),
            rows, outFeatures, 0, inFeatures, new Epilogue(y, pre, b, outFeatures, activation), tensorCores);

    readonly struct Epilogue : TiledGemm.ITileEpilogue
    {
        readonly ArrayView<float> _y, _pre, _bias;
        readonly int _n, _activation;

        public Epilogue(ArrayView<float> y, ArrayView<float> pre, ArrayView<float> bias, int n, int activation)
        {
            _y = y; _pre = pre; _bias = bias; _n = n; _activation = activation;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(int row, int column, float sum)
        {
            long at = (long)row * _n + column;
            float v = sum + _bias[column];
            _pre[at] = v;
            _y[at] = Activate(v, _activation);
        }
    }

    /// <summary>dpre = dy ⊙ act′(pre), read as (row, out feature) or, for the weight gradient, (out feature, row).</summary>
    readonly struct PreGradient : TiledGemm.ITileOperand
    {
        readonly ArrayView<float> _dy, _pre;
        readonly int _n, _activation;
        readonly bool _byRow;

        public PreGradient(ArrayView<float> dy, ArrayView<float> pre, int n, int activation, bool byRow)
        {
            _dy = dy; _pre = pre; _n = n; _activation = activation; _byRow = byRow;
        }

        public bool InnerContiguous => _byRow;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner)
        {
            long at = _byRow ? (long)outer * _n + inner : (long)inner * _n + outer;
            return _dy[at] * Slope(_pre[at], _activation);
        }
    }

    public static KernelConfig BackwardInputKernelConfig(int rows, int inFeatures) => TiledGemm.Config(rows, inFeatures);

    /// <summary>dx += dpre·w.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> pre, ArrayView<float> w,
        int rows, int inFeatures, int outFeatures, int activation, bool tensorCores) =>
        TiledGemm.Multiply(dx, new PreGradient(dy, pre, outFeatures, activation, byRow: true), new TiledGemm.Dense(w, 0, inFeatures, innerContiguous: false),
            dx, rows, inFeatures, 0, outFeatures, inFeatures, 0, 1f, hasBias: false, biasPerRow: false, accumulate: true, tensorCores);

    public static KernelConfig BackwardWeightKernelConfig(int rows, int inFeatures, int outFeatures) => TiledGemm.SplitConfig(outFeatures, inFeatures, rows);

    /// <summary>dw += dpreᵀ·x, split over rows like <see cref="Linear.BackwardWeightKernel"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardWeightKernel(ArrayView<float> dw, ArrayView<float> workspace, ArrayView<float> dy, ArrayView<float> pre, ArrayView<float> x,
        int rows, int inFeatures, int outFeatures, int activation, bool tensorCores) =>
        TiledGemm.MultiplySplit(dw, workspace, new PreGradient(dy, pre, outFeatures, activation, byRow: false),
            new TiledGemm.Dense(x, 0, inFeatures, innerContiguous: false), outFeatures, inFeatures, rows, inFeatures, tensorCores);

    public static KernelConfig BackwardBiasKernelConfig(int outFeatures) => ColumnSums.Config(outFeatures);

    /// <summary>db += Σ_rows dpre, in ColumnSums' fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardBiasKernel(ArrayView<float> db, ArrayView<float> dy, ArrayView<float> pre, int rows, int outFeatures, int activation) =>
        ColumnSums.Add(db, new PreGradient(dy, pre, outFeatures, activation, byRow: true), rows, outFeatures);
}
