using System;
using ModelGen;
using ModelGen.IO;
using ModelGen.Ops;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Sparse attention as a user declares it, against a PyTorch twin that runs dense softmax attention under the same block
/// mask (float64; output, input gradient, every parameter gradient). The device kernels are checked in DevicePathTests.</summary>
public class SparseAttentionModelTests
{
    static void AgreesWithTorch(Tensor x, Tensor y, Action<Tensor> backward, ParameterSet parameters, Func<string, Tensor> inputGradient, object config, float[] layout,
        Tensor? padding = null)
    {
        int blocks = BitConverter.SingleToInt32Bits(layout[0]);
        var inputs = new System.Collections.Generic.List<SafeTensor>
        {
            TorchTwin.Named("x", x), new SafeTensor("block_mask", new[] { blocks, blocks }, BlockSparseAttention.BlockMask(layout)),
        };
        if (padding is not null) inputs.Add(TorchTwin.Named("padding", padding));
        TorchTwin.AgreesWithTorch(y, backward, parameters, inputGradient, config, "attn.", "", new[] { "x" }, inputs.ToArray());
    }

    [SkippableFact]
    public void PaddedLocalPattern_AgreesWithPyTorch()
    {
        // The last 5 keys of one sample padded and a sample padded whole (its attention gives 0).
        using var m = new PaddedSparse(Device.Cpu(), seed: 7);
        var x = ModelData.Random(8, 1f, 3, 16, 16);
        var pad = ModelData.Padding(16, 0, 5, 16);
        AgreesWithTorch(x, m.Forward(x, pad), m.Backward, m.Parameters, m.InputGradient, new { op = "sparse_attention", heads = 2, kv_heads = 2, block = 4, causal = false, theta = 0.0 },
            BlockSparseAttention.Layout(4, window: 1, globalBlocks: 1, randomBlocks: 0, stride: 0, causal: false, seed: 0), pad);
    }

    [SkippableFact]
    public void BigBirdPattern_AgreesWithPyTorch()
    {
        using var m = new SparseModel(Device.Cpu(), seed: 3);
        var x = ModelData.Random(4, 1f, 2, 24, 16);
        AgreesWithTorch(x, m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "sparse_attention", heads = 2, kv_heads = 2, block = 4, causal = false, theta = 0.0 },
            BlockSparseAttention.Layout(6, window: 1, globalBlocks: 1, randomBlocks: 1, stride: 0, causal: false, seed: 3));
    }

    [SkippableFact]
    public void CausalStridedPattern_WithGroupedHeadsAndRotaryPositions_AgreesWithPyTorch()
    {
        using var m = new CausalSparse(Device.Cpu(), seed: 5);
        var x = ModelData.Random(6, 1f, 3, 20, 16);
        AgreesWithTorch(x, m.Forward(x), m.Backward, m.Parameters, m.InputGradient, new { op = "sparse_attention", heads = 4, kv_heads = 2, block = 5, causal = true, theta = 10000.0 },
            BlockSparseAttention.Layout(4, window: 0, globalBlocks: 0, randomBlocks: 0, stride: 2, causal: true, seed: 0));
    }
}
