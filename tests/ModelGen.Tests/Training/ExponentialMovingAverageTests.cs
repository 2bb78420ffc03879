using System;
using System.Linq;
using ModelGen.IO;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

/// <summary>The moving average of weights: its arithmetic against a double-precision reference, swapping it in and out,
/// and saving and restoring it.</summary>
public class ExponentialMovingAverageTests : IDisposable
{
    readonly TempDirectory _temp = new("modelgen-ema-");

    public void Dispose() => _temp.Dispose();

    /// <summary>A weight (large enough, when <paramref name="weightSize"/> is, to be updated in parallel pieces), a bias
    /// and an untrainable buffer.</summary>
    static ParameterSet MakeSet(int weightSize = 37) => LayerParameters.Make(weightSize, withBuffer: true);

    /// <summary>Stands in for an optimizer step: new values for every parameter and buffer.</summary>
    static void Perturb(ParameterSet set, int t)
    {
        for (int i = 0; i < set.Count; i++) Rng.Floats(set[i].Value.Length, 100 + 7 * i + t).CopyTo(set[i].Value, 0);
    }

    [Theory]
    [InlineData(37, true)]
    [InlineData(37, false)]
    [InlineData(100_003, true)]
    public void Update_FollowsTheFormula(int weightSize, bool warmup)
    {
        var set = MakeSet(weightSize);
        const float decay = 0.9f;
        var ema = new ExponentialMovingAverage(set, decay, warmup);
        var reference = set.Select(p => p.Value.Select(x => (double)x).ToArray()).ToArray();
        for (int t = 0; t < 6; t++)
        {
            Perturb(set, t);
            double d = warmup ? Math.Min(decay, (1.0 + t) / (10.0 + t)) : decay;
            Assert.Equal((float)d, ema.NextDecay, 6);
            ema.Update();
            for (int i = 0; i < set.Count; i++)
                if (set[i].Trainable)
                    for (int j = 0; j < reference[i].Length; j++) reference[i][j] = d * reference[i][j] + (1 - d) * set[i].Value[j];
        }
        Assert.Equal(6, ema.UpdateCount);
        for (int i = 0; i < set.Count; i++)
        {
            if (set[i].Trainable) Approx.Equal(reference[i], ema.Average(i).ToArray(), 1e-6, 1e-5, set[i].Name);
            else Assert.True(ema.Average(i).IsEmpty, "a buffer is not averaged");
        }
    }

    [Fact]
    public void Apply_SwapsTheAverageIn_AndDisposingRestoresTheTrainingWeightsBitForBit()
    {
        var set = MakeSet();
        var ema = new ExponentialMovingAverage(set, 0.5f, warmup: false);
        Perturb(set, 1);
        ema.Update();
        Perturb(set, 2);
        var training = set.Select(p => (float[])p.Value.Clone()).ToArray();
        var average = Enumerable.Range(0, set.Count).Select(i => ema.Average(i).ToArray()).ToArray();
        int version = set[0].Version;

        using (ema.Apply())
        {
            Assert.Equal(average[0], set[0].Value);
            Assert.Equal(average[1], set[1].Value);
            Assert.Equal(training[2], set[2].Value); // the buffer stays the model's
            Assert.True(set[0].Version > version, "a device copy must see the swapped values");
            Assert.Throws<InvalidOperationException>(() => ema.Apply());
            Assert.Throws<InvalidOperationException>(() => ema.Update());
        }
        for (int i = 0; i < set.Count; i++) Assert.Equal(training[i], set[i].Value);
        Assert.Equal(average[0], ema.Average(0).ToArray());
    }

    [Fact]
    public void SavedAverage_IsAStateDictOfTheAveragedWeights_AndResumingContinuesBitForBit()
    {
        var straight = MakeSet();
        var a = new ExponentialMovingAverage(straight, 0.8f);
        for (int t = 0; t < 3; t++) { Perturb(straight, t); a.Update(); }
        string path = _temp.File("ema.safetensors");
        a.Save(path, new System.Collections.Generic.Dictionary<string, string> { ["model"] = "Test" });

        // The file loads as the model's own weights: the averages, and the model's buffer.
        var loaded = MakeSet();
        loaded.Load(path);
        Assert.Equal(a.Average(0).ToArray(), loaded[0].Value);
        Assert.Equal(straight[2].Value, loaded[2].Value);
        Assert.Equal("Test", SafeTensors.LoadWithMetadata(path).Metadata["model"]);

        // A fresh average over the same weights, restored from the file, continues exactly as the one that never stopped.
        var resumedSet = MakeSet();
        for (int i = 0; i < straight.Count; i++) straight[i].Value.CopyTo(resumedSet[i].Value, 0);
        var b = new ExponentialMovingAverage(resumedSet, 0.8f);
        b.Load(path);
        Assert.Equal(3, b.UpdateCount);
        for (int t = 3; t < 6; t++)
        {
            Perturb(straight, t); a.Update();
            Perturb(resumedSet, t); b.Update();
        }
        for (int i = 0; i < straight.Count; i++) Assert.Equal(a.Average(i).ToArray(), b.Average(i).ToArray());
    }

    [Fact]
    public void Load_RejectsAPlainCheckpointAndAnotherShape_AndChangesNothing()
    {
        var set = MakeSet();
        var ema = new ExponentialMovingAverage(set, 0.9f);
        Perturb(set, 1);
        ema.Update();
        var before = ema.Average(0).ToArray();

        string plain = _temp.File("model.safetensors");
        set.Save(plain);
        var e1 = Assert.Throws<ModelGen.InvalidDataException>(() => ema.Load(plain));
        Assert.Contains("ema_updates", e1.Message);

        string other = _temp.File("other.safetensors");
        new ExponentialMovingAverage(MakeSet(40), 0.9f).Save(other);
        var e2 = Assert.Throws<ModelGen.InvalidDataException>(() => ema.Load(other));
        Assert.Contains("'layer.weight' is (40) in the file but (37) in the model", e2.Message);

        Assert.Equal(before, ema.Average(0).ToArray());
        Assert.Equal(1, ema.UpdateCount);
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(-0.1f)]
    [InlineData(float.NaN)]
    public void ADecayOutsideZeroToOne_IsRejectedWithTheNumber(float decay)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ExponentialMovingAverage(MakeSet(), decay));
        Assert.Contains(decay.ToString(System.Globalization.CultureInfo.CurrentCulture), e.Message);
    }
}
