using System;
using BenchmarkDotNet.Attributes;
using ModelGen.Ops;

namespace ModelGen.Benchmarks;

/// <summary>
/// Attention core of ViT-Tiny/16 at 224×224 (B 8, N 197 tokens, 3 heads of 64): softmax(QKᵀ/8)·V, forward and
/// forward+backward, the same shape as the PyTorch peer's <c>attention</c> case (shared/peers/torch_vit.py).
/// q/k/v are (B, N, H·d) with heads interleaved in the feature dim, filled from a fixed seed.
/// </summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    public const int Batch = 8, Tokens = 197, Heads = 3, HeadDim = 64;
    public const float Scale = 0.125f; // 1/sqrt(64)

    /// <summary>Forward flops counted as the two matmuls, 4·B·H·N²·d (the peer's convention; softmax not counted).</summary>
    public const double ForwardFlops = 4.0 * Batch * Heads * Tokens * Tokens * HeadDim;

    /// <summary>Forward + backward: the backward adds four matmuls (dP = dO·Vᵀ, dQ, dK, dV), 8·B·H·N²·d, so 12·B·H·N²·d in all.</summary>
    public const double ForwardBackwardFlops = 3 * ForwardFlops;

    float[] q = null!, k = null!, v = null!, o = null!, probs = null!, dO = null!, dq = null!, dk = null!, dv = null!;

    [GlobalSetup]
    public void Setup()
    {
        int n = Batch * Tokens * Heads * HeadDim;
        var rng = new Random(1234);
        float[] Rand()
        {
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
            return a;
        }
        q = Rand(); k = Rand(); v = Rand(); dO = Rand();
        o = new float[n];
        dq = new float[n]; dk = new float[n]; dv = new float[n];
        probs = new float[Batch * Heads * Tokens * Tokens];
    }

    [Benchmark(Description = "attention-core forward")]
    public void Forward() =>
        Attention.Forward(o, probs, q, k, v, padding: null, null, Batch, Tokens, Tokens, Heads, Heads, HeadDim, HeadDim, 0, 0, causal: false, false, Scale);

    /// <summary>One training step's worth of attention: zero the gradients (backward accumulates), forward, backward.</summary>
    [Benchmark(Description = "attention-core forward+backward")]
    public void ForwardBackward()
    {
        Array.Clear(dq); Array.Clear(dk); Array.Clear(dv);
        Forward();
        Attention.Backward(dq, dk, dv, null, dO, q, k, v, o, probs, Batch, Tokens, Tokens, Heads, Heads, HeadDim, HeadDim, Scale);
    }

    /// <summary>Flops of one invocation of the named benchmark method (for the GFLOP/s column).</summary>
    public static double FlopsOf(string method) => method switch
    {
        nameof(Forward) => ForwardFlops,
        nameof(ForwardBackward) => ForwardBackwardFlops,
        _ => double.NaN,
    };

    /// <summary>A checksum of the outputs, so the quick mode can show that the work really happened.</summary>
    public double Checksum()
    {
        double s = 0;
        for (int i = 0; i < o.Length; i++) s += o[i] + dq[i] + dk[i] + dv[i];
        return s;
    }
}
