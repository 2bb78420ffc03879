using ModelGen;

namespace ModelGen.Tests.Support;

/// <summary>The small parameter set the training-state tests share: a decayed weight and a bias with fixed random values,
/// and optionally an untrainable buffer (running statistics), under state_dict-style names.</summary>
public static class LayerParameters
{
    public static ParameterSet Make(int weightSize = 37, bool withBuffer = false)
    {
        var w = new Parameter("layer.weight", new[] { weightSize }, decay: true);
        var b = new Parameter("layer.bias", new[] { 5 }, decay: false);
        Rng.Floats(weightSize, 1).CopyTo(w.Value, 0);
        Rng.Floats(5, 2).CopyTo(b.Value, 0);
        if (!withBuffer) return new ParameterSet(new[] { w, b });
        var r = new Parameter("norm.running_mean", new[] { 3 }, decay: false, trainable: false);
        Rng.Floats(3, 3).CopyTo(r.Value, 0);
        return new ParameterSet(new[] { w, b, r });
    }
}
