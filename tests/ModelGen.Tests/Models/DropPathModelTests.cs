using System.Linq;
using ModelGen;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>Stochastic depth in a generated encoder: the per-layer rates, evaluation as identity, whole-sample masks,
/// and the same masks on the device path.</summary>
public class DropPathModelTests
{
    [Fact]
    public void InEvaluation_TheModelEqualsItsTwinWithoutDropPath()
    {
        using var device = Device.Cpu();
        using var plain = new TinyVit(device, seed: 3);
        using var dropped = new DropPathVit(device, seed: 3);
        Assert.Equal(plain.Parameters.Select(p => p.Name), dropped.Parameters.Select(p => p.Name));
        var x = ModelData.Random(1, 1f, 4, 2, 12, 8);
        var a = plain.Forward(x);
        var b = dropped.Forward(x);
        Assert.Equal(a.Data, b.Data);
    }

    [Fact]
    public void RatesRiseLinearlyOverDepth_FirstLayerHasNoDropPath()
    {
        using var device = Device.Cpu();
        using var m = new DropPathVit(device, seed: 3) { Training = true };
        m.Forward(ModelData.Random(1, 1f, 4, 2, 12, 8));
        Assert.Null(m.Intermediate("encoder.layers.0.drop_path1.mask"));
        Assert.NotNull(m.Intermediate("encoder.layers.1.drop_path1.mask"));
        Assert.NotNull(m.Intermediate("encoder.layers.1.drop_path2.mask"));
    }

    [Fact]
    public void InTraining_EachSampleKeepsOrDropsWholeBranches_AtAboutTheRate()
    {
        using var device = Device.Cpu();
        using var m = new DropPathVit(device, seed: 5) { Training = true };
        int batch = 64, kept = 0, total = 0;
        for (int step = 0; step < 4; step++)
        {
            m.Forward(ModelData.Random(10 + step, 1f, batch, 2, 12, 8));
            foreach (var site in new[] { "drop_path1", "drop_path2" })
            {
                var mask = m.Intermediate($"encoder.layers.1.{site}.mask")!;
                Assert.Equal(new[] { batch, 1 }, mask.Shape);
                Assert.All(mask.Data, v => Assert.True(v == 0f || v == 2f, $"multiplier {v}"));
                var branch = m.Intermediate($"encoder.layers.1.{site}")!;
                int perSample = branch.Data.Length / batch;
                for (int s = 0; s < batch; s++)
                {
                    bool zero = branch.Data.Skip(s * perSample).Take(perSample).All(v => v == 0f);
                    Assert.Equal(mask.Data[s] == 0f, zero);
                }
                kept += mask.Data.Count(v => v != 0f);
                total += batch;
            }
        }
        // 512 draws at p = 0.5: 5 sigma is about 57.
        Assert.InRange(kept, total / 2 - 57, total / 2 + 57);
    }

    [Fact]
    public void InTraining_DeviceKernelsDropTheSameSamplesAsTheCpu()
    {
        Tensor Run(Device device, out ParameterSet parameters, out Tensor inputGrad)
        {
            var m = new DropPathVit(device, seed: 8) { Training = true };
            var y = m.Forward(ModelData.Random(9, 1f, 6, 2, 12, 8));
            m.Backward(ModelData.Random(10, 1f, y.Shape));
            parameters = m.Parameters;
            inputGrad = m.InputGradient("image");
            return y;
        }
        using var cpu = Device.Cpu();
        using var sim = Device.CpuSimulator();
        var a = Run(cpu, out var pa, out var ga);
        var b = Run(sim, out var pb, out var gb);
        Approx.Equal(a.Data, b.Data, 2e-5, 2e-4, "output");
        for (int i = 0; i < pa.Count; i++) Approx.Equal(pa[i].Grad, pb[i].Grad, 2e-5, 2e-4, "grad " + pa[i].Name);
        Approx.Equal(ga.Data, gb.Data, 2e-5, 2e-4, "grad image");
    }
}
