using System;

namespace ModelGen.Training;

/// <summary>A learning rate for each optimizer step (step 0 is the first).</summary>
public interface ILearningRateSchedule
{
    float At(int step);
}

/// <summary>
/// Linear warmup then cosine decay:
/// <code>
/// lr(s) = base·(s+1)/warmup                                         for s &lt; warmup
/// lr(s) = min + (base−min)·½·(1 + cos(π·(s−warmup)/(total−warmup)))  for warmup ≤ s &lt; total
/// lr(s) = min                                                        for s ≥ total
/// </code>
/// so the first step uses base/warmup, step warmup−1 and step warmup use base, and the rate reaches min at step total.
/// </summary>
public sealed class WarmupCosine : ILearningRateSchedule
{
    public WarmupCosine(float baseLr, int warmupSteps, int totalSteps, float minLr = 0f)
    {
        if (!(baseLr >= 0) || float.IsInfinity(baseLr)) throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "The base learning rate must be finite and non-negative.");
        if (!(minLr >= 0) || minLr > baseLr) throw new ArgumentOutOfRangeException(nameof(minLr), minLr, $"The minimum learning rate must lie in [0, {baseLr}].");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "Warmup steps cannot be negative.");
        if (totalSteps <= warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"Total steps must exceed the {warmupSteps} warmup steps.");
        BaseLr = baseLr;
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        MinLr = minLr;
    }

    public float BaseLr { get; }

    public int WarmupSteps { get; }

    public int TotalSteps { get; }

    public float MinLr { get; }

    public float At(int step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "Steps start at 0.");
        if (step < WarmupSteps) return (float)((double)BaseLr * (step + 1) / WarmupSteps);
        if (step >= TotalSteps) return MinLr;
        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        return (float)(MinLr + ((double)BaseLr - MinLr) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}

/// <summary>How <see cref="OneCycle"/> moves between its phase end points.</summary>
public enum AnnealStrategy
{
    Cos,
    Linear,
}

/// <summary>
/// The one-cycle policy exactly as PyTorch's <c>torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, total_steps)</c>
/// with its defaults: starts at max/div_factor (25), anneals to max by step pct_start·total − 1 (pct_start 0.3), then to
/// initial/final_div_factor (1e4) at step total − 1, by cosine annealing. <see cref="At"/>(s) is the rate PyTorch's
/// scheduler gives the optimizer for its (s+1)-th step, i.e. after s calls of <c>scheduler.step()</c>.
/// <see cref="MomentumAt"/> gives the momentum (SGD μ, or Adam β1) that OneCycleLR's default cycle_momentum sets.
/// </summary>
public sealed class OneCycle : ILearningRateSchedule
{
    readonly (double EndStep, double StartLr, double EndLr, double StartMomentum, double EndMomentum)[] _phases;

    public OneCycle(float maxLr, int totalSteps, float pctStart = 0.3f, AnnealStrategy anneal = AnnealStrategy.Cos,
        float divFactor = 25f, float finalDivFactor = 1e4f, bool threePhase = false,
        float baseMomentum = 0.85f, float maxMomentum = 0.95f)
    {
        if (!(maxLr >= 0) || float.IsInfinity(maxLr)) throw new ArgumentOutOfRangeException(nameof(maxLr), maxLr, "The maximum learning rate must be finite and non-negative.");
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "Total steps must be positive.");
        if (!(pctStart >= 0 && pctStart <= 1)) throw new ArgumentOutOfRangeException(nameof(pctStart), pctStart, "pct_start must lie in [0, 1].");
        if (!(divFactor > 0)) throw new ArgumentOutOfRangeException(nameof(divFactor), divFactor, "div_factor must be positive.");
        if (!(finalDivFactor > 0)) throw new ArgumentOutOfRangeException(nameof(finalDivFactor), finalDivFactor, "final_div_factor must be positive.");
        MaxLr = maxLr;
        TotalSteps = totalSteps;
        PctStart = pctStart;
        Anneal = anneal;
        // PyTorch computes these in Python doubles from the float arguments.
        double initial = (double)maxLr / divFactor;
        double min = initial / finalDivFactor;
        InitialLr = initial;
        MinLr = min;
        double pct = pctStart;
        _phases = threePhase
            ? new[]
            {
                (pct * totalSteps - 1, initial, (double)maxLr, (double)maxMomentum, (double)baseMomentum),
                (2 * pct * totalSteps - 2, (double)maxLr, initial, (double)baseMomentum, (double)maxMomentum),
                ((double)totalSteps - 1, initial, min, (double)maxMomentum, (double)maxMomentum),
            }
            : new[]
            {
                (pct * totalSteps - 1, initial, (double)maxLr, (double)maxMomentum, (double)baseMomentum),
                ((double)totalSteps - 1, (double)maxLr, min, (double)baseMomentum, (double)maxMomentum),
            };
    }

    public float MaxLr { get; }

    public int TotalSteps { get; }

    public float PctStart { get; }

    public AnnealStrategy Anneal { get; }

    /// <summary>max_lr/div_factor, the first step's rate.</summary>
    public double InitialLr { get; }

    /// <summary>initial_lr/final_div_factor, the last step's rate.</summary>
    public double MinLr { get; }

    public float At(int step) => (float)Evaluate(step, momentum: false);

    public float MomentumAt(int step) => (float)Evaluate(step, momentum: true);

    double Evaluate(int step, bool momentum)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "Steps start at 0.");
        if (step >= TotalSteps)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"The schedule has {TotalSteps} steps (0 to {TotalSteps - 1}).");
        double start = 0;
        for (int i = 0; i < _phases.Length; i++)
        {
            var ph = _phases[i];
            if (step <= ph.EndStep || i == _phases.Length - 1)
            {
                double pct = (step - start) / (ph.EndStep - start);
                return momentum ? Interpolate(ph.StartMomentum, ph.EndMomentum, pct) : Interpolate(ph.StartLr, ph.EndLr, pct);
            }
            start = ph.EndStep;
        }
        throw new InvalidOperationException("unreachable");
    }

    double Interpolate(double from, double to, double pct) => Anneal == AnnealStrategy.Cos
        ? to + (from - to) / 2.0 * (Math.Cos(Math.PI * pct) + 1)
        : (to - from) * pct + from;
}
