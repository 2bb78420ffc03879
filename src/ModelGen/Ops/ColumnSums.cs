using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace ModelGen.Ops;

/// <summary>
/// The device's column reduction (bias gradients, and norms' parameter gradients and statistics): target[c] += Σ_r src[r, c].
/// A group of 256 threads owns 32 columns; its eight warps each walk every eighth row with a lane per column, so every warp
/// load is 32 consecutive floats, and the eight partial sums meet in shared memory in a fixed order: the result does not
/// depend on scheduling (deterministic, run to run and device to device).
/// </summary>
public static class ColumnSums
{
    public const int Columns = 32, Warps = 8;

    public static KernelConfig Config(int columns) => new(new Index3D((columns + Columns - 1) / Columns, 1, 1), new Index3D(Columns * Warps, 1, 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add(ArrayView<float> target, ArrayView<float> src, int rows, int columns) =>
        Add(target, new TiledGemm.Dense(src, 0, columns, innerContiguous: true), rows, columns);

    /// <summary>target[c] += Σ_r src(r, c) for a source read as (row, column), stored or computed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add<T>(ArrayView<float> target, T src, int rows, int columns) where T : struct, TiledGemm.ITileOperand
    {
        var partial = SharedMemory.Allocate<float>(Columns * Warps);
        int lane = Group.IdxX & (Columns - 1), warp = Group.IdxX / Columns;
        int col = Grid.IdxX * Columns + lane;
        float s = 0f;
        if (col < columns)
            for (int r = warp; r < rows; r += Warps) s += src.At(r, col);
        partial[Group.IdxX] = s;
        Group.Barrier();
        if (warp != 0 || col >= columns) return;
        float total = partial[lane];
        for (int w = 1; w < Warps; w++) total += partial[w * Columns + lane];
        target[col] += total;
    }

    public const int GroupThreads = Columns * Warps;

    /// <summary>A group of <see cref="GroupThreads"/> threads for each of <paramref name="count"/> items (channels, rows).</summary>
    public static KernelConfig GroupPer(int count) => new(new Index3D(count, 1, 1), new Index3D(GroupThreads, 1, 1));

    /// <summary>The sum of every thread's <paramref name="v"/> over a group of <see cref="GroupThreads"/>, in every thread: a halving
    /// tree in shared memory, the same order each run. Every thread of the group must call it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float GroupSum(ArrayView<float> shared, float v)
    {
        int t = Group.IdxX;
        shared[t] = v;
        Group.Barrier();
        for (int half = GroupThreads / 2; half > 0; half /= 2)
        {
            if (t < half) shared[t] += shared[t + half];
            Group.Barrier();
        }
        float total = shared[0];
        Group.Barrier();
        return total;
    }
}
