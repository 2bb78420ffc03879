using System;

namespace ModelGen;

/// <summary>PyTorch's default initialisations, from a seeded generator so a model is reproducible.</summary>
public static class Init
{
    /// <summary>U(-bound, bound). nn.Linear's weight and bias both use bound = 1/√in_features
    /// (kaiming_uniform with a = √5 reduces to that for the weight).</summary>
    public static void Uniform(Parameter p, double bound, Random random)
    {
        var v = p.Value;
        for (int i = 0; i < v.Length; i++) v[i] = (float)((random.NextDouble() * 2 - 1) * bound);
        p.MarkChanged();
    }

    /// <summary>N(0, std²) by Box-Muller.</summary>
    public static void Normal(Parameter p, double std, Random random)
    {
        var v = p.Value;
        for (int i = 0; i < v.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            v[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        p.MarkChanged();
    }

    public static void Constant(Parameter p, float value)
    {
        Array.Fill(p.Value, value);
        p.MarkChanged();
    }
}
