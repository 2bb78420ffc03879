using System;

namespace ModelGen.Tests.Support;

/// <summary>Small array helpers the op tests share.</summary>
public static class Arrays
{
    /// <summary>n copies of v (a gradient buffer's prior contents, to check that backward accumulates).</summary>
    public static float[] Filled(int n, float v)
    {
        var a = new float[n];
        Array.Fill(a, v);
        return a;
    }
}
