using System;
using ModelGen.Ops;
using Xunit;

namespace ModelGen.Tests.Ops;

public class SinusoidalTests
{
    [Fact]
    public void Table1D_FollowsTheTransformerFormula()
    {
        const int tokens = 11, dim = 6;
        var t = Sinusoidal.Table1D(tokens, dim);
        for (int p = 0; p < tokens; p++)
            for (int i = 0; i < dim / 2; i++)
            {
                double w = 1.0 / Math.Pow(10000, 2.0 * i / dim);
                Assert.InRange(Math.Abs(Math.Sin(p * w) - t[p * dim + 2 * i]), 0, 1e-6);
                Assert.InRange(Math.Abs(Math.Cos(p * w) - t[p * dim + 2 * i + 1]), 0, 1e-6);
            }
        Assert.Equal(0f, t[0]);
        Assert.Equal(1f, t[1]);
    }

    [Fact]
    public void Table2D_EncodesRowThenColumnAndLeavesTheClassTokenAtZero()
    {
        const int gh = 3, gw = 4, dim = 8, tokens = gh * gw + 1;
        var t = Sinusoidal.Table2D(tokens, gh, gw, dim);
        var rowCode = Sinusoidal.Table1D(gh, dim / 2);
        var colCode = Sinusoidal.Table1D(gw, dim / 2);
        for (int f = 0; f < dim; f++) Assert.Equal(0f, t[f]);
        for (int r = 0; r < gh; r++)
            for (int c = 0; c < gw; c++)
                for (int f = 0; f < dim / 2; f++)
                {
                    int token = 1 + r * gw + c;
                    Assert.Equal(rowCode[r * dim / 2 + f], t[token * dim + f]);
                    Assert.Equal(colCode[c * dim / 2 + f], t[token * dim + dim / 2 + f]);
                }
    }

    [Fact]
    public void BadWidthsAndGridsAreRefusedWithTheNumbers()
    {
        Assert.Contains("even width, not 5", Assert.Throws<ArgumentException>(() => Sinusoidal.Table1D(3, 5)).Message);
        Assert.Contains("divisible by 4, not 6", Assert.Throws<ArgumentException>(() => Sinusoidal.Table2D(4, 2, 2, 6)).Message);
        Assert.Contains("3 tokens cannot hold a 2×2 grid", Assert.Throws<ArgumentException>(() => Sinusoidal.Table2D(3, 2, 2, 8)).Message);
    }
}
