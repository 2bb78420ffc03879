using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// Three linear projections of one input, as self-attention's query, key and value: y_p = x·w_pᵀ (+ b_p) for p = q, k, v,
/// each w_p (out_p, in) as PyTorch stores it (the three out widths may differ: grouped-query heads). On the CPU backend
/// exactly three <see cref="Linear"/> calls. On a device the forward is one launch (the projection along the grid's Z) and the
/// input gradient one product over the three concatenated along k, dx += [dy_q dy_k dy_v]·[w_q; w_k; w_v], so dx is read and
/// written once instead of three times; the weight and bias gradients are Linear's kernels.
/// </summary>
public static class Projections
{
    public static void Forward(float[] yq, float[] yk, float[] yv, float[] x, float[] wq, float[] wk, float[] wv, float[]? bq, float[]? bk, float[]? bv,
        int rows, int inFeatures, int outQ, int outK, int outV)
    {
        Linear.Forward(yq, x, wq, bq, rows, inFeatures, outQ);
        Linear.Forward(yk, x, wk, bk, rows, inFeatures, outK);
        Linear.Forward(yv, x, wv, bv, rows, inFeatures, outV);
    }

    /// <summary>Accumulates as three Linear backwards in the order the unfused layers ran them (value, key, query).</summary>
    public static void Backward(float[] dx, float[] dwq, float[] dwk, float[] dwv, float[]? dbq, float[]? dbk, float[]? dbv,
        float[] dyq, float[] dyk, float[] dyv, float[] x, float[] wq, float[] wk, float[] wv, int rows, int inFeatures, int outQ, int outK, int outV)
    {
        Linear.Backward(dx, dwv, dbv, dyv, x, wv, rows, inFeatures, outV);
        Linear.Backward(dx, dwk, dbk, dyk, x, wk, rows, inFeatures, outK);
        Linear.Backward(dx, dwq, dbq, dyq, x, wq, rows, inFeatures, outQ);
    }

    public static KernelConfig ForwardKernelConfig(int rows, int outQ, int outK, int outV) =>
        TiledGemm.Config(rows, System.Math.Max(outQ, System.Math.Max(outK, outV)), 3);

    /// <summary>Z = 0, 1, 2: y_q, y_k, y_v. A projection narrower than the widest leaves its surplus column tiles idle. When
    /// <paramref name="hasBias"/> is false, the biases are unused dummies.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForwardKernel(ArrayView<float> yq, ArrayView<float> yk, ArrayView<float> yv, ArrayView<float> x,
        ArrayView<float> wq, ArrayView<float> wk, ArrayView<float> wv, ArrayView<float> bq, ArrayView<float> bk, ArrayView<float> bv,
        int rows, int inFeatures, int outQ, int outK, int outV, bool hasBias, bool tensorCores)
    {
        int p = Grid.IdxZ;
        var y = p == 0 ? yq : p == 1 ? yk : yv;
        var w = p == 0 ? wq : p == 1 ? wk : wv;
        var b = p == 0 ? bq : p == 1 ? bk : bv;
        int n = p == 0 ? outQ : p == 1 ? outK : outV;
        TiledGemm.Multiply(y, new TiledGemm.Dense(x, 0, inFeatures, innerContiguous: true), new TiledGemm.Dense(w, 0, inFeatures, innerContiguous: true), b,
            rows, n, 0, inFeatures, n, 0, 1f, hasBias, biasPerRow: false, accumulate: false, tensorCores);
    }

    public static KernelConfig BackwardInputKernelConfig(int rows, int inFeatures) => TiledGemm.Config(rows, inFeatures);

    /// <summary>dx += Σ_p dy_p·w_p as one product over k = out_q + out_k + out_v.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BackwardInputKernel(ArrayView<float> dx, ArrayView<float> dyq, ArrayView<float> dyk, ArrayView<float> dyv,
        ArrayView<float> wq, ArrayView<float> wk, ArrayView<float> wv, int rows, int inFeatures, int outQ, int outK, int outV, bool tensorCores) =>
        TiledGemm.Multiply(dx, new Stacked(dyq, dyk, dyv, outQ, outK, outQ, outK, outV, byRow: true),
            new Stacked(wq, wk, wv, outQ, outK, inFeatures, inFeatures, inFeatures, byRow: false), dx,
            rows, inFeatures, 0, outQ + outK + outV, inFeatures, 0, 1f, hasBias: false, biasPerRow: false, accumulate: true, tensorCores);

    /// <summary>Three matrices stacked along the product's k, q's first: [dy_q dy_k dy_v] read as (row, k) (each stored row by
    /// row, ld its width), or [w_q; w_k; w_v] read as (column of dx, k) (each stored (out_p, in), ld = in).</summary>
    readonly struct Stacked : TiledGemm.ITileOperand
    {
        readonly ArrayView<float> _q, _k, _v;
        readonly int _outQ, _outK, _ldQ, _ldK, _ldV;
        readonly bool _byRow;

        public Stacked(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, int outQ, int outK, int ldQ, int ldK, int ldV, bool byRow)
        {
            _q = q; _k = k; _v = v; _outQ = outQ; _outK = outK; _ldQ = ldQ; _ldK = ldK; _ldV = ldV; _byRow = byRow;
        }

        public bool InnerContiguous => _byRow;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float At(int outer, int inner)
        {
            if (inner < _outQ) return Read(_q, _ldQ, outer, inner);
            inner -= _outQ;
            if (inner < _outK) return Read(_k, _ldK, outer, inner);
            return Read(_v, _ldV, outer, inner - _outK);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        float Read(ArrayView<float> m, int ld, int outer, int inner) => _byRow ? m[(long)outer * ld + inner] : m[(long)inner * ld + outer];
    }
}
