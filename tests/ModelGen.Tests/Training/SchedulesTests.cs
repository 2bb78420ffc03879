using System;
using System.Linq;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

public class SchedulesTests
{
    [Fact]
    public void WarmupCosine_RampsLinearlyThenFollowsCosineToMin()
    {
        var s = new WarmupCosine(baseLr: 0.1f, warmupSteps: 10, totalSteps: 110, minLr: 0.001f);
        Assert.Equal(0.01f, s.At(0), 1e-7);
        Assert.Equal(0.05f, s.At(4), 1e-7);
        Assert.Equal(0.1f, s.At(9), 1e-7);
        Assert.Equal(0.1f, s.At(10), 1e-7);
        Assert.Equal((0.1 + 0.001) / 2, s.At(60), 1e-7); // half-way through the cosine
        Assert.Equal(0.001 + 0.099 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.At(35), 1e-7);
        Assert.Equal(0.001f, s.At(110), 1e-9);
        Assert.Equal(0.001f, s.At(500), 1e-9);
        for (int t = 0; t < 9; t++) Assert.True(s.At(t + 1) > s.At(t));
        for (int t = 10; t < 110; t++) Assert.True(s.At(t + 1) <= s.At(t));
    }

    [Fact]
    public void WarmupCosine_WithoutWarmup_StartsAtBase()
    {
        var s = new WarmupCosine(1f, 0, 4);
        Assert.Equal(new[] { 1f, (float)(0.5 * (1 + Math.Cos(Math.PI / 4))), 0.5f, (float)(0.5 * (1 + Math.Cos(3 * Math.PI / 4))), 0f },
            Enumerable.Range(0, 5).Select(s.At).ToArray());
    }

    [Fact]
    public void WarmupCosine_RejectsBadArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosine(0.1f, 10, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosine(0.1f, -1, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosine(0.1f, 1, 10, minLr: 0.2f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosine(0.1f, 1, 10).At(-1));
    }

    /// <summary>OneCycleLR's documented schedule written out directly: two cosine phases split at pct_start·total − 1.</summary>
    static double OneCycleFormula(double maxLr, int total, int step, double pctStart = 0.3, double div = 25, double finalDiv = 1e4)
    {
        double initial = maxLr / div, min = initial / finalDiv;
        double peak = pctStart * total - 1;
        static double Cos(double from, double to, double pct) => to + (from - to) / 2 * (Math.Cos(Math.PI * pct) + 1);
        return step <= peak
            ? Cos(initial, maxLr, step / peak)
            : Cos(maxLr, min, (step - peak) / (total - 1 - peak));
    }

    [Theory]
    [InlineData(0.1f, 100)]
    [InlineData(0.003f, 937)]
    [InlineData(1f, 10)]
    public void OneCycle_MatchesFormula(float maxLr, int total)
    {
        var s = new OneCycle(maxLr, total);
        for (int t = 0; t < total; t++) Assert.Equal(OneCycleFormula(maxLr, total, t), s.At(t), Math.Max(1e-7, maxLr * 1e-6));
        Assert.Equal(maxLr / 25.0, s.At(0), maxLr * 1e-6);
        Assert.Equal(maxLr / 25.0 / 1e4, s.At(total - 1), maxLr * 1e-9);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.At(total));
    }

    [Fact]
    public void OneCycle_PeaksAtPctStart_AndCyclesMomentumInversely()
    {
        var s = new OneCycle(0.5f, 100);
        Assert.Equal(0.5f, s.At(29), 1e-7);
        Assert.True(s.At(28) < s.At(29) && s.At(30) < s.At(29));
        Assert.Equal(0.95f, s.MomentumAt(0), 1e-7);
        Assert.Equal(0.85f, s.MomentumAt(29), 1e-7);
        Assert.Equal(0.95f, s.MomentumAt(99), 1e-7);
    }

    [SkippableFact]
    public void OneCycle_MatchesTorch()
    {
        var cases = new[] { (0.1, 100, false, "cos"), (0.003, 937, false, "cos"), (0.05, 47, true, "cos"), (0.2, 60, false, "linear") };
        var torch = TorchOracle.Run("""
            out = []
            for max_lr, total, three, anneal in inp:
                p = torch.nn.Parameter(torch.zeros(1))
                opt = torch.optim.SGD([p], lr=max_lr, momentum=0.9)
                sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, three_phase=three, anneal_strategy=anneal)
                lrs, moms = [], []
                for t in range(total):
                    lrs.append(opt.param_groups[0]['lr']); moms.append(opt.param_groups[0]['momentum'])
                    opt.step(); sched.step()
                out.append({'lr': lrs, 'momentum': moms})
            print(json.dumps({'cases': out}))
            """, cases.Select(c => new object[] { c.Item1, c.Item2, c.Item3, c.Item4 }).ToArray());
        var results = torch.GetProperty("cases").EnumerateArray().ToArray();
        for (int k = 0; k < cases.Length; k++)
        {
            var (maxLr, total, three, anneal) = cases[k];
            var s = new OneCycle((float)maxLr, total, threePhase: three, anneal: anneal == "cos" ? AnnealStrategy.Cos : AnnealStrategy.Linear);
            var ours = Enumerable.Range(0, total).Select(s.At).ToArray();
            var momentum = Enumerable.Range(0, total).Select(s.MomentumAt).ToArray();
            Approx.Equal(TorchOracle.Doubles(results[k].GetProperty("lr")), ours, 1e-9, 1e-6, $"lr case {k}");
            Approx.Equal(TorchOracle.Doubles(results[k].GetProperty("momentum")), momentum, 1e-7, 1e-6, $"momentum case {k}");
        }
    }
}
