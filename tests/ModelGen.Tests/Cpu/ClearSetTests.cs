using System;
using ModelGen.Ops;
using Xunit;

namespace ModelGen.Tests.Cpu;

public class ClearSetTests
{
    [Fact]
    public void Clear_ClearsEveryBufferWhole_AndNothingElse()
    {
        // Empty, tiny, exactly one piece, one piece and a bit, and many pieces: the cut points must cover every element.
        int[] lengths = { 0, 1, Chunks.Size, Chunks.Size + 1, 5 * Chunks.Size - 3, 17 };
        var buffers = new float[lengths.Length][];
        for (int i = 0; i < lengths.Length; i++)
        {
            buffers[i] = new float[lengths[i]];
            Array.Fill(buffers[i], i + 1f);
        }
        var bystander = new float[100];
        Array.Fill(bystander, 9f);
        var set = new ModelGen.Cpu.ClearSet(buffers);
        set.Clear();
        // The pieces are cut once: a second clear after the buffers fill again (the next backward pass) covers them too.
        foreach (var b in buffers) Array.Fill(b, 3f);
        set.Clear();
        for (int i = 0; i < buffers.Length; i++)
        {
            int at = Array.FindIndex(buffers[i], v => v != 0f);
            Assert.True(at < 0, $"buffer {i} ({lengths[i]} floats) still holds {(at < 0 ? 0 : buffers[i][at])} at {at}");
        }
        Assert.All(bystander, v => Assert.Equal(9f, v));
    }

    [Fact]
    public void Clear_OfNoBuffers_DoesNothing() => new ModelGen.Cpu.ClearSet().Clear();
}
