using System.Linq;
using ModelGen.Generators.Layers;
using ModelGen.Ops;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>The generator sizes the block-sparse kernels from its own count of the pattern's block pairs; the runtime builds
/// the pattern. The two must agree for every pattern a declaration can ask for, or the generated code reads past a buffer.</summary>
public class SparsePatternCountTests
{
    [Fact]
    public void GeneratorCountsThePairsTheRuntimeLayoutHolds()
    {
        int checkedPatterns = 0;
        foreach (int blocks in new[] { 1, 2, 3, 5, 8, 13 })
            foreach (int window in new[] { 0, 1, 3 })
                foreach (int global in new[] { 0, 1, 2 }.Where(g => g <= blocks))
                    foreach (int random in new[] { 0, 1, 4 })
                        foreach (int stride in new[] { 0, 2, 3 })
                            foreach (bool causal in new[] { false, true })
                                foreach (int seed in new[] { 0, 7 })
                                {
                                    var layout = BlockSparseAttention.Layout(blocks, window, global, random, stride, causal, seed);
                                    int runtime = (int)BlockSparseAttention.BlockMask(layout).Sum();
                                    int generator = SparseAttentionRule.Pairs(blocks, window, global, random, stride, causal);
                                    Assert.True(runtime == generator,
                                        $"blocks {blocks}, window {window}, global {global}, random {random}, stride {stride}, causal {causal}, seed {seed}: " +
                                        $"the layout holds {runtime} pairs, the generator counts {generator}");
                                    checkedPatterns++;
                                }
        Assert.True(checkedPatterns > 1000, $"only {checkedPatterns} patterns checked");
    }
}
