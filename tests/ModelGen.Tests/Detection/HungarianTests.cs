using System;
using System.Collections.Generic;
using System.Linq;
using ModelGen.Detection;
using ModelGen.IO;
using ModelGen.Tests.Support;
using Xunit;

namespace ModelGen.Tests.Detection;

/// <summary>The assignment solver: against every assignment of small matrices (square and rectangular), against
/// scipy.optimize.linear_sum_assignment on many random matrices (ties and DETR's sizes included), and its checks.</summary>
public class HungarianTests
{
    static double Total(double[] cost, int cols, int[] assigned) => assigned.Select((c, r) => c < 0 ? 0 : cost[r * cols + c]).Sum();

    /// <summary>The least total cost over every way to pair min(rows, cols) rows and columns.</summary>
    static double BruteForce(double[] cost, int rows, int cols)
    {
        double best = double.PositiveInfinity;
        void Search(int row, bool[] used, int left, double sum)
        {
            if (left == 0) { best = Math.Min(best, sum); return; }
            if (rows - row < left) return;
            Search(row + 1, used, left, sum);   // this row unassigned (when there are more rows than columns)
            for (int c = 0; c < cols; c++)
            {
                if (used[c]) continue;
                used[c] = true;
                Search(row + 1, used, left - 1, sum + cost[row * cols + c]);
                used[c] = false;
            }
        }
        Search(0, new bool[cols], Math.Min(rows, cols), 0);
        return best;
    }

    static void IsAnAssignment(int[] assigned, int rows, int cols)
    {
        Assert.Equal(rows, assigned.Length);
        var columns = assigned.Where(c => c >= 0).ToList();
        Assert.Equal(Math.Min(rows, cols), columns.Count);
        Assert.Equal(columns.Count, columns.Distinct().Count());
        Assert.All(columns, c => Assert.InRange(c, 0, cols - 1));
    }

    [Fact]
    public void SmallMatrices_HaveTheLeastTotalOfEveryAssignment()
    {
        var random = new Random(1);
        for (int trial = 0; trial < 300; trial++)
        {
            int rows = 1 + random.Next(6), cols = 1 + random.Next(6);
            // Integer costs half of the time: ties, where only the total is unique.
            var cost = Enumerable.Range(0, rows * cols).Select(_ => trial % 2 == 0 ? random.Next(5) : random.NextDouble() * 10 - 3).ToArray();
            var assigned = Hungarian.Solve(cost, rows, cols);
            IsAnAssignment(assigned, rows, cols);
            Assert.Equal(BruteForce(cost, rows, cols), Total(cost, cols, assigned), 9);
        }
    }

    [Fact]
    public void AKnownMatrix_AndTheEdges()
    {
        // The classic 3×3: 1 + 2 + 2 = 5 (rows to columns 1, 0, 2).
        var cost = new double[] { 4, 1, 3, 2, 0, 5, 3, 2, 2 };
        Assert.Equal(new[] { 1, 0, 2 }, Hungarian.Solve(cost, 3, 3));
        Assert.Empty(Hungarian.Solve(Array.Empty<double>(), 0, 4));
        Assert.Equal(new[] { -1, -1 }, Hungarian.Solve(Array.Empty<double>(), 2, 0));
        // More rows than columns: the two cheapest rows take the columns.
        Assert.Equal(new[] { -1, 0, 1 }, Hungarian.Solve(new double[] { 9, 9, 1, 5, 5, 1 }, 3, 2));
        var (r, c) = Hungarian.Pairs(new double[] { 9, 9, 1, 5, 5, 1 }, 3, 2);
        Assert.Equal(new[] { 1, 2 }, r);
        Assert.Equal(new[] { 0, 1 }, c);
    }

    [Fact]
    public void BadMatrices_AreRefused_NamingTheEntry()
    {
        var e = Assert.Throws<ArgumentException>(() => Hungarian.Solve(new[] { 1, double.NaN, 2, 3 }, 2, 2));
        Assert.Contains("Cost (0, 1) is NaN", e.Message);
        var size = Assert.Throws<ArgumentException>(() => Hungarian.Solve(new double[5], 2, 3));
        Assert.Contains("holds 5 values but 2 × 3 = 6", size.Message);
    }

    [SkippableFact]
    public void RandomMatrices_MatchScipy()
    {
        var random = new Random(2);
        var shapes = new List<(int Rows, int Cols)> { (100, 20), (20, 100), (100, 100), (1, 7), (7, 1) };
        while (shapes.Count < 60) shapes.Add((1 + random.Next(40), 1 + random.Next(40)));
        var matrices = shapes.Select((s, i) => (s.Rows, s.Cols, Cost: Enumerable.Range(0, s.Rows * s.Cols)
            .Select(_ => (float)(i % 3 == 0 ? random.Next(4) : random.NextDouble() * 20 - 5)).ToArray())).ToList();
        var reference = TorchOps.RunScript("detection_reference.py", new { op = "assignment" },
            matrices.Select((m, i) => new SafeTensor($"cost.{i}", new[] { m.Rows, m.Cols }, m.Cost)).ToArray());
        for (int i = 0; i < matrices.Count; i++)
        {
            var (rows, cols, cost) = matrices[i];
            var costs = cost.Select(x => (double)x).ToArray();
            var (r, c) = Hungarian.Pairs(costs, rows, cols);
            double ours = r.Select((row, k) => costs[row * cols + c[k]]).Sum();
            var sr = reference[$"rows.{i}"].Data;
            var sc = reference[$"cols.{i}"].Data;
            double theirs = sr.Select((row, k) => costs[(int)row * cols + (int)sc[k]]).Sum();
            Assert.True(Math.Abs(ours - theirs) <= 1e-6 * Math.Max(1, Math.Abs(theirs)), $"{rows}×{cols}: total {ours} against scipy's {theirs}");
            // Without ties (real costs) the optimum is unique: the same pairs.
            if (i % 3 != 0)
            {
                Assert.Equal(sr.Select(x => (int)x), r);
                Assert.Equal(sc.Select(x => (int)x), c);
            }
        }
    }
}
