using System;
using System.IO;
using System.Linq;
using ModelGen.IO;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

/// <summary>Saving and restoring optimizer state: a resumed run continues bit for bit, and a wrong file changes nothing.</summary>
public class OptimizerStateTests : IDisposable
{
    readonly TempDirectory _temp = new("modelgen-optstate-");

    public void Dispose() => _temp.Dispose();

    static ParameterSet MakeSet(int weightSize = 37) => LayerParameters.Make(weightSize);

    static void Train(IOptimizer optimizer, ParameterSet set, int from, int steps)
    {
        for (int t = from; t < from + steps; t++)
        {
            for (int i = 0; i < set.Count; i++) Rng.Floats(set[i].Grad.Length, 100 + 7 * i + t).CopyTo(set[i].Grad, 0);
            optimizer.Step();
        }
    }

    static ParameterSet CopyOf(ParameterSet set)
    {
        var copy = MakeSet(set[0].Value.Length);
        for (int i = 0; i < set.Count; i++) set[i].Value.CopyTo(copy[i].Value, 0);
        return copy;
    }

    public static TheoryData<string> Optimizers => new() { "adamw", "sgd-momentum", "sgd-nesterov" };

    static IOptimizer Make(string kind, ParameterSet set) => kind switch
    {
        "adamw" => new AdamW(set, 1e-2f, weightDecay: 0.1f),
        "sgd-momentum" => new Sgd(set, 0.05f, momentum: 0.9f, weightDecay: 0.01f, dampening: 0.1f),
        _ => new Sgd(set, 0.05f, momentum: 0.9f, nesterov: true),
    };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void ResumingFromSavedState_ContinuesBitForBit(string kind)
    {
        var straight = MakeSet();
        var a = Make(kind, straight);
        Train(a, straight, 0, 3);
        string path = _temp.File(kind + ".safetensors");
        a.SaveState(path);
        var resumed = CopyOf(straight);
        Train(a, straight, 3, 4);

        var b = Make(kind, resumed);
        b.LoadState(path);
        Assert.Equal(3, b.StepCount);
        Train(b, resumed, 3, 4);
        for (int i = 0; i < straight.Count; i++) Assert.Equal(straight[i].Value, resumed[i].Value);
        Assert.Equal(7, b.StepCount);
    }

    [Fact]
    public void WithoutTheState_AResumedRunDiffers()
    {
        // The check above can fail: restarting Adam's moments from zero gives other parameters.
        var straight = MakeSet();
        var a = Make("adamw", straight);
        Train(a, straight, 0, 3);
        var restarted = CopyOf(straight);
        Train(a, straight, 3, 2);
        var b = Make("adamw", restarted);
        Train(b, restarted, 3, 2);
        Assert.NotEqual(straight[0].Value, restarted[0].Value);
    }

    [Fact]
    public void AdamWState_UsesPyTorchSlotNames_AndRecordsTheStep()
    {
        var set = MakeSet();
        var adam = new AdamW(set);
        Train(adam, set, 0, 2);
        string path = _temp.File("adam.safetensors");
        adam.SaveState(path);
        var (tensors, metadata) = SafeTensors.LoadWithMetadata(path);
        Assert.Equal(new[] { "exp_avg.layer.bias", "exp_avg.layer.weight", "exp_avg_sq.layer.bias", "exp_avg_sq.layer.weight" },
            tensors.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(adam.FirstMoment(0).ToArray(), tensors["exp_avg.layer.weight"].Data);
        Assert.Equal("AdamW", metadata["optimizer"]);
        Assert.Equal("2", metadata["step"]);
    }

    [Fact]
    public void UntrainableBuffers_GetNoState_AndAreNeverStepped()
    {
        var w = new Parameter("bn.weight", new[] { 6 }, decay: false);
        var running = new Parameter("bn.running_mean", new[] { 6 }, decay: false, trainable: false);
        Rng.Floats(6, 3).CopyTo(running.Value, 0);
        var set = new ParameterSet(new[] { w, running });
        var before = running.Value.ToArray();
        var adam = new AdamW(set, 1e-2f);
        var sgd = new Sgd(set, 0.05f, momentum: 0.9f);
        Train(adam, set, 0, 2);
        Train(sgd, set, 0, 2);
        Assert.Equal(before, running.Value);
        Assert.Equal(6, adam.FirstMoment(0).Length);
        Assert.Equal(0, adam.FirstMoment(1).Length);
        Assert.Equal(0, adam.SecondMoment(1).Length);
        Assert.Equal(0, sgd.MomentumBuffer(1).Length);
        string path = _temp.File("buffers.safetensors");
        adam.SaveState(path);
        Assert.DoesNotContain(SafeTensors.LoadWithMetadata(path).Tensors.Keys, k => k.Contains("running_mean", StringComparison.Ordinal));
        new AdamW(set, 1e-2f).LoadState(path);
    }

    [Fact]
    public void SgdBeforeItsFirstStep_SavesNoBuffers_AndRestoresThatState()
    {
        var set = MakeSet();
        var sgd = new Sgd(set, 0.1f, momentum: 0.9f);
        string path = _temp.File("sgd0.safetensors");
        sgd.SaveState(path);
        Assert.Empty(SafeTensors.Load(path));
        var trained = MakeSet();
        var other = new Sgd(trained, 0.1f, momentum: 0.9f);
        Train(other, trained, 0, 2);
        other.LoadState(path);
        Assert.Equal(0, other.StepCount);
        Assert.All(Enumerable.Range(0, 2), i => Assert.All(other.MomentumBuffer(i).ToArray(), v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void StateOfAnotherOptimizer_IsRejected_AndChangesNothing()
    {
        var set = MakeSet();
        var sgd = new Sgd(set, 0.1f, momentum: 0.9f);
        Train(sgd, set, 0, 1);
        string path = _temp.File("sgd.safetensors");
        sgd.SaveState(path);
        var adam = new AdamW(set);
        Train(adam, set, 0, 2);
        var before = adam.FirstMoment(0).ToArray();
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => adam.LoadState(path));
        Assert.Contains("holds SGD state, not AdamW state", e.Message);
        Assert.Equal(before, adam.FirstMoment(0).ToArray());
        Assert.Equal(2, adam.StepCount);
    }

    [Fact]
    public void StateOfOtherParameters_IsRejected_NamingEachMismatch_AndChangesNothing()
    {
        var small = MakeSet(weightSize: 10);
        var adamSmall = new AdamW(small);
        Train(adamSmall, small, 0, 1);
        string path = _temp.File("small.safetensors");
        adamSmall.SaveState(path);

        var set = MakeSet(weightSize: 37);
        var adam = new AdamW(set);
        Train(adam, set, 0, 2);
        var before = adam.SecondMoment(0).ToArray();
        var e = Assert.Throws<ModelGen.InvalidDataException>(() => adam.LoadState(path));
        Assert.Contains("'exp_avg.layer.weight' is (10) in the file but the parameter is (37)", e.Message);
        Assert.Contains("'exp_avg_sq.layer.weight' is (10)", e.Message);
        Assert.Equal(before, adam.SecondMoment(0).ToArray());
        Assert.Equal(2, adam.StepCount);
    }

    [Fact]
    public void AMissingOrCorruptFile_GivesAClearError()
    {
        var adam = new AdamW(MakeSet());
        Assert.Throws<FileNotFoundException>(() => adam.LoadState(_temp.File("none.safetensors")));
        string bad = _temp.File("bad.safetensors");
        File.WriteAllBytes(bad, new byte[] { 1, 2, 3 });
        Assert.Throws<SafeTensorsFormatException>(() => adam.LoadState(bad));
    }
}
