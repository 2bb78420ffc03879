using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Xunit;

namespace ModelGen.Generators.Tests.Snapshots;

public sealed class SnapshotTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "modelgen-snapshots-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    static Func<string, string?> Env(params (string Key, string Value)[] values)
    {
        var map = values.ToDictionary(v => v.Key, v => v.Value);
        return key => map.TryGetValue(key, out var v) ? v : null;
    }

    static readonly Func<string, string?> NoEnv = Env();

    string Verified(string name, string ext = "cs") => Path.Combine(_dir, $"{name}.verified.{ext}");

    string Received(string name, string ext = "cs") => Path.Combine(_dir, $"{name}.received.{ext}");

    void WriteVerified(string name, string text, string ext = "cs")
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Verified(name, ext), text);
    }

    [Fact]
    public void Match_PassesAndDeletesAStaleReceivedFile()
    {
        WriteVerified("Match", "class A\n{\n}\n");
        File.WriteAllText(Received("Match"), "stale");

        Snapshot.VerifyIn(_dir, "Match", "class A\n{\n}\n", environment: NoEnv);

        Assert.False(File.Exists(Received("Match")));
        Assert.Equal("class A\n{\n}\n", File.ReadAllText(Verified("Match")));
    }

    [Fact]
    public void Match_IgnoresLineEndingDifferences()
    {
        WriteVerified("Endings", "a\r\nb\r\n");
        Snapshot.VerifyIn(_dir, "Endings", "a\nb\n", environment: NoEnv);
        Snapshot.VerifyIn(_dir, "Endings", "a\rb\r", environment: NoEnv);
        Assert.False(File.Exists(Received("Endings")));
    }

    [Fact]
    public void Mismatch_WritesReceivedAndThrowsWithTheDiff()
    {
        var verified = Enumerable.Range(1, 30).Select(i => $"line {i}").ToList();
        var actual = verified.ToList();
        actual[14] = "line 15 changed";
        actual.Insert(25, "inserted");
        WriteVerified("Mismatch", string.Join("\n", verified) + "\n");

        var ex = Assert.Throws<SnapshotMismatchException>(() =>
            Snapshot.VerifyIn(_dir, "Mismatch", string.Join("\r\n", actual) + "\r\n", environment: NoEnv));

        Assert.True(File.Exists(Received("Mismatch")));
        Assert.Equal(string.Join("\n", actual) + "\n", File.ReadAllText(Received("Mismatch"))); // normalized to \n
        Assert.Equal(string.Join("\n", verified) + "\n", File.ReadAllText(Verified("Mismatch"))); // untouched

        string m = ex.Message;
        Assert.Contains(Received("Mismatch"), m);
        Assert.Contains(Snapshot.AcceptVariable, m);
        Assert.Contains("- line 15\n", m);
        Assert.Contains("+ line 15 changed\n", m);
        Assert.Contains("+ inserted\n", m);
        Assert.Contains("  line 12\n", m); // context before the change
        Assert.Contains("  line 18\n", m); // context after it
        Assert.DoesNotContain("line 5\n", m); // far from any change
        Assert.DoesNotContain("line 1\n", m);
        Assert.Contains("@@ -12,7 +12,7 @@", m);
        Assert.Contains("@@ -23,6 +23,7 @@", m);
    }

    [Fact]
    public void Mismatch_AdjacentChangesShareOneHunk()
    {
        WriteVerified("Adjacent", "a\nb\nc\nd\ne\n");
        var ex = Assert.Throws<SnapshotMismatchException>(() =>
            Snapshot.VerifyIn(_dir, "Adjacent", "a\nB\nc\nD\ne\n", environment: NoEnv));
        Assert.Single(ex.Message.Split('\n'), l => l.StartsWith("@@", StringComparison.Ordinal));
        Assert.Contains("- b\n+ B\n", ex.Message);
        Assert.Contains("- d\n+ D\n", ex.Message);
    }

    [Fact]
    public void Mismatch_WhitespaceOnlyChangesAreReported()
    {
        WriteVerified("Spaces", "x = 1;\n");
        var ex = Assert.Throws<SnapshotMismatchException>(() =>
            Snapshot.VerifyIn(_dir, "Spaces", "x  = 1;\n", environment: NoEnv));
        Assert.Contains("- x = 1;\n", ex.Message);
        Assert.Contains("+ x  = 1;\n", ex.Message);
    }

    [Fact]
    public void Mismatch_TrailingNewlineOnlyStillFailsReadably()
    {
        WriteVerified("Trailing", "a\nb\n");
        var ex = Assert.Throws<SnapshotMismatchException>(() =>
            Snapshot.VerifyIn(_dir, "Trailing", "a\nb", environment: NoEnv));
        Assert.True(ex.Message.Contains("@@", StringComparison.Ordinal) || ex.Message.Contains("differ only", StringComparison.Ordinal), ex.Message);
        Assert.Equal("a\nb", File.ReadAllText(Received("Trailing")));
    }

    [Fact]
    public void Mismatch_LongDiffIsCapped()
    {
        WriteVerified("Long", string.Concat(Enumerable.Range(0, 1000).Select(i => $"old {i}\n")));
        var ex = Assert.Throws<SnapshotMismatchException>(() =>
            Snapshot.VerifyIn(_dir, "Long", string.Concat(Enumerable.Range(0, 1000).Select(i => $"new {i}\n")), environment: NoEnv));
        int diffLines = ex.Message.Split('\n').Count(l => l.StartsWith("- ", StringComparison.Ordinal) || l.StartsWith("+ ", StringComparison.Ordinal));
        Assert.InRange(diffLines, 150, Snapshot.MaxDiffLines);
        Assert.Contains("more diff lines; see the received file", ex.Message);
    }

    [Fact]
    public void Missing_WritesReceivedAndSaysThereIsNoVerifiedSnapshot()
    {
        var ex = Assert.Throws<SnapshotMismatchException>(() => Snapshot.VerifyIn(_dir, "New", "text\n", "txt", NoEnv));
        Assert.Contains($"no verified snapshot; review {Received("New", "txt")} and accept", ex.Message);
        Assert.Equal("text\n", File.ReadAllText(Received("New", "txt")));
        Assert.False(File.Exists(Verified("New", "txt")));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("true")]
    public void AcceptMode_WritesVerifiedAndRemovesReceived(string value)
    {
        var env = Env((Snapshot.AcceptVariable, value));

        Snapshot.VerifyIn(_dir, "Accept", "first\r\n", environment: env); // no verified file yet
        Assert.Equal("first\n", File.ReadAllText(Verified("Accept")));

        File.WriteAllText(Received("Accept"), "leftover");
        Snapshot.VerifyIn(_dir, "Accept", "second\n", environment: env); // a mismatch is accepted too
        Assert.Equal("second\n", File.ReadAllText(Verified("Accept")));
        Assert.False(File.Exists(Received("Accept")));

        // And afterwards it matches without accepting.
        Snapshot.VerifyIn(_dir, "Accept", "second\n", environment: NoEnv);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("TRUE")]
    [InlineData("1")]
    public void AcceptMode_IsBlockedUnderCi(string ci)
    {
        var env = Env((Snapshot.AcceptVariable, "1"), (Snapshot.CiVariable, ci));
        WriteVerified("Ci", "old\n");

        var ex = Assert.Throws<SnapshotMismatchException>(() => Snapshot.VerifyIn(_dir, "Ci", "new\n", environment: env));
        Assert.Contains("CI", ex.Message);
        Assert.Equal("old\n", File.ReadAllText(Verified("Ci")));
        Assert.Equal("new\n", File.ReadAllText(Received("Ci")));

        Assert.Throws<SnapshotMismatchException>(() => Snapshot.VerifyIn(_dir, "CiNew", "new\n", environment: env));
        Assert.False(File.Exists(Verified("CiNew")));
    }

    [Theory]
    [InlineData("false")]
    [InlineData("0")]
    [InlineData("")]
    public void AcceptMode_IsNotBlockedByAFalseCiValue(string ci)
    {
        var env = Env((Snapshot.AcceptVariable, "1"), (Snapshot.CiVariable, ci));
        Snapshot.VerifyIn(_dir, "NotCi", "x\n", environment: env);
        Assert.Equal("x\n", File.ReadAllText(Verified("NotCi")));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("")]
    [InlineData("yes please")]
    public void AcceptMode_NeedsTheVariableSetToOne(string value)
    {
        var env = Env((Snapshot.AcceptVariable, value));
        Assert.Throws<SnapshotMismatchException>(() => Snapshot.VerifyIn(_dir, "Off", "x\n", environment: env));
        Assert.False(File.Exists(Verified("Off")));
    }

    [Fact]
    public void Verify_PlacesFilesInASnapshotsFolderBesideTheSourceFile()
    {
        // A made-up caller file path keeps this test out of the real source tree.
        string source = Path.Combine(_dir, "Generator", "MyTests.cs");
        string expectedDir = Path.Combine(_dir, "Generator", "Snapshots");
        Directory.CreateDirectory(expectedDir);
        File.WriteAllText(Path.Combine(expectedDir, "Beside.verified.txt"), "hello\n");

        Snapshot.Verify("Beside", "hello\n", source, "txt");

        // Verify reads the real environment; whoever runs the tests in accept mode gets the file accepted instead.
        bool accepting = Environment.GetEnvironmentVariable(Snapshot.AcceptVariable) is "1" or "true"
            && Environment.GetEnvironmentVariable(Snapshot.CiVariable) is not ("1" or "true" or "TRUE" or "True");
        if (accepting)
        {
            Snapshot.Verify("Beside2", "hi\n", source, "txt");
            Assert.True(File.Exists(Path.Combine(expectedDir, "Beside2.verified.txt")));
            return;
        }
        var ex = Assert.Throws<SnapshotMismatchException>(() => Snapshot.Verify("Beside2", "hi\n", source, "txt"));
        Assert.Contains(Path.Combine(expectedDir, "Beside2.received.txt"), ex.Message);
        Assert.True(File.Exists(Path.Combine(expectedDir, "Beside2.received.txt")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    public void BadNamesAreRejected(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => Snapshot.VerifyIn(_dir, name, "x", environment: NoEnv));
    }

    [Fact]
    public void Diff_ShowsOnlyChangedLinesWithContext()
    {
        var before = string.Concat(Enumerable.Range(1, 20).Select(i => $"{i}\n"));
        var after = before.Replace("10\n", "ten\n");
        var lines = Snapshot.Diff(before, after).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new List<string> { "@@ -7,7 +7,7 @@", "  7", "  8", "  9", "- 10", "+ ten", "  11", "  12", "  13" }, lines.ToList());
    }
}
