using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ModelGen.IO;

namespace ModelGen.Training;

/// <summary>
/// An optimizer's state as a safetensors file: one tensor per parameter and slot, named <c>{slot}.{parameter}</c>
/// (PyTorch's slot names: <c>exp_avg</c>, <c>exp_avg_sq</c>, <c>momentum_buffer</c>), with the optimizer's kind and
/// step count in the metadata; buffers that are not trainable have no state. Loading checks everything before it changes anything.
/// </summary>
public static class OptimizerState
{
    const string KindKey = "optimizer";
    const string StepKey = "step";

    /// <summary>Writes the slots (atomically). A slot array entry that is null is not written (no state yet).</summary>
    public static void Save(string path, string kind, int step, ParameterSet parameters, IReadOnlyList<(string Slot, float[]?[] Values)> slots,
        IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var tensors = new List<SafeTensor>();
        foreach (var (slot, values) in slots)
            for (int i = 0; i < parameters.Count; i++)
                if (parameters[i].Trainable && values[i] is { } v) tensors.Add(new SafeTensor(slot + "." + parameters[i].Name, parameters[i].Shape, v));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [KindKey] = kind,
            [StepKey] = step.ToString(CultureInfo.InvariantCulture),
        };
        if (extraMetadata is not null)
            foreach (var (k, v) in extraMetadata) metadata[k] = v;
        SafeTensors.Save(path, tensors, metadata);
    }

    /// <summary>
    /// Reads a state written by <see cref="Save"/> for an optimizer of <paramref name="kind"/> over exactly these
    /// parameters. Returns the step count and, per slot, one array per parameter (null where the file has none and
    /// <paramref name="optional"/> allows it). Throws <see cref="InvalidDataException"/> naming every mismatch.
    /// </summary>
    public static (int Step, float[]?[][] Slots) Load(string path, string kind, ParameterSet parameters, IReadOnlyList<string> slots, bool optional = false)
    {
        var (tensors, metadata) = SafeTensors.LoadWithMetadata(path);
        if (!metadata.TryGetValue(KindKey, out var fileKind) || fileKind != kind)
            throw new InvalidDataException($"'{path}' holds {(fileKind is null ? "no optimizer state" : fileKind + " state")}, not {kind} state.");
        if (!metadata.TryGetValue(StepKey, out var stepText) || !int.TryParse(stepText, NumberStyles.Integer, CultureInfo.InvariantCulture, out int step) || step < 0)
            throw new InvalidDataException($"'{path}' has no valid step count (found '{stepText ?? "nothing"}').");

        var problems = new List<string>();
        var result = new float[]?[slots.Count][];
        var expected = new HashSet<string>(StringComparer.Ordinal);
        for (int s = 0; s < slots.Count; s++)
        {
            result[s] = new float[]?[parameters.Count];
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                if (!p.Trainable) continue;
                string name = slots[s] + "." + p.Name;
                expected.Add(name);
                if (!tensors.TryGetValue(name, out var t))
                {
                    if (!optional) problems.Add($"missing '{name}' {Tensor.Format(p.Shape)}");
                }
                else if (!t.Shape.SequenceEqual(p.Shape)) problems.Add($"'{name}' is {Tensor.Format(t.Shape)} in the file but the parameter is {Tensor.Format(p.Shape)}");
                else result[s][i] = t.Data;
            }
        }
        foreach (var name in tensors.Keys.Where(n => !expected.Contains(n)).OrderBy(n => n, StringComparer.Ordinal))
            problems.Add($"unexpected '{name}'");
        if (problems.Count > 0)
            throw new InvalidDataException($"'{path}' does not fit this optimizer's parameters: {string.Join("; ", problems.Take(10))}{(problems.Count > 10 ? $"; and {problems.Count - 10} more" : "")}.");
        return (step, result);
    }
}
