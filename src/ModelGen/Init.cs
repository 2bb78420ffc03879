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

    public static void Constant(Parameter p, float value)
    {
        Array.Fill(p.Value, value);
        p.MarkChanged();
    }
}
