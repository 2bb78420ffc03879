using System;
using ModelGen.Tests.Models;
using Xunit;

namespace ModelGen.Tests.Support;

/// <summary>A layer's random buffer (Performer's projection, Reformer's rotations) as a user relies on it: the same seed draws
/// the same values and another seed others; it is saved and loaded with the parameters; a redraw from a seed changes the
/// output, and the same redraw of two models gives the same output.</summary>
public static class RandomBuffers
{
    /// <param name="make">A model of the seed: its parameters and forward (disposed by the caller's using).</param>
    /// <param name="buffer">The buffer's parameter name.</param>
    /// <param name="redraw">The layer's redraw (parameters, seed) → how many buffers it drew.</param>
    public static void AreSeededSavedAndRedrawn<TModel>(Func<int, TModel> make, Func<TModel, ParameterSet> parameters, Func<TModel, Tensor, Tensor> forward,
        string buffer, Func<ParameterSet, int, int> redraw, Tensor x) where TModel : IDisposable
    {
        using var a = make(10);
        using var b = make(10);
        using var c = make(11);
        Assert.Equal(parameters(a)[buffer].Value, parameters(b)[buffer].Value);
        Assert.NotEqual(parameters(a)[buffer].Value, parameters(c)[buffer].Value);
        Assert.False(parameters(a)[buffer].Trainable);
        var before = forward(a, x).Data;
        using var dir = new TempDirectory("random-buffers");
        string file = dir.File("model.safetensors");
        parameters(a).Save(file);
        parameters(c).Load(file);
        Assert.Equal(before, forward(c, x).Data);
        Assert.Equal(1, redraw(parameters(a), 12));
        var redrawn = forward(a, x).Data;
        Assert.True(Approx.RelativeError(before, redrawn) > 1e-4, "a redraw changes the output");
        redraw(parameters(c), 12);
        Assert.Equal(redrawn, forward(c, x).Data);
    }
}
