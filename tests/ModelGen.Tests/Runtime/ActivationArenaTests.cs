using System;
using ModelGen;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Runtime;

/// <summary>The arena's device layout: gradients only for activations that have one, and a buffer filled on request (attention
/// probabilities under flash attention, B·H·N² floats) allocated only when it is first asked for.</summary>
public class ActivationArenaTests
{
    static readonly ActivationInfo[] Table =
    {
        new("x", new[] { 4, 8 }),
        new("attn.probs", new[] { 2, 4, 4 }, Grad: false, OnRequest: true),
        new("attn.lse", new[] { 2, 4 }, Grad: false, DeviceOnly: true),
        new("y", new[] { 4, 8 }),
    };

    [Fact]
    public void OnTheDevice_AnOnRequestBufferIsAllocatedWhenFirstAskedFor()
    {
        using var sim = Device.CpuSimulator();
        using var runtime = new ModelRuntime(sim, new ParameterSet(Array.Empty<Parameter>()), seed: 0);
        using var arena = new ActivationArena(runtime, Table, batch: 3);
        // Values: x, lse, y (probs waits); gradients: x and y only.
        long values = 3 * (32 + 8 + 32), grads = 3 * (32 + 32);
        Assert.Equal(4 * (values + grads), arena.DeviceBytes);

        var probs = arena.View(1);
        Assert.Equal(3 * 32, probs.Length);
        Assert.Equal(4 * (values + grads + 3 * 32), arena.DeviceBytes);
        Assert.Equal(probs.Length, arena.View(1).Length);
        Assert.Equal(4 * (values + grads + 3 * 32), arena.DeviceBytes);

        // Views do not overlap: what is written to one is not seen in another.
        arena.Upload(0, Arrays.Filled(3 * 32, 1f));
        arena.Upload(3, Arrays.Filled(3 * 32, 2f));
        arena.Upload(0, Arrays.Filled(3 * 32, 3f), gradient: true);
        arena.Upload(3, Arrays.Filled(3 * 32, 4f), gradient: true);
        Assert.All(arena.Read(0).Data, v => Assert.Equal(1f, v));
        Assert.All(arena.Read(3).Data, v => Assert.Equal(2f, v));
        Assert.All(arena.Read(0, gradient: true).Data, v => Assert.Equal(3f, v));
        Assert.All(arena.Read(3, gradient: true).Data, v => Assert.Equal(4f, v));
        Assert.All(arena.Read(1).Data, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AnActivationWithoutAGradient_HasNoGradientView()
    {
        using var sim = Device.CpuSimulator();
        using var runtime = new ModelRuntime(sim, new ParameterSet(Array.Empty<Parameter>()), seed: 0);
        using var arena = new ActivationArena(runtime, Table, batch: 2);
        var e = Assert.Throws<InvalidOperationException>(() => arena.GradView(2));
        Assert.Contains("attn.lse", e.Message);
    }

    [Fact]
    public void OnTheCpu_EveryHostActivationIsAllocated()
    {
        using var cpu = Device.Cpu();
        using var runtime = new ModelRuntime(cpu, new ParameterSet(Array.Empty<Parameter>()), seed: 0);
        using var arena = new ActivationArena(runtime, Table, batch: 2);
        Assert.Equal(0, arena.DeviceBytes);
        Assert.Equal(2 * 32, arena[1].Length);
        Assert.Empty(arena[2]);
        Assert.Empty(arena.Grad(1));
    }
}
