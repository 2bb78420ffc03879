using System;
using ILGPU;
using ILGPU.Runtime;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Ops;

/// <summary>The flash-style device attention on the GPU-shaped simulator against the CPU backend: output, the probabilities
/// recomputed from the kept log-sum-exp, and dq, dk, dv accumulated onto non-zero gradients; cross-attention (Nq ≠ Nk), causal,
/// key padding with a sample whose keys are all padded, grouped-query heads, and head widths from 8 to the limit of 128,
/// none dividing the 32-key tiles or the 8-row groups.</summary>
public class AttentionFlashTests
{
    public struct Sizes
    {
        public int Batch, Nq, Nk, Heads, KvHeads, Dk, Dv, Causal, HasPadding, BiasBatch, BiasHead, HasBias, MaskBias, HasBiasGrad;
        public float Scale;
    }

    static void Forward(ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> pad,
        ArrayView<float> bias, Sizes s) =>
        Attention.FlashForwardKernel(o, lse, q, k, v, pad, bias, s.Batch, s.Nq, s.Nk, s.Heads, s.KvHeads, s.Dk, s.Dv, s.BiasBatch, s.BiasHead,
            s.Causal != 0, s.HasPadding != 0, s.HasBias != 0, s.MaskBias != 0, s.Scale);

    static void Query(ArrayView<float> dq, ArrayView<float> dsum, ArrayView<float> dBias, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> pad, ArrayView<float> bias, Sizes s) =>
        Attention.FlashBackwardQueryKernel(dq, dsum, dBias, dO, q, k, v, o, lse, pad, bias, s.Batch, s.Nq, s.Nk, s.Heads, s.KvHeads, s.Dk, s.Dv,
            s.BiasBatch, s.BiasHead, s.Causal != 0, s.HasPadding != 0, s.HasBias != 0, s.MaskBias != 0, s.HasBiasGrad != 0, s.Scale);

    static void KeyValue(ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dO, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> lse, ArrayView<float> dsum, ArrayView<float> pad, ArrayView<float> bias, Sizes s) =>
        Attention.FlashBackwardKeyValueKernel(dk, dv, dO, q, k, v, lse, dsum, pad, bias, s.Batch, s.Nq, s.Nk, s.Heads, s.KvHeads, s.Dk, s.Dv,
            s.BiasBatch, s.BiasHead, s.Causal != 0, s.HasPadding != 0, s.HasBias != 0, s.MaskBias != 0, s.Scale);

    static void Probabilities(ArrayView<float> probs, ArrayView<float> q, ArrayView<float> k, ArrayView<float> lse, ArrayView<float> pad,
        ArrayView<float> bias, Sizes s) =>
        Attention.ProbabilitiesKernel(probs, q, k, lse, pad, bias, s.Batch, s.Nq, s.Nk, s.Heads, s.KvHeads, s.Dk, s.BiasBatch, s.BiasHead,
            s.Causal != 0, s.HasPadding != 0, s.HasBias != 0, s.MaskBias != 0, s.Scale);

    /// <summary>The score biases the tests use: none; a learned per-sample per-head bias with its gradient; a constant shared by
    /// the batch (ALiBi's layout); a boolean mask shared by the heads that masks a whole row of sample 0.</summary>
    public enum BiasKind { None, Learned, Constant, Mask }

    internal static (float[]? Bias, int BatchStride, int HeadStride) MakeBias(BiasKind kind, int batch, int heads, int nq, int nk)
    {
        int scores = nq * nk;
        switch (kind)
        {
            case BiasKind.Learned: return (Rng.Floats(batch * heads * scores, 12, 2f), heads * scores, scores);
            case BiasKind.Constant: return (Rng.Floats(heads * scores, 13, 2f), 0, scores);
            case BiasKind.Mask:
                var m = new float[batch * scores];
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i < nq; i++)
                        for (int j = 0; j < nk; j++)
                            if ((b == 0 && i == 1) || (i + 2 * j + b) % 5 == 0) m[(b * nq + i) * nk + j] = (j % 2 == 0) ? 1f : -3f;
                return (m, scores, 0);
            default: return (null, 0, 0);
        }
    }

    /// <summary>Key padding for two or more samples: sample 0 pads its last five keys, sample 1 every key (its rows output zeros).</summary>
    internal static float[] Padding(int batch, int nk)
    {
        var pad = new float[batch * nk];
        for (int j = nk - 5; j < nk; j++) pad[j] = 1f;
        for (int j = 0; j < nk; j++) pad[nk + j] = 1f;
        return pad;
    }

    [Theory]
    [InlineData(2, 37, 45, 2, 2, 8, 8, false, true, BiasKind.None)]
    [InlineData(2, 50, 50, 4, 2, 16, 8, true, true, BiasKind.None)]
    [InlineData(1, 40, 41, 2, 2, 64, 64, false, false, BiasKind.None)]
    [InlineData(1, 33, 20, 2, 1, 100, 128, true, false, BiasKind.None)]
    [InlineData(2, 9, 65, 4, 4, 24, 40, false, true, BiasKind.None)]
    [InlineData(2, 37, 45, 4, 2, 8, 12, false, true, BiasKind.Learned)]
    [InlineData(2, 41, 41, 2, 2, 16, 16, true, false, BiasKind.Learned)]
    [InlineData(3, 35, 35, 3, 1, 8, 8, true, false, BiasKind.Constant)]
    [InlineData(2, 30, 47, 2, 2, 8, 8, false, true, BiasKind.Mask)]
    public void MatchesTheCpu(int batch, int nq, int nk, int heads, int kvHeads, int dk, int dv, bool causal, bool padded, BiasKind biasKind)
    {
        float scale = 1f / MathF.Sqrt(dk);
        var q = Rng.Floats(batch * nq * heads * dk, 1);
        var k = Rng.Floats(batch * nk * kvHeads * dk, 2);
        var v = Rng.Floats(batch * nk * kvHeads * dv, 3);
        var dO = Rng.Floats(batch * nq * heads * dv, 4);
        var pad = padded ? Padding(batch, nk) : null;
        var (bias, biasBatch, biasHead) = MakeBias(biasKind, batch, heads, nq, nk);
        bool mask = biasKind == BiasKind.Mask, learned = biasKind == BiasKind.Learned;
        var o = new float[batch * nq * heads * dv];
        var probs = new float[batch * heads * nq * nk];
        Attention.Forward(o, probs, q, k, v, pad, bias, batch, nq, nk, heads, kvHeads, dk, dv, biasBatch, biasHead, causal, mask, scale);
        var dq = Rng.Floats(q.Length, 5, 0.1f);
        var dkk = Rng.Floats(k.Length, 6, 0.1f);
        var dvv = Rng.Floats(v.Length, 7, 0.1f);
        var dBias = learned ? Rng.Floats(probs.Length, 10, 0.1f) : null;
        var gq = (float[])dq.Clone();
        var gk = (float[])dkk.Clone();
        var gv = (float[])dvv.Clone();
        var gBias = dBias is null ? new float[1] : (float[])dBias.Clone();
        Attention.Backward(dq, dkk, dvv, dBias, dO, q, k, v, o, probs, batch, nq, nk, heads, kvHeads, dk, dv, scale);

        var sizes = new Sizes
        {
            Batch = batch, Nq = nq, Nk = nk, Heads = heads, KvHeads = kvHeads, Dk = dk, Dv = dv, Causal = causal ? 1 : 0, HasPadding = padded ? 1 : 0,
            BiasBatch = biasBatch, BiasHead = biasHead, HasBias = bias is null ? 0 : 1, MaskBias = mask ? 1 : 0, HasBiasGrad = learned ? 1 : 0, Scale = scale,
        };
        using var h = new KernelHarness();
        var acc = h.Accelerator;
        using var bq = h.Upload(q);
        using var bk = h.Upload(k);
        using var bv = h.Upload(v);
        using var bdO = h.Upload(dO);
        using var bpad = pad is null ? h.Zeros(1) : h.Upload(pad);
        using var bbias = bias is null ? h.Zeros(1) : h.Upload(bias);
        using var bo = h.Upload(Rng.Floats(o.Length, 8, 50f));
        using var blse = h.Zeros(batch * heads * nq);
        using var bdsum = h.Zeros(batch * heads * nq);
        using var bprobs = h.Upload(Rng.Floats(probs.Length, 9, 50f));
        using var bdq = h.Upload(gq);
        using var bdk = h.Upload(gk);
        using var bdv = h.Upload(gv);
        using var bdBias = h.Upload(gBias);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(Forward)(
            Attention.FlashForwardKernelConfig(batch, nq, heads), bo.View, blse.View, bq.View, bk.View, bv.View, bpad.View, bbias.View, sizes);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(Probabilities)(
            Attention.ProbabilitiesKernelConfig(batch, nq, heads), bprobs.View, bq.View, bk.View, blse.View, bpad.View, bbias.View, sizes);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(Query)(
            Attention.FlashBackwardQueryKernelConfig(batch, nq, heads), bdq.View, bdsum.View, bdBias.View, bdO.View, bq.View, bk.View, bv.View, bo.View, blse.View,
            bpad.View, bbias.View, sizes);
        acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, Sizes>(KeyValue)(
            Attention.FlashBackwardKeyValueKernelConfig(batch, nk, kvHeads), bdk.View, bdv.View, bdO.View, bq.View, bk.View, bv.View, blse.View, bdsum.View,
            bpad.View, bbias.View, sizes);
        acc.Synchronize();

        Approx.Equal(o, KernelHarness.Download(bo), 1e-5, 1e-4, "o");
        Approx.Equal(probs, KernelHarness.Download(bprobs), 1e-6, 1e-4, "probs");
        Approx.Equal(dq, KernelHarness.Download(bdq), 1e-5, 1e-4, "dq");
        Approx.Equal(dkk, KernelHarness.Download(bdk), 1e-5, 1e-4, "dk");
        Approx.Equal(dvv, KernelHarness.Download(bdv), 1e-5, 1e-4, "dv");
        if (dBias is not null) Approx.Equal(dBias, KernelHarness.Download(bdBias), 1e-5, 1e-4, "dBias");
    }
}
