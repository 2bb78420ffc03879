using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace ModelGen.Benchmarks;

/// <summary>GFLOP/s from the mean time and <see cref="AttentionBenchmarks.FlopsOf"/> (forward 4·B·H·N²·d, forward+backward 12·B·H·N²·d).</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Matmul flops per second at the mean time (forward 4·B·H·N²·d; forward+backward 12·B·H·N²·d)";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        double flops = benchmarkCase.Descriptor.Type == typeof(AttentionBenchmarks)
            ? AttentionBenchmarks.FlopsOf(benchmarkCase.Descriptor.WorkloadMethod.Name) : double.NaN;
        if (stats == null || double.IsNaN(flops) || stats.Mean <= 0) return "-";
        return (flops / stats.Mean).ToString("F2", style.CultureInfo); // flops per ns == GFLOP/s
    }

    public override string ToString() => ColumnName;
}
