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
    public static void Add(ArrayView<float> target, ArrayView<float> src, int rows, int columns)
    {
        var partial = SharedMemory.Allocate<float>(Columns * Warps);
        int lane = Group.IdxX & (Columns - 1), warp = Group.IdxX / Columns;
        int col = Grid.IdxX * Columns + lane;
        float s = 0f;
        if (col < columns)
            for (int r = warp; r < rows; r += Warps) s += src[(long)r * columns + col];
        partial[Group.IdxX] = s;
        Group.Barrier();
        if (warp != 0 || col >= columns) return;
        float total = partial[lane];
        for (int w = 1; w < Warps; w++) total += partial[w * Columns + lane];
        target[col] += total;
    }
}
