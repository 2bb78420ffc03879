using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text;
using DiffPlex;
using DiffPlex.Chunkers;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using Xunit.Sdk;

namespace ModelGen.Generators.Tests.Snapshots;

/// <summary>
/// Snapshot testing with Verify's file conventions: <c>{name}.verified.{ext}</c> is the reviewed, committed expectation;
/// a mismatch writes <c>{name}.received.{ext}</c> beside it and fails with a line diff. Set
/// <c>MODELGEN_ACCEPT_SNAPSHOTS=1</c> to accept what was received instead (never under CI).
/// </summary>
public static class Snapshot
{
    /// <summary>Setting this environment variable to 1 writes verified files instead of failing.</summary>
    public const string AcceptVariable = "MODELGEN_ACCEPT_SNAPSHOTS";

    /// <summary>When this environment variable is "true" or "1", snapshots are never accepted.</summary>
    public const string CiVariable = "CI";

    /// <summary>How many diff lines a failure shows at most.</summary>
    public const int MaxDiffLines = 200;

    /// <summary>Unchanged lines shown around each change.</summary>
    public const int ContextLines = 3;

    /// <summary>
    /// Compares <paramref name="actual"/> with <c>Snapshots/{name}.verified.{extension}</c> beside the calling test's source file.
    /// </summary>
    public static void Verify(string name, string actual, [CallerFilePath] string sourceFile = "", string extension = "cs")
    {
        if (string.IsNullOrEmpty(sourceFile))
            throw new ArgumentException("The calling source file is unknown; pass it or use VerifyIn with a directory.", nameof(sourceFile));
        string directory = Path.Combine(Path.GetDirectoryName(sourceFile) ?? ".", "Snapshots");
        VerifyIn(directory, name, actual, extension, Environment.GetEnvironmentVariable);
    }

    /// <summary>
    /// Compares <paramref name="actual"/> with <c>{directory}/{name}.verified.{extension}</c>.
    /// <paramref name="environment"/> reads environment variables (the process's when null), so tests can fake them.
    /// </summary>
    public static void VerifyIn(string directory, string name, string actual, string extension = "cs", Func<string, string?>? environment = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(actual);
        CheckFileNamePart(name, nameof(name));
        CheckFileNamePart(extension, nameof(extension));
        environment ??= Environment.GetEnvironmentVariable;

        string verifiedPath = Path.Combine(directory, $"{name}.verified.{extension}");
        string receivedPath = Path.Combine(directory, $"{name}.received.{extension}");
        string received = Normalize(actual);
        string? verified = File.Exists(verifiedPath) ? Normalize(File.ReadAllText(verifiedPath)) : null;

        if (verified == received)
        {
            DeleteIfPresent(receivedPath);
            return;
        }

        var mode = AcceptMode(environment);
        if (mode == Acceptance.Accept)
        {
            Directory.CreateDirectory(directory);
            WriteText(verifiedPath, received);
            DeleteIfPresent(receivedPath);
            return;
        }

        Directory.CreateDirectory(directory);
        WriteText(receivedPath, received);

        string how = mode == Acceptance.BlockedByCi
            ? $"{AcceptVariable} is set but ignored because {CiVariable} is set; snapshots are never accepted under CI."
            : $"To accept it, copy the received file over the verified one, or rerun with {AcceptVariable}=1.";

        if (verified is null)
        {
            throw new SnapshotMismatchException(
                $"Snapshot '{name}': no verified snapshot; review {receivedPath} and accept it.{Environment.NewLine}{how}");
        }

        var message = new StringBuilder();
        message.Append("Snapshot '").Append(name).Append("' does not match ").Append(verifiedPath).AppendLine(".");
        message.Append("Received: ").AppendLine(receivedPath);
        message.AppendLine(how);
        message.AppendLine("--- verified");
        message.AppendLine("+++ received");
        message.Append(Diff(verified, received));
        throw new SnapshotMismatchException(message.ToString());
    }

    /// <summary>Line endings as \n, so snapshots compare the same on every platform and checkout.</summary>
    public static string Normalize(string text) => text.Replace("\r\n", "\n").Replace('\r', '\n');

    /// <summary>
    /// A unified-style line diff from <paramref name="expected"/> to <paramref name="actual"/>: hunks of changed lines
    /// ('-' verified only, '+' received only) with <see cref="ContextLines"/> unchanged lines around them, capped at
    /// <paramref name="maxLines"/> lines.
    /// </summary>
    public static string Diff(string expected, string actual, int maxLines = MaxDiffLines)
    {
        var model = InlineDiffBuilder.Diff(Differ.Instance, Normalize(expected), Normalize(actual),
            ignoreWhiteSpace: false, ignoreCase: false, chunker: LineChunker.Instance);

        // Number every line on both sides, then mark which lines fall within the context of a change.
        var lines = model.Lines;
        var oldNumber = new int[lines.Count];
        var newNumber = new int[lines.Count];
        int o = 0, n = 0;
        for (int i = 0; i < lines.Count; i++)
        {
            switch (lines[i].Type)
            {
                case ChangeType.Deleted: oldNumber[i] = ++o; break;
                case ChangeType.Inserted: newNumber[i] = ++n; break;
                default: oldNumber[i] = ++o; newNumber[i] = ++n; break;
            }
        }

        var show = new bool[lines.Count];
        bool anyChange = false;
        for (int i = 0; i < lines.Count; i++)
        {
            if (!IsChange(lines[i].Type)) continue;
            anyChange = true;
            for (int j = Math.Max(0, i - ContextLines); j <= Math.Min(lines.Count - 1, i + ContextLines); j++) show[j] = true;
        }

        var output = new List<string>();
        if (!anyChange)
        {
            output.Add("(the texts differ only in ways a line diff does not show, such as a trailing newline)");
        }
        for (int i = 0; i < lines.Count;)
        {
            if (!show[i]) { i++; continue; }
            int end = i;
            while (end < lines.Count && show[end]) end++;
            int oldStart = 0, oldCount = 0, newStart = 0, newCount = 0;
            for (int k = i; k < end; k++)
            {
                if (oldNumber[k] > 0) { if (oldCount++ == 0) oldStart = oldNumber[k]; }
                if (newNumber[k] > 0) { if (newCount++ == 0) newStart = newNumber[k]; }
            }
            // As in unified diffs, an empty side names the line before the hunk.
            if (oldCount == 0) oldStart = LastBefore(oldNumber, i);
            if (newCount == 0) newStart = LastBefore(newNumber, i);
            output.Add($"@@ -{oldStart},{oldCount} +{newStart},{newCount} @@");
            for (int k = i; k < end; k++)
            {
                string prefix = lines[k].Type switch
                {
                    ChangeType.Deleted => "- ",
                    ChangeType.Inserted => "+ ",
                    _ => "  ",
                };
                output.Add(prefix + lines[k].Text);
            }
            i = end;
        }

        var text = new StringBuilder();
        int shown = Math.Min(output.Count, maxLines);
        for (int i = 0; i < shown; i++) text.Append(output[i]).Append('\n');
        if (output.Count > shown)
            text.Append("... ").Append(output.Count - shown).Append(" more diff lines; see the received file.\n");
        return text.ToString();
    }

    static bool IsChange(ChangeType type) => type is ChangeType.Deleted or ChangeType.Inserted or ChangeType.Modified;

    static int LastBefore(int[] numbers, int index)
    {
        for (int i = index - 1; i >= 0; i--)
        {
            if (numbers[i] > 0) return numbers[i];
        }
        return 0;
    }

    enum Acceptance { No, Accept, BlockedByCi }

    static Acceptance AcceptMode(Func<string, string?> environment)
    {
        if (!IsOn(environment(AcceptVariable))) return Acceptance.No;
        return IsOn(environment(CiVariable)) ? Acceptance.BlockedByCi : Acceptance.Accept;
    }

    static bool IsOn(string? value) =>
        value is not null && (value.Trim() == "1" || value.Trim().Equals("true", StringComparison.OrdinalIgnoreCase));

    static void CheckFileNamePart(string value, string parameter)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, parameter);
        if (value.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || value.Contains('/') || value.Contains('\\'))
            throw new ArgumentException($"'{value}' cannot be part of a snapshot file name.", parameter);
    }

    static void WriteText(string path, string text) => File.WriteAllText(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));

    static void DeleteIfPresent(string path)
    {
        if (File.Exists(path)) File.Delete(path);
    }
}

/// <summary>A snapshot differs from its verified file (or has none). The message holds the diff.</summary>
public sealed class SnapshotMismatchException : XunitException
{
    public SnapshotMismatchException(string message) : base(message)
    {
    }
}
