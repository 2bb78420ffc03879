using System;
using System.Linq;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

public class GradientClippingTests
{
    static ParameterSet MakeSet(int seed, float scale, params int[] sizes)
    {
        var set = new ParameterSet(sizes.Select((n, i) => new Parameter($"p{i}", new[] { n }, decay: i % 2 == 0)));
        for (int i = 0; i < set.Count; i++) Rng.Floats(sizes[i], seed + i, scale).CopyTo(set[i].Grad, 0);
        return set;
    }

    static double Norm(ParameterSet set) => Math.Sqrt(set.Sum(p => p.Grad.Sum(g => (double)g * g)));

    [Theory]
    [InlineData(37, 5, 1)]
    [InlineData(200_001, 3, 1000)] // several parallel chunks
    public void AboveMax_ScalesToMax_AndReturnsTheOriginalNorm(int a, int b, int c)
    {
        var set = MakeSet(1, 1f, a, b, c);
        double norm = Norm(set);
        var before = set.Select(p => p.Grad.ToArray()).ToArray();
        float maxNorm = (float)(norm / 4);
        float returned = GradientClipping.ClipByGlobalNorm(set, maxNorm);
        Assert.Equal(norm, returned, norm * 1e-6);
        double coef = maxNorm / ((float)norm + 1e-6);
        for (int k = 0; k < set.Count; k++)
            Approx.Equal(before[k].Select(g => g * coef).ToArray(), set[k].Grad, 1e-9, 1e-6, set[k].Name);
        Assert.Equal(maxNorm, Norm(set), maxNorm * 1e-5);
    }

    [Fact]
    public void BelowMax_LeavesGradientsAlone()
    {
        var set = MakeSet(2, 0.1f, 10, 4);
        var before = set.Select(p => p.Grad.ToArray()).ToArray();
        double norm = Norm(set);
        float returned = GradientClipping.ClipByGlobalNorm(set, (float)norm * 2);
        Assert.Equal(norm, returned, 1e-6);
        for (int k = 0; k < set.Count; k++) Assert.Equal(before[k], set[k].Grad);
    }

    [Fact]
    public void KnownNorm()
    {
        var p = new Parameter("w", new[] { 2 }, true);
        var q = new Parameter("b", new[] { 1 }, false);
        p.Grad[0] = 3; p.Grad[1] = 0; q.Grad[0] = 4; // norm 5
        var set = new ParameterSet(new[] { p, q });
        Assert.Equal(5f, GradientClipping.ClipByGlobalNorm(set, 1f));
        float coef = 1f / (5f + 1e-6f);
        Assert.Equal(3 * coef, p.Grad[0]);
        Assert.Equal(4 * coef, q.Grad[0]);
    }

    [Fact]
    public void NonFiniteNorm_IsReturned_AndGradientsAreUntouched()
    {
        var set = MakeSet(3, 1f, 8);
        set[0].Grad[3] = float.NaN;
        var before = set[0].Grad.ToArray();
        Assert.True(float.IsNaN(GradientClipping.ClipByGlobalNorm(set, 1f)));
        Assert.Equal(before, set[0].Grad);
        set[0].Grad[3] = float.PositiveInfinity;
        Assert.True(float.IsPositiveInfinity(GradientClipping.ClipByGlobalNorm(set, 1f)));
    }

    [Fact]
    public void RejectsNonPositiveMax()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipByGlobalNorm(MakeSet(4, 1f, 3), 0f));
    }

    [SkippableFact]
    public void MatchesTorch()
    {
        var sizes = new[] { 50, 7, 300 };
        var set = MakeSet(5, 2f, sizes);
        var grads = set.Select(p => p.Grad.ToArray()).ToArray();
        var torch = TorchOracle.Run("""
            ps = []
            for g in inp['grads']:
                p = torch.nn.Parameter(torch.zeros(len(g)))
                p.grad = torch.tensor(g, dtype=torch.float32)
                ps.append(p)
            n = torch.nn.utils.clip_grad_norm_(ps, inp['max'])
            print(json.dumps({'norm': n.item(), 'grads': [p.grad.tolist() for p in ps]}))
            """, new { grads, max = 3.0 });
        float norm = GradientClipping.ClipByGlobalNorm(set, 3f);
        Assert.Equal(torch.GetProperty("norm").GetDouble(), norm, 1e-5);
        var tg = torch.GetProperty("grads").EnumerateArray().ToArray();
        for (int k = 0; k < set.Count; k++)
            Approx.Equal(TorchOracle.Floats(tg[k]), set[k].Grad, 1e-7, 1e-6, set[k].Name);
    }
}
