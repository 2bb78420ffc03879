using Xunit;

namespace ModelGen.Tests.Support;

/// <summary>Tests that measure the whole process (allocated bytes, peak memory) run alone: a test of another class running beside
/// them would count as theirs.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Serial
{
    public const string Name = "Serial: measures the whole process";
}
