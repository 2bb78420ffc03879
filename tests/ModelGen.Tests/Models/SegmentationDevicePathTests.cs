using System;
using System.Linq;
using ModelGen;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>
/// The second oracle for the map layers: each segmentation test model, run through its ILGPU kernels on ILGPU's CPU
/// accelerator, agrees with the CPU backend on the output, every parameter and input gradient and, in training, the
/// BatchNorm running statistics.
/// </summary>
public class SegmentationDevicePathTests
{
    /// <summary>Largest |cpu − device| over a tensor, relative to its largest |cpu| (at least 0.1, so gradients that are zero
    /// in exact arithmetic, such as a key bias's under softmax, compare on the scale of the others).</summary>
    const double Tolerance = 2e-4;

    static void Close(float[] expected, float[] actual, string what, System.Collections.Generic.List<string> failures)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0, scale = 0.1;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        if (!(worst / scale <= Tolerance)) failures.Add($"{what}: {worst / scale:E2}");
    }

    static void Compare(Func<Device, (Tensor Output, ParameterSet Parameters, Tensor InputGrad)> run)
    {
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        var a = run(cpu);
        var b = run(sim);
        var failures = new System.Collections.Generic.List<string>();
        Close(a.Output.Data, b.Output.Data, "output", failures);
        Assert.Equal(a.Parameters.Select(p => p.Name), b.Parameters.Select(p => p.Name));
        for (int i = 0; i < a.Parameters.Count; i++)
        {
            Close(a.Parameters[i].Grad, b.Parameters[i].Grad, "grad " + a.Parameters[i].Name, failures);
            Close(a.Parameters[i].Value, b.Parameters[i].Value, "value " + a.Parameters[i].Name, failures);
        }
        Close(a.InputGrad.Data, b.InputGrad.Data, "input grad", failures);
        Assert.True(failures.Count == 0, "device path differs from the CPU beyond " + Tolerance + ": " + string.Join("; ", failures));
        Assert.Contains(a.Parameters, p => p.Trainable && p.Grad.Any(g => g != 0));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TinySetr_DeviceKernelsMatchCpu(bool training) => Compare(device =>
    {
        var m = new TinySetr(device, seed: 1) { Training = training };
        var y = m.Forward(ModelData.Random(2, 1f, 3, 1, 16, 16));
        Assert.Equal(new[] { 3, 3, 16, 16 }, y.Shape);
        m.Backward(ModelData.Random(3, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient("image"));
    });

    [Fact]
    public void TinySegmenter_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new TinySegmenter(device, seed: 11);
        var y = m.Forward(ModelData.Random(12, 1f, 2, 1, 16, 16));
        Assert.Equal(new[] { 2, 3, 16, 16 }, y.Shape);
        m.Backward(ModelData.Random(13, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient("image"));
    });

    [Fact]
    public void TinyMaskFormer_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new TinyMaskFormer(device, seed: 14);
        var y = m.Forward(ModelData.Random(15, 1f, 2, 1, 16, 16));
        Assert.Equal(new[] { 2, 3, 16, 16 }, y.Shape);
        m.Backward(ModelData.Random(16, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient("image"));
    });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SpatialBlocks_DeviceKernelsMatchCpu(bool training) => Compare(device =>
    {
        var m = new SpatialBlocks(device, seed: 4) { Training = training };
        // A BatchNorm after the first step starts from running statistics of the one before: two passes.
        m.Forward(ModelData.Random(5, 1f, 2, 4, 6, 5));
        var y = m.Forward(ModelData.Random(6, 1f, 2, 4, 6, 5));
        m.Backward(ModelData.Random(7, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient("x"));
    });

    [Fact]
    public void NonLocalVariants_DeviceKernelsMatchCpu() => Compare(device =>
    {
        var m = new NonLocalVariants(device, seed: 8) { Training = true };
        var y = m.Forward(ModelData.Random(9, 1f, 3, 6, 4, 3));
        m.Backward(ModelData.Random(10, 1f, y.Shape));
        return (y, m.Parameters, m.InputGradient("x"));
    });
}
