using System;
using System.IO;
using System.Linq;
using ModelGen;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Models;

/// <summary>What a user of a generated model sees: parameters, modules, shape errors, checkpoints.</summary>
public class ModelApiTests : IDisposable
{
    readonly TempDirectory _temp = new("modelgen-api-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void ParametersAreNamedLikeAPyTorchStateDict()
    {
        using var m = new GqaEncoder(Device.Cpu());
        var names = m.Parameters.Select(p => p.Name).ToArray();
        Assert.Equal("encoder.layers.0.norm1.weight", names[0]);
        Assert.Contains("encoder.layers.1.attn.q_proj.weight", names);
        Assert.Contains("encoder.layers.1.mlp.fc2.bias", names);
        Assert.Equal(new[] { 16, 32 }, m.Parameters["encoder.layers.0.attn.k_proj.weight"].Shape); // KvHeads 2 × dk 8
        Assert.Equal(new[] { "head.weight", "head.bias" }, names.TakeLast(2));
        Assert.Equal(2 * (2 * 32 * 2 + (32 * 32 + 32) * 2 + (16 * 32 + 16) * 2 + 64 * 32 + 64 + 32 * 64 + 32) + 64 + 330, m.Parameters.ElementCount);
    }

    [Fact]
    public void ModulesExposeTheirParameters()
    {
        using var m = new GqaEncoder(Device.Cpu());
        Assert.Equal("encoder", m.Encoder.Name);
        Assert.Equal("TransformerEncoder", m.Encoder.Kind);
        Assert.All(m.Encoder.Parameters, p => Assert.StartsWith("encoder.", p.Name));
        Assert.Equal(new[] { "head.weight", "head.bias" }, m.Head.Parameters.Select(p => p.Name));
        using var mixed = new Mixed(Device.Cpu());
        Assert.Contains(mixed.Blocks.Parameters, p => p.Name == "blocks.1.attn.out_proj.weight");
    }

    [Fact]
    public void InitialisationFollowsPyTorchDefaultsAndIsSeeded()
    {
        using var a = new GqaEncoder(Device.Cpu(), seed: 3);
        using var b = new GqaEncoder(Device.Cpu(), seed: 3);
        using var c = new GqaEncoder(Device.Cpu(), seed: 4);
        Assert.Equal(a.Parameters[2].Value, b.Parameters[2].Value);
        Assert.NotEqual(a.Parameters[2].Value, c.Parameters[2].Value);
        Assert.All(a.Parameters["encoder.layers.0.norm1.weight"].Value, v => Assert.Equal(1f, v));
        Assert.All(a.Parameters["encoder.layers.0.norm1.bias"].Value, v => Assert.Equal(0f, v));
        var w = a.Parameters["encoder.layers.0.mlp.fc2.weight"].Value; // in = 64: U(±1/8)
        Assert.All(w, v => Assert.InRange(v, -0.125f, 0.125f));
        Assert.True(w.Max() > 0.1f && w.Min() < -0.1f);
        Assert.False(a.Parameters["encoder.layers.0.mlp.fc2.bias"].Decay);
        Assert.True(a.Parameters["encoder.layers.0.mlp.fc2.weight"].Decay);
    }

    [Fact]
    public void AttentionStartsAsPyTorchsMultiheadAttention()
    {
        // Square projections (E = 24): Xavier over the packed (3E, E) in_proj_weight, bound √(6 / 4E) = 0.25.
        using var square = new PostNormEncoder(Device.Cpu(), seed: 5);
        AssertUniform(square.Parameters["encoder.layers.0.attn.q_proj.weight"].Value, 0.25);
        AssertUniform(square.Parameters["encoder.layers.1.attn.v_proj.weight"].Value, 0.25);
        // nn.Linear's U(±1/√in) stays on out_proj's weight; every projection bias starts at zero.
        AssertUniform(square.Parameters["encoder.layers.0.attn.out_proj.weight"].Value, 1 / Math.Sqrt(24));
        foreach (var name in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            Assert.All(square.Parameters[$"encoder.layers.0.attn.{name}.bias"].Value, v => Assert.Equal(0f, v));
        // Grouped keys and values (E = 32, k/v 16 wide): each matrix Xavier over its own shape.
        using var grouped = new GqaEncoder(Device.Cpu(), seed: 5);
        AssertUniform(grouped.Parameters["encoder.layers.0.attn.q_proj.weight"].Value, Math.Sqrt(6.0 / 64));
        AssertUniform(grouped.Parameters["encoder.layers.0.attn.k_proj.weight"].Value, Math.Sqrt(6.0 / 48));

        static void AssertUniform(float[] w, double bound)
        {
            Assert.All(w, v => Assert.InRange(v, -bound, bound));
            Assert.True(w.Max() > 0.9 * bound && w.Min() < -0.9 * bound, $"max {w.Max()} min {w.Min()} for bound {bound}");
        }
    }

    [Fact]
    public void WrongInputShapeNamesExpectedAndActual()
    {
        using var m = new GqaEncoder(Device.Cpu());
        var e = Assert.Throws<ShapeMismatchException>(() => m.Forward(Tensor.Zeros(2, 12, 31), Tensor.Zeros(2, 12)));
        Assert.Contains("Input 'x' expects (B, 12, 32) but was given (2, 12, 31)", e.Message);
        var mask = Assert.Throws<ShapeMismatchException>(() => m.Forward(Tensor.Zeros(2, 12, 32), Tensor.Zeros(3, 12)));
        Assert.Contains("Input 'padding' expects (2, 12) but was given (3, 12)", mask.Message);
        var rank = Assert.Throws<ShapeMismatchException>(() => m.Forward(Tensor.Zeros(12, 32), Tensor.Zeros(1, 12)));
        Assert.Contains("(B, 12, 32)", rank.Message);
    }

    [Fact]
    public void BackwardNeedsForwardAndAMatchingGradient()
    {
        using var m = new MqaEncoder(Device.Cpu());
        Assert.Throws<InvalidOperationException>(() => m.Backward(Tensor.Zeros(1, 7, 16)));
        m.Forward(Tensor.Zeros(2, 7, 16));
        var e = Assert.Throws<ShapeMismatchException>(() => m.Backward(Tensor.Zeros(1, 7, 16)));
        Assert.Contains("expects (2, 7, 16)", e.Message);
        Assert.Throws<ArgumentException>(() => m.InputGradient("nope"));
    }

    [Fact]
    public void ParameterGradientsAccumulateUntilZeroed()
    {
        using var m = new MqaEncoder(Device.Cpu());
        var x = ModelData.Random(1, 1f, 2, 7, 16);
        var g = ModelData.Random(2, 1f, 2, 7, 16);
        m.Forward(x);
        m.Backward(g);
        var once = m.Parameters[5].Grad.ToArray();
        m.Forward(x);
        m.Backward(g);
        for (int i = 0; i < once.Length; i++) Assert.InRange(Math.Abs(2 * once[i] - m.Parameters[5].Grad[i]), 0, 1e-5 * Math.Abs(once[i]) + 1e-6);
        m.Parameters.ZeroGrad();
        Assert.All(m.Parameters, p => Assert.All(p.Grad, v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void BatchSizeIsChosenAtRunTime()
    {
        using var m = new MqaEncoder(Device.Cpu());
        var x = ModelData.Random(1, 1f, 3, 7, 16);
        var all = m.Forward(x);
        var one = m.Forward(new Tensor(new[] { 1, 7, 16 }, x.Data.Skip(7 * 16).Take(7 * 16).ToArray()));
        for (int i = 0; i < one.Data.Length; i++) Assert.Equal(all.Data[7 * 16 + i], one.Data[i], 5);
    }

    [Fact]
    public void DropoutOnlyActsWhileTraining()
    {
        using var m = new Mixed(Device.Cpu(), seed: 1);
        var x = ModelData.Random(1, 1f, 2, 6, 16);
        var mem = ModelData.Random(2, 1f, 2, 5, 12);
        var eval1 = m.Forward(x, mem);
        var eval2 = m.Forward(x, mem);
        Assert.Equal(eval1.Data, eval2.Data);
        m.Training = true;
        var train1 = m.Forward(x, mem);
        var train2 = m.Forward(x, mem);
        Assert.NotEqual(eval1.Data, train1.Data);
        Assert.NotEqual(train1.Data, train2.Data);
    }

    [Fact]
    public void CheckpointRoundTripsAndRestoresOutputs()
    {
        string path = _temp.File("model.safetensors");
        var x = ModelData.Random(1, 1f, 2, 12, 32);
        var pad = ModelData.Padding(12, 1, 2);
        using var a = new GqaEncoder(Device.Cpu(), seed: 1);
        a.Parameters.Save(path);
        using var b = new GqaEncoder(Device.Cpu(), seed: 2);
        Assert.NotEqual(a.Forward(x, pad).Data, b.Forward(x, pad).Data);
        b.Parameters.Load(path);
        Assert.Equal(a.Forward(x, pad).Data, b.Forward(x, pad).Data);
        Assert.DoesNotContain(Directory.GetFiles(_temp.Path), f => f != path);
    }

    [Fact]
    public void CheckpointOfAnotherArchitectureIsRefusedAndChangesNothing()
    {
        string path = _temp.File("other.safetensors");
        using (var other = new MqaEncoder(Device.Cpu())) other.Parameters.Save(path);
        using var m = new GqaEncoder(Device.Cpu(), seed: 5);
        var before = m.Parameters.Select(p => p.Value.ToArray()).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => m.Parameters.Load(path));
        Assert.Contains("'encoder.layers.0.norm1.weight' is (16) in the file but (32) in the model", e.Message);
        Assert.Matches(@"and \d+ more\.$", e.Message);
        for (int i = 0; i < before.Length; i++) Assert.Equal(before[i], m.Parameters[i].Value);
    }

    [Fact]
    public void TruncatedCheckpointGivesAFormatErrorAndChangesNothing()
    {
        string path = _temp.File("cut.safetensors");
        using var m = new GqaEncoder(Device.Cpu(), seed: 5);
        m.Parameters.Save(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        var before = m.Parameters[0].Value.ToArray();
        Assert.Throws<SafeTensorsFormatException>(() => m.Parameters.Load(path));
        Assert.Equal(before, m.Parameters[0].Value);
        Assert.Throws<FileNotFoundException>(() => m.Parameters.Load(_temp.File("absent.safetensors")));
    }

    [Fact]
    public void ActivationsOfTheLastForwardAreReachableByPath()
    {
        using var m = new GqaEncoder(Device.Cpu(), seed: 2);
        Assert.Throws<InvalidOperationException>(() => m.Intermediate("norm"));
        m.Forward(ModelData.Random(1, 1f, 2, 12, 32), ModelData.Padding(12, 0, 3));
        var probs = m.Intermediate("encoder.layers.1.attn.heads.probs")!;
        Assert.Equal(new[] { 2, 4, 12, 12 }, probs.Shape);
        for (int b = 0; b < 2; b++)
            for (int h = 0; h < 4; h++)
                for (int i = 0; i < 12; i++)
                {
                    double sum = 0;
                    for (int j = 0; j < 12; j++)
                    {
                        float p = probs[b, h, i, j];
                        if (j > i || (b == 1 && j >= 9)) Assert.Equal(0f, p); // causal, and sample 1 pads its last 3 keys
                        sum += p;
                    }
                    Assert.InRange(sum, 1 - 1e-5, 1 + 1e-5);
                }
        Assert.Equal(new[] { 2, 12, 32 }, m.Intermediate("norm")!.Shape);
        Assert.Equal(new[] { 2, 12 }, m.Intermediate("norm.mean")!.Shape);
        Assert.Null(m.Intermediate("no.such.thing"));
    }
}
