using System;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using Xunit;

namespace ModelGen.Generators.Tests;

/// <summary>The generator names the size arguments of the runtime calls it writes (<c>rows: batch * 16, inFeatures: 192</c>) from a table of
/// the runtime's op signatures, since it does not reference the runtime. This test keeps the table equal to the runtime:
/// on a change it fails with the new table, which <c>MODELGEN_ACCEPT_SNAPSHOTS=1</c> writes in place.</summary>
public class OpSignatureTests
{
    const string TablePath = "generators/ModelGen.Generators/Emit/OpSignatures.cs";

    static string Table()
    {
        var methods = typeof(ModelGen.Tensor).Assembly.GetTypes()
            .Where(t => t.Namespace == "ModelGen.Ops" && t.IsPublic && t.IsAbstract && t.IsSealed)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => (Name: t.Name + "." + m.Name, Method: m)))
            .GroupBy(m => m.Name)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToArray();
        var sb = new StringBuilder();
        sb.Append("// Written by tests/ModelGen.Generators.Tests/OpSignatureTests.cs from the runtime's ModelGen.Ops; do not edit.\n");
        sb.Append("using System.Collections.Generic;\n\nnamespace ModelGen.Generators;\n\n");
        sb.Append("/// <summary>Parameter names of every runtime op (one overload each), so generated calls can name their size arguments.</summary>\n");
        sb.Append("internal static class OpSignatures\n{\n");
        sb.Append("    public static readonly Dictionary<string, string[]> Parameters = new()\n    {\n");
        foreach (var group in methods)
        {
            if (group.Count() != 1) continue; // an overloaded name is left positional
            var names = group.Single().Method.GetParameters().Select(p => "\"" + p.Name + "\"");
            sb.Append("        [\"").Append(group.Key).Append("\"] = new[] { ").Append(string.Join(", ", names)).Append(" },\n");
        }
        sb.Append("    };\n\n");
        sb.Append("    /// <summary>Kernels launched in explicit groups: each has a <c>Config</c> twin that takes its size arguments and returns the\n");
        sb.Append("    /// launch (grid and group); every other kernel takes an index and is launched over an extent.</summary>\n");
        sb.Append("    public static readonly HashSet<string> Grouped = new()\n    {\n");
        foreach (var group in methods)
        {
            if (group.Count() != 1 || !group.Key.EndsWith("Kernel", StringComparison.Ordinal)) continue;
            var kernel = group.Single().Method;
            var config = kernel.DeclaringType!.GetMethod(kernel.Name + "Config", BindingFlags.Public | BindingFlags.Static);
            if (config is null) continue;
            Assert.True(config.ReturnType.Name == "KernelConfig", $"{group.Key}Config must return a KernelConfig.");
            var sizes = kernel.GetParameters().Where(p => !p.ParameterType.Name.StartsWith("ArrayView", StringComparison.Ordinal)).Select(p => p.Name).ToList();
            foreach (var p in config.GetParameters())
                Assert.True(sizes.Contains(p.Name), $"{group.Key}Config's parameter '{p.Name}' is not a size parameter of {group.Key}.");
            sb.Append("        \"").Append(group.Key).Append("\",\n");
        }
        sb.Append("    };\n}\n");
        return sb.ToString();
    }

    [Fact]
    public void TableMatchesTheRuntime()
    {
        string path = Path.Combine(DiagnosticTests.RepoRoot(), TablePath);
        string expected = Table();
        string actual = File.Exists(path) ? File.ReadAllText(path) : "";
        if (actual == expected) return;
        if (Environment.GetEnvironmentVariable("MODELGEN_ACCEPT_SNAPSHOTS") == "1" && Environment.GetEnvironmentVariable("CI") is null)
        {
            File.WriteAllText(path, expected);
            return;
        }
        Assert.Fail($"{TablePath} is out of date with ModelGen.Ops; rerun with MODELGEN_ACCEPT_SNAPSHOTS=1 to rewrite it:\n{expected}");
    }
}
