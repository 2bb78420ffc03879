using System;
using ModelGen.Cpu;
using System.Collections.Generic;

namespace ModelGen.Training;

/// <summary>
/// Splits a parameter set into contiguous element ranges so element-wise updates can run in parallel. Every element
/// is updated by the same arithmetic whichever thread takes its range, so results do not depend on scheduling.
/// Buffers that are not trainable (running statistics) are left out.
/// </summary>
internal sealed class ParameterChunks
{
    /// <summary>Elements per work item; below <see cref="ParallelThreshold"/> in all, everything runs on the calling thread.</summary>
    internal const int ChunkSize = 1 << 15;
    internal const long ParallelThreshold = 1 << 16;

    readonly (int Parameter, int Start, int Length)[] _chunks;
    readonly bool _parallel;

    public ParameterChunks(ParameterSet parameters)
    {
        var list = new List<(int, int, int)>();
        long total = 0;
        for (int p = 0; p < parameters.Count; p++)
        {
            if (!parameters[p].Trainable) continue;
            int n = parameters[p].Value.Length;
            total += n;
            for (int s = 0; s < n; s += ChunkSize) list.Add((p, s, Math.Min(ChunkSize, n - s)));
        }
        _chunks = list.ToArray();
        _parallel = total >= ParallelThreshold && Environment.ProcessorCount > 1;
    }

    public void Run(Action<int, int, int> body)
    {
        if (_parallel)
        {
            Workers.For(_chunks.Length, i =>
            {
                var (p, s, n) = _chunks[i];
                body(p, s, n);
            });
        }
        else
        {
            foreach (var (p, s, n) in _chunks) body(p, s, n);
        }
    }
}
