using ModelGen;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Swin's patch merging as a user declares it, against torchvision's PatchMerging on the same weights (float64; output,
/// input gradient, the norm's and the reduction's gradients). The kernels are checked in DevicePathTests.</summary>
public class PatchMergingModelTests
{
    [SkippableFact]
    public void PatchMerging_AgreesWithTorchvision()
    {
        using var m = new MergingModel(Device.Cpu(), seed: 3);
        Assert.Equal(new[] { 24, 48 }, m.Parameters["merge.reduction.weight"].Shape);
        Assert.Equal(new[] { 48 }, m.Parameters["merge.norm.weight"].Shape);
        var x = ModelData.Random(4, 1f, 2, 24, 12);
        var y = m.Forward(x);
        Assert.Equal(new[] { 2, 6, 24 }, y.Shape);
        TorchTwin.AgreesWithTorch(y, m.Backward, m.Parameters, m.InputGradient, new { op = "patch_merging", height = 4, width = 6 }, "merge.", "", new[] { "x" },
            TorchTwin.Named("x", x));
    }
}
