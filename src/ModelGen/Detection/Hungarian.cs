using System;

namespace ModelGen.Detection;

/// <summary>
/// The linear assignment problem: a rows × cols cost matrix, each row matched to at most one column and each column to at most
/// one row, min(rows, cols) pairs of least total cost — what DETR's matcher asks of <c>scipy.optimize.linear_sum_assignment</c>.
/// Shortest augmenting paths with row and column potentials (the Hungarian method in its O(n²·m) form, n = min(rows, cols)):
/// each row in turn is added by a Dijkstra-like search over reduced costs, which stay non-negative, so the result is optimal.
/// </summary>
public static class Hungarian
{
    /// <summary>For each row, the column it is assigned (or −1 when there are more rows than columns and it gets none).</summary>
    /// <param name="cost">The matrix, row-major; every entry finite.</param>
    /// <param name="rows">Its rows.</param>
    /// <param name="cols">Its columns.</param>
    public static int[] Solve(ReadOnlySpan<double> cost, int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(rows < 0 ? nameof(rows) : nameof(cols), "The matrix sizes must not be negative.");
        if (cost.Length != (long)rows * cols)
            throw new ArgumentException($"The cost matrix holds {cost.Length} values but {rows} × {cols} = {(long)rows * cols} are needed.", nameof(cost));
        for (int i = 0; i < cost.Length; i++)
            if (!double.IsFinite(cost[i]))
                throw new ArgumentException($"Cost ({i / cols}, {i % cols}) is {cost[i]}; every cost must be finite.", nameof(cost));
        var assigned = new int[rows];
        Array.Fill(assigned, -1);
        if (rows == 0 || cols == 0) return assigned;
        if (rows <= cols)
        {
            var columnOf = Augment(cost, rows, cols, transposed: false);
            Array.Copy(columnOf, assigned, rows);
        }
        else
        {
            // More rows than columns: solve the transpose, in which every column finds a row.
            var rowOf = Augment(cost, cols, rows, transposed: true);
            for (int c = 0; c < cols; c++) assigned[rowOf[c]] = c;
        }
        return assigned;
    }

    /// <summary>The rows and columns of the pairs, in row order: scipy's (row_ind, col_ind).</summary>
    public static (int[] Rows, int[] Columns) Pairs(ReadOnlySpan<double> cost, int rows, int cols)
    {
        var assigned = Solve(cost, rows, cols);
        int count = Math.Min(rows, cols);
        int[] r = new int[count], c = new int[count];
        for (int i = 0, k = 0; i < rows; i++)
        {
            if (assigned[i] < 0) continue;
            r[k] = i;
            c[k++] = assigned[i];
        }
        return (r, c);
    }

    /// <summary>n ≤ m: the column of each of the n rows of the (n, m) matrix, reading <paramref name="cost"/> transposed when asked.</summary>
    static int[] Augment(ReadOnlySpan<double> cost, int n, int m, bool transposed)
    {
        // 1-based: column 0 is the virtual start of each search; rowOfColumn[j] = 0 means column j is free.
        var u = new double[n + 1];
        var v = new double[m + 1];
        var rowOfColumn = new int[m + 1];
        var previous = new int[m + 1];
        var shortest = new double[m + 1];
        var visited = new bool[m + 1];
        for (int row = 1; row <= n; row++)
        {
            rowOfColumn[0] = row;
            int column = 0;
            Array.Fill(shortest, double.PositiveInfinity);
            Array.Clear(visited);
            do
            {
                visited[column] = true;
                int i = rowOfColumn[column], next = 0;
                double delta = double.PositiveInfinity;
                for (int j = 1; j <= m; j++)
                {
                    if (visited[j]) continue;
                    double a = transposed ? cost[(j - 1) * n + (i - 1)] : cost[(i - 1) * m + (j - 1)];
                    double reduced = a - u[i] - v[j];
                    if (reduced < shortest[j])
                    {
                        shortest[j] = reduced;
                        previous[j] = column;
                    }
                    if (shortest[j] < delta)
                    {
                        delta = shortest[j];
                        next = j;
                    }
                }
                for (int j = 0; j <= m; j++)
                {
                    if (visited[j])
                    {
                        u[rowOfColumn[j]] += delta;
                        v[j] -= delta;
                    }
                    else shortest[j] -= delta;
                }
                column = next;
            } while (rowOfColumn[column] != 0);
            // Flip the augmenting path back to the start.
            do
            {
                int before = previous[column];
                rowOfColumn[column] = rowOfColumn[before];
                column = before;
            } while (column != 0);
        }
        var columnOfRow = new int[n];
        for (int j = 1; j <= m; j++)
            if (rowOfColumn[j] != 0) columnOfRow[rowOfColumn[j] - 1] = j - 1;
        return columnOfRow;
    }
}
