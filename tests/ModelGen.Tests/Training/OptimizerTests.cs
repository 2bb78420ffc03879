using System;
using System.Linq;
using ModelGen.Tests.Support;
using ModelGen.Training;
using Xunit;

namespace ModelGen.Tests.Training;

public class OptimizerTests
{
    /// <summary>A decayed weight (sizes chosen to exercise both the SIMD body and the scalar tail) and an undecayed bias.</summary>
    static ParameterSet MakeSet(int weightSize = 37, int biasSize = 5, int seed = 1)
    {
        var w = new Parameter("layer.weight", new[] { weightSize }, decay: true);
        var b = new Parameter("layer.bias", new[] { biasSize }, decay: false);
        Rng.Floats(weightSize, seed).CopyTo(w.Value, 0);
        Rng.Floats(biasSize, seed + 1).CopyTo(b.Value, 0);
        return new ParameterSet(new[] { w, b });
    }

    /// <summary>The gradient fed at step t (a different one each step, some steps of opposite sign).</summary>
    static float[] GradAt(int size, int param, int step) => Rng.Floats(size, 1000 + 31 * param + step, scale: step % 3 == 2 ? 0.01f : 1f);

    static void SetGrads(ParameterSet set, int step)
    {
        for (int i = 0; i < set.Count; i++) GradAt(set[i].Grad.Length, i, step).CopyTo(set[i].Grad, 0);
    }

    /// <summary>torch.optim.AdamW's formulas in double, with decay only where <paramref name="decay"/>.</summary>
    static double[] AdamWReference(float[] initial, bool decay, int param, int steps, double lr, double b1, double b2,
        double eps, double wd, Func<int, double>? lrAt = null)
    {
        var p = Rng.ToDouble(initial);
        var m = new double[p.Length];
        var v = new double[p.Length];
        for (int t = 1; t <= steps; t++)
        {
            double rate = lrAt?.Invoke(t - 1) ?? lr;
            var g = GradAt(p.Length, param, t - 1);
            double bc1 = 1 - Math.Pow(b1, t), bc2 = 1 - Math.Pow(b2, t);
            for (int i = 0; i < p.Length; i++)
            {
                if (decay) p[i] *= 1 - rate * wd;
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                p[i] -= rate / bc1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps);
            }
        }
        return p;
    }

    /// <summary>torch.optim.SGD's formulas in double.</summary>
    static double[] SgdReference(float[] initial, bool decay, int param, int steps, double lr, double mu, bool nesterov,
        double wd, double dampening)
    {
        var p = Rng.ToDouble(initial);
        double[]? buf = null;
        for (int t = 0; t < steps; t++)
        {
            var g = GradAt(p.Length, param, t);
            var d = new double[p.Length];
            for (int i = 0; i < p.Length; i++) d[i] = g[i] + (decay ? wd * p[i] : 0);
            if (mu != 0)
            {
                if (buf is null) buf = (double[])d.Clone();
                else for (int i = 0; i < p.Length; i++) buf[i] = mu * buf[i] + (1 - dampening) * d[i];
                for (int i = 0; i < p.Length; i++) d[i] = nesterov ? d[i] + mu * buf[i] : buf[i];
            }
            for (int i = 0; i < p.Length; i++) p[i] -= lr * d[i];
        }
        return p;
    }

    [Theory]
    [InlineData(37, 5, 0.01f)]
    [InlineData(37, 5, 0f)]
    [InlineData(3, 1, 0.1f)]
    [InlineData(200_003, 17, 0.05f)] // above the parallel threshold
    public void AdamW_MatchesTorchFormulas(int weightSize, int biasSize, float wd)
    {
        var set = MakeSet(weightSize, biasSize);
        var initial = set.Select(p => (float[])p.Value.Clone()).ToArray();
        var opt = new AdamW(set, learningRate: 0.01f, beta1: 0.9f, beta2: 0.999f, epsilon: 1e-8f, weightDecay: wd);
        const int steps = 6;
        for (int t = 0; t < steps; t++)
        {
            SetGrads(set, t);
            opt.Step();
        }
        Assert.Equal(steps, opt.StepCount);
        for (int i = 0; i < set.Count; i++)
        {
            var expected = AdamWReference(initial[i], set[i].Decay, i, steps, 0.01f, 0.9f, 0.999f, 1e-8f, wd);
            Approx.Equal(expected, set[i].Value, 1e-6, 1e-5, set[i].Name);
        }
    }

    [Fact]
    public void AdamW_FirstStep_MovesEachElementByLearningRate()
    {
        // With m̂ = g and v̂ = g², the first update is lr·g/(|g| + ε) ≈ lr·sign(g).
        var set = MakeSet(11, 2);
        var before = set[0].Value.ToArray();
        SetGrads(set, 0);
        new AdamW(set, learningRate: 0.001f, weightDecay: 0f).Step();
        for (int i = 0; i < before.Length; i++)
            Assert.Equal(before[i] - 0.001 * Math.Sign(set[0].Grad[i]), set[0].Value[i], 1e-6);
    }

    [Fact]
    public void AdamW_AddsEpsilonAfterTheBiasCorrectedSquareRoot()
    {
        // With a large ε the placement of ε matters: √v̂ + ε, not √(v̂ + ε) nor √v + ε.
        var set = MakeSet(21, 3);
        var initial = set.Select(p => (float[])p.Value.Clone()).ToArray();
        var opt = new AdamW(set, learningRate: 0.01f, beta1: 0.8f, beta2: 0.9f, epsilon: 0.3f, weightDecay: 0.02f);
        for (int t = 0; t < 4; t++)
        {
            SetGrads(set, t);
            opt.Step();
        }
        for (int i = 0; i < set.Count; i++)
        {
            var expected = AdamWReference(initial[i], set[i].Decay, i, 4, 0.01f, 0.8f, 0.9f, 0.3f, 0.02f);
            Approx.Equal(expected, set[i].Value, 1e-7, 1e-6, set[i].Name);
        }
    }

    [Fact]
    public void AdamW_DecaysOnlyDecayParameters()
    {
        // Zero gradients: m and v stay 0, so only decoupled decay moves anything.
        var set = MakeSet(9, 4);
        var w = set[0].Value.ToArray();
        var b = set[1].Value.ToArray();
        new AdamW(set, learningRate: 0.1f, weightDecay: 0.5f).Step();
        for (int i = 0; i < w.Length; i++) Assert.Equal(w[i] * (1 - 0.1f * 0.5f), set[0].Value[i], 1e-7);
        Assert.Equal(b, set[1].Value);
    }

    [Fact]
    public void AdamW_FollowsLearningRateChanges()
    {
        var set = MakeSet();
        var initial = set.Select(p => (float[])p.Value.Clone()).ToArray();
        var opt = new AdamW(set, learningRate: 1f, weightDecay: 0.1f);
        Func<int, double> schedule = t => (float)(0.02 / (t + 1));
        for (int t = 0; t < 5; t++)
        {
            opt.LearningRate = (float)schedule(t);
            SetGrads(set, t);
            opt.Step();
        }
        for (int i = 0; i < set.Count; i++)
        {
            var expected = AdamWReference(initial[i], set[i].Decay, i, 5, 0, 0.9f, 0.999f, 1e-8f, 0.1f, schedule);
            Approx.Equal(expected, set[i].Value, 1e-6, 1e-5, set[i].Name);
        }
    }

    [Theory]
    [InlineData(0f, false, 0f, 0f)]
    [InlineData(0.9f, false, 0f, 0f)]
    [InlineData(0.9f, true, 0f, 0f)]
    [InlineData(0.9f, false, 0.01f, 0f)]
    [InlineData(0.9f, true, 0.05f, 0f)]
    [InlineData(0.5f, false, 0.01f, 0.3f)]
    [InlineData(0f, false, 0.1f, 0f)]
    public void Sgd_MatchesTorchFormulas(float mu, bool nesterov, float wd, float dampening)
    {
        foreach (int size in new[] { 37, 150_001 })
        {
            var set = MakeSet(size, 5);
            var initial = set.Select(p => (float[])p.Value.Clone()).ToArray();
            var opt = new Sgd(set, learningRate: 0.05f, momentum: mu, nesterov: nesterov, weightDecay: wd, dampening: dampening);
            const int steps = 5;
            for (int t = 0; t < steps; t++)
            {
                SetGrads(set, t);
                opt.Step();
            }
            for (int i = 0; i < set.Count; i++)
            {
                var expected = SgdReference(initial[i], set[i].Decay, i, steps, 0.05f, mu, nesterov, wd, dampening);
                Approx.Equal(expected, set[i].Value, 1e-6, 1e-5, $"{set[i].Name} ({size})");
            }
        }
    }

    [Fact]
    public void Sgd_PlainStep_IsPMinusLrG()
    {
        var set = MakeSet(10, 3);
        var before = set.Select(p => p.Value.ToArray()).ToArray();
        SetGrads(set, 0);
        new Sgd(set, learningRate: 0.5f, weightDecay: 0.2f).Step();
        for (int k = 0; k < set.Count; k++)
        for (int i = 0; i < before[k].Length; i++)
        {
            float g = set[k].Grad[i] + (set[k].Decay ? 0.2f * before[k][i] : 0f);
            Assert.Equal(before[k][i] - 0.5f * g, set[k].Value[i], 1e-6);
        }
    }

    [Fact]
    public void Sgd_RejectsNesterovWithoutMomentum()
    {
        Assert.Throws<ArgumentException>(() => new Sgd(MakeSet(), 0.1f, momentum: 0f, nesterov: true));
        Assert.Throws<ArgumentException>(() => new Sgd(MakeSet(), 0.1f, momentum: 0.9f, nesterov: true, dampening: 0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sgd(MakeSet(), -0.1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW(MakeSet(), beta1: 1f));
    }

    [Fact]
    public void Step_MarksEveryParameterChanged()
    {
        var set = MakeSet();
        foreach (IOptimizer opt in new IOptimizer[] { new AdamW(set), new Sgd(set, 0.1f, 0.9f) })
        {
            var versions = set.Select(p => p.Version).ToArray();
            SetGrads(set, 0);
            opt.Step();
            for (int i = 0; i < set.Count; i++) Assert.Equal(versions[i] + 1, set[i].Version);
        }
    }

    [Fact]
    public void ParallelAndSerialPaths_GiveIdenticalResults()
    {
        // One large parameter updated in chunks across threads vs the same elements as many small (serial) parameters.
        const int n = 140_000;
        var big = new Parameter("big", new[] { n }, decay: true);
        Rng.Floats(n, 5).CopyTo(big.Value, 0);
        var bigSet = new ParameterSet(new[] { big });
        var small = Enumerable.Range(0, n / 1000).Select(k => new Parameter($"p{k}", new[] { 1000 }, decay: true)).ToArray();
        var smallSets = small.Select(p => new ParameterSet(new[] { p })).ToArray();
        for (int k = 0; k < small.Length; k++) Array.Copy(big.Value, k * 1000, small[k].Value, 0, 1000);
        var bigOpt = new AdamW(bigSet, 0.01f, weightDecay: 0.1f);
        var smallOpts = smallSets.Select(s => new AdamW(s, 0.01f, weightDecay: 0.1f)).ToArray();
        for (int t = 0; t < 3; t++)
        {
            var g = Rng.Floats(n, 100 + t);
            g.CopyTo(big.Grad, 0);
            for (int k = 0; k < small.Length; k++) Array.Copy(g, k * 1000, small[k].Grad, 0, 1000);
            bigOpt.Step();
            foreach (var o in smallOpts) o.Step();
        }
        for (int k = 0; k < small.Length; k++)
            Assert.True(big.Value.AsSpan(k * 1000, 1000).SequenceEqual(small[k].Value), $"chunk {k} differs");
    }

    const string TorchOptimizerScript = """
        out = {}
        def run(make):
            w = torch.tensor(inp['w'], dtype=torch.float32).requires_grad_()
            b = torch.tensor(inp['b'], dtype=torch.float32).requires_grad_()
            opt = make(w, b)
            for t in range(inp['steps']):
                w.grad = torch.tensor(inp['gw'][t], dtype=torch.float32)
                b.grad = torch.tensor(inp['gb'][t], dtype=torch.float32)
                opt.step()
            return {'w': w.detach().tolist(), 'b': b.detach().tolist()}
        out['adamw'] = run(lambda w, b: torch.optim.AdamW([{'params': [w], 'weight_decay': 0.05}, {'params': [b], 'weight_decay': 0.0}],
                                                        lr=0.01, betas=(0.9, 0.999), eps=1e-8))
        out['sgd'] = run(lambda w, b: torch.optim.SGD([{'params': [w], 'weight_decay': 0.01}, {'params': [b], 'weight_decay': 0.0}],
                                                    lr=0.05, momentum=0.9))
        out['nesterov'] = run(lambda w, b: torch.optim.SGD([{'params': [w], 'weight_decay': 0.01}, {'params': [b], 'weight_decay': 0.0}],
                                                         lr=0.05, momentum=0.9, nesterov=True))
        out['damp'] = run(lambda w, b: torch.optim.SGD([{'params': [w], 'weight_decay': 0.02}, {'params': [b], 'weight_decay': 0.0}],
                                                     lr=0.1, momentum=0.5, dampening=0.25))
        print(json.dumps(out))
        """;

    [SkippableFact]
    public void MatchTorchOptimizers()
    {
        const int steps = 7;
        var set = MakeSet(19, 3);
        var w0 = set[0].Value.ToArray();
        var b0 = set[1].Value.ToArray();
        var gw = Enumerable.Range(0, steps).Select(t => GradAt(19, 0, t)).ToArray();
        var gb = Enumerable.Range(0, steps).Select(t => GradAt(3, 1, t)).ToArray();
        var torch = TorchOracle.Run(TorchOptimizerScript, new { w = w0, b = b0, gw, gb, steps });

        void Check(string key, Func<ParameterSet, IOptimizer> make)
        {
            var s = MakeSet(19, 3);
            var opt = make(s);
            for (int t = 0; t < steps; t++)
            {
                SetGrads(s, t);
                opt.Step();
            }
            var r = torch.GetProperty(key);
            Approx.Equal(TorchOracle.Floats(r.GetProperty("w")), s[0].Value, 1e-6, 1e-6, key + " weight");
            Approx.Equal(TorchOracle.Floats(r.GetProperty("b")), s[1].Value, 1e-6, 1e-6, key + " bias");
        }

        Check("adamw", s => new AdamW(s, 0.01f, 0.9f, 0.999f, 1e-8f, weightDecay: 0.05f));
        Check("sgd", s => new Sgd(s, 0.05f, momentum: 0.9f, weightDecay: 0.01f));
        Check("nesterov", s => new Sgd(s, 0.05f, momentum: 0.9f, nesterov: true, weightDecay: 0.01f));
        Check("damp", s => new Sgd(s, 0.1f, momentum: 0.5f, weightDecay: 0.02f, dampening: 0.25f));
    }
}
