using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;

namespace ModelGen.IO;

/// <summary>The parameter layouts of PyTorch's model zoos that a ModelGen declaration of the same architecture can read and
/// write.</summary>
public enum TorchLayout
{
    /// <summary><c>torch.nn</c>'s modules: nn.MultiheadAttention's packed <c>in_proj_weight</c> / <c>in_proj_bias</c> (or
    /// <c>q_proj_weight</c>, <c>k_proj_weight</c>, <c>v_proj_weight</c> when keys or values are of another width),
    /// nn.TransformerEncoderLayer's <c>self_attn</c>, <c>linear1</c>, <c>linear2</c>, <c>norm1</c>, <c>norm2</c>,
    /// nn.TransformerDecoderLayer's <c>multihead_attn</c> and <c>norm3</c>, nn.Transformer's <c>encoder.</c> / <c>decoder.</c>;
    /// every other layer under its own name.</summary>
    TorchNn,

    /// <summary>torchvision's <c>VisionTransformer</c>: <c>conv_proj</c>, <c>class_token</c>, <c>encoder.pos_embedding</c>,
    /// <c>encoder.layers.encoder_layer_N.{ln_1, self_attention, ln_2, mlp.0, mlp.3}</c>, <c>encoder.ln</c>, <c>heads.head</c>.</summary>
    Torchvision,

    /// <summary>timm's <c>VisionTransformer</c>: <c>patch_embed.proj</c>, <c>cls_token</c>, <c>pos_embed</c>,
    /// <c>blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}</c>, <c>norm</c>, <c>head</c>.</summary>
    Timm,
}

/// <summary>One tensor of a PyTorch state dict and the ModelGen parameters it holds: one, or several stacked along the first
/// dimension (q, k and v in one packed projection); a leading 1 of the tensor (timm's and torchvision's position tables) is
/// not in the parameter.</summary>
public sealed record TorchTensorMap(string TorchName, int[] TorchShape, IReadOnlyList<Parameter> Parameters);

/// <summary>
/// Checkpoints in the layouts of <c>torch.nn</c>, torchvision and timm (<see cref="TorchLayout"/>), saved as safetensors: a
/// state dict exported by PyTorch (<c>safetensors.torch.save_file(model.state_dict(), path)</c>) loads into the equivalent
/// ModelGen declaration, and ModelGen's parameters save under PyTorch's names. The map follows the model's layers (its
/// <c>Summary</c>): their kinds say what each parameter is called there. A file that does not fit changes nothing and the
/// error lists every tensor that is missing, left over or of another shape.
/// </summary>
public static class TorchCheckpoint
{
    /// <summary>The map of every parameter of a model to the tensors of <paramref name="layout"/>.</summary>
    /// <param name="parameters">The model's parameters.</param>
    /// <param name="layout">The PyTorch layout.</param>
    /// <param name="layers">The model's layers: the generated class's static <c>Summary</c>.</param>
    /// <param name="modules">For <see cref="TorchLayout.TorchNn"/>: the PyTorch module that holds a layer, by the layer's path
    /// ("" for the state dict's root, e.g. an nn.TransformerEncoder saved on its own); by default the layer's own path.</param>
    public static IReadOnlyList<TorchTensorMap> Map(ParameterSet parameters, ModelSummary layers, TorchLayout layout, IReadOnlyDictionary<string, string>? modules = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(layers);
        var byTorchName = new Dictionary<string, List<(int Part, Parameter P)>>(StringComparer.Ordinal);
        var order = new List<string>();
        var claimed = new HashSet<Parameter>();
        var problems = new List<string>();
        foreach (var layer in layers.Layers)
        {
            string prefix = layer.Path + ".";
            foreach (var p in parameters.Where(p => p.Name.StartsWith(prefix, StringComparison.Ordinal)))
            {
                claimed.Add(p);
                if (!p.Trainable && layout != TorchLayout.TorchNn)
                {
                    problems.Add($"'{p.Name}' (a buffer of {layer.Kind} '{layer.Path}') has no counterpart in the {layout} layout");
                    continue;
                }
                string module = modules is not null && modules.TryGetValue(layer.Path, out var m) ? m : layer.Path;
                var (name, part) = TorchName(layout, layer.Kind, module, p.Name.Substring(prefix.Length));
                if (name is null)
                {
                    problems.Add($"'{p.Name}' of {layer.Kind} '{layer.Path}' has no counterpart in the {layout} layout");
                    continue;
                }
                if (!byTorchName.TryGetValue(name, out var parts))
                {
                    byTorchName[name] = parts = new List<(int, Parameter)>();
                    order.Add(name);
                }
                parts.Add((part, p));
            }
        }
        foreach (var p in parameters.Where(p => !claimed.Contains(p)))
            problems.Add($"'{p.Name}' belongs to no layer of the model's summary");
        var maps = new List<TorchTensorMap>();
        foreach (string name in order)
        {
            var parts = byTorchName[name].OrderBy(x => x.Part).ToList();
            if (parts.Select(x => x.Part).Distinct().Count() != parts.Count)
            {
                problems.Add($"'{name}' would hold {string.Join(" and ", parts.Select(x => "'" + x.P.Name + "'"))}: the model has more than one layer of that place in the {layout} layout");
                continue;
            }
            var ps = parts.Select(x => x.P).ToList();
            if (ps.Count == 3 && name.EndsWith("in_proj_weight", StringComparison.Ordinal) && ps.Any(p => !p.Shape.SequenceEqual(ps[0].Shape)))
            {
                // Keys or values of another width: nn.MultiheadAttention keeps q_proj_weight, k_proj_weight, v_proj_weight apart.
                for (int i = 0; i < 3; i++)
                    maps.Add(new TorchTensorMap(name.Substring(0, name.Length - "in_proj_weight".Length) + "qkv"[i] + "_proj_weight", ps[i].Shape.ToArray(), new[] { ps[i] }));
                continue;
            }
            int[] shape;
            if (ps.Count == 1) shape = Leading1(name, layout) ? new[] { 1 }.Concat(ps[0].Shape).ToArray() : ps[0].Shape.ToArray();
            else
            {
                if (ps.Any(p => !p.Shape.Skip(1).SequenceEqual(ps[0].Shape.Skip(1))))
                {
                    problems.Add($"'{name}' packs {string.Join(", ", ps.Select(p => $"'{p.Name}' {Tensor.Format(p.Shape)}"))}, whose shapes do not stack");
                    continue;
                }
                shape = new[] { ps.Sum(p => p.Shape[0]) }.Concat(ps[0].Shape.Skip(1)).ToArray();
            }
            maps.Add(new TorchTensorMap(name, shape, ps));
        }
        if (problems.Count > 0) throw new InvalidDataException($"The model does not map onto the {layout} layout: {Summarise(problems)}.");
        return maps;
    }

    /// <summary>Loads a PyTorch state dict saved as safetensors in <paramref name="layout"/>. Every parameter of the model must be
    /// in the file with its shape, and nothing else may be; otherwise nothing is changed and the error lists what differs.</summary>
    public static void Load(ParameterSet parameters, ModelSummary layers, string path, TorchLayout layout, IReadOnlyDictionary<string, string>? modules = null)
    {
        var maps = Map(parameters, layers, layout, modules);
        var tensors = SafeTensors.Load(path);
        var problems = new List<string>();
        foreach (var m in maps)
        {
            if (!tensors.TryGetValue(m.TorchName, out var t))
                problems.Add($"missing '{m.TorchName}' {Tensor.Format(m.TorchShape)} (for {string.Join(", ", m.Parameters.Select(p => "'" + p.Name + "'"))})");
            else if (!t.Shape.SequenceEqual(m.TorchShape))
                problems.Add($"'{m.TorchName}' is {Tensor.Format(t.Shape)} in the file but the model needs {Tensor.Format(m.TorchShape)} (for {string.Join(", ", m.Parameters.Select(p => "'" + p.Name + "'"))})");
        }
        var mapped = new HashSet<string>(maps.Select(m => m.TorchName), StringComparer.Ordinal);
        foreach (string name in tensors.Keys.Where(n => !mapped.Contains(n)).OrderBy(n => n, StringComparer.Ordinal))
            problems.Add($"unmapped '{name}' {Tensor.Format(tensors[name].Shape)}");
        if (problems.Count > 0)
            throw new InvalidDataException($"'{path}' does not fit this model in the {layout} layout: {Summarise(problems)}.");
        foreach (var m in maps)
        {
            var data = tensors[m.TorchName].Data;
            int at = 0;
            foreach (var p in m.Parameters)
            {
                Array.Copy(data, at, p.Value, 0, p.Value.Length);
                at += p.Value.Length;
                p.MarkChanged();
            }
        }
    }

    /// <summary>Writes the model's parameters as a safetensors state dict in <paramref name="layout"/> (atomically).</summary>
    public static void Save(ParameterSet parameters, ModelSummary layers, string path, TorchLayout layout, IReadOnlyDictionary<string, string>? modules = null)
    {
        var maps = Map(parameters, layers, layout, modules);
        parameters.Synchronize();
        SafeTensors.Save(path, maps.Select(m =>
        {
            var data = new float[m.Parameters.Sum(p => p.Value.Length)];
            int at = 0;
            foreach (var p in m.Parameters)
            {
                p.Value.CopyTo(data, at);
                at += p.Value.Length;
            }
            return new SafeTensor(m.TorchName, m.TorchShape, data);
        }));
    }

    static string Summarise(List<string> problems) =>
        string.Join("; ", problems.Take(12)) + (problems.Count > 12 ? $"; and {problems.Count - 12} more" : "");

    static bool Leading1(string torchName, TorchLayout layout) =>
        (layout == TorchLayout.Torchvision && torchName == "encoder.pos_embedding") || (layout == TorchLayout.Timm && torchName == "pos_embed");

    static readonly Regex s_projection = new(@"^(?<at>.*)\.(?<which>[qkv])_proj\.(?<part>weight|bias)$", RegexOptions.CultureInvariant);
    static readonly Regex s_layer = new(@"^layers\.(?<i>\d+)\.(?<rest>.+)$", RegexOptions.CultureInvariant);

    /// <summary>The PyTorch name of a parameter (<paramref name="name"/> within the layer at <paramref name="path"/>) and its
    /// place in a packed tensor (q 0, k 1, v 2); null when the layout has no place for it.</summary>
    static (string? Name, int Part) TorchName(TorchLayout layout, string kind, string path, string name) => layout switch
    {
        TorchLayout.TorchNn => TorchNnName(kind, path, name),
        TorchLayout.Torchvision => TorchvisionName(kind, name),
        _ => TimmName(kind, name),
    };

    static (string? Name, int Part) TorchNnName(string kind, string path, string name)
    {
        bool transformer = kind is "TransformerEncoderLayer" or "TransformerEncoder" or "TransformerDecoderLayer" or "TransformerDecoder" or "Transformer";
        if (transformer)
        {
            name = name.Replace("mlp.fc1.", "linear1.", StringComparison.Ordinal).Replace("mlp.fc2.", "linear2.", StringComparison.Ordinal)
                .Replace("cross_attn.", "multihead_attn.", StringComparison.Ordinal);
            name = Regex.Replace(name, @"(^|\.)attn\.", "$1self_attn.", RegexOptions.CultureInvariant);
        }
        if ((transformer || kind == "MultiHeadAttention") && s_projection.Match(name) is { Success: true } m)
        {
            int part = "qkv".IndexOf(m.Groups["which"].Value[0]);
            string at = m.Groups["at"].Value;
            // nn.MultiheadAttention packs q, k and v into in_proj_weight when keys and values have the embedding's width; the
            // biases are packed always. Whether they are is settled by the shapes in Map (a weight that does not stack fails).
            return (Join(path, at + (m.Groups["part"].Value == "bias" ? ".in_proj_bias" : ".in_proj_weight")), part);
        }
        return (Join(path, name), 0);
    }

    static string Join(string module, string name) => module.Length == 0 ? name : module + "." + name;

    static (string? Name, int Part) TorchvisionName(string kind, string name)
    {
        switch (kind)
        {
            case "PatchEmbedding": return (name is "proj.weight" or "proj.bias" ? "conv_proj." + name.Substring(5) : null, 0);
            case "ClassToken": return (name == "cls" ? "class_token" : null, 0);
            case "LearnedPositions": return (name == "weight" ? "encoder.pos_embedding" : null, 0);
            case "LayerNorm": return ("encoder.ln." + name, 0);
            case "ClassifierHead": return ("heads.head." + name, 0);
            case "TransformerEncoder":
            {
                if (name.StartsWith("norm.", StringComparison.Ordinal)) return ("encoder.ln." + name.Substring(5), 0);
                if (s_layer.Match(name) is not { Success: true } l) return (null, 0);
                string block = "encoder.layers.encoder_layer_" + l.Groups["i"].Value + ".", rest = l.Groups["rest"].Value;
                if (s_projection.Match(rest) is { Success: true, Groups: var g } && g["at"].Value == "attn")
                    return (block + "self_attention." + (g["part"].Value == "bias" ? "in_proj_bias" : "in_proj_weight"), "qkv".IndexOf(g["which"].Value[0]));
                return (Rename(rest, ("norm1.", "ln_1."), ("norm2.", "ln_2."), ("attn.out_proj.", "self_attention.out_proj."), ("mlp.fc1.", "mlp.0."), ("mlp.fc2.", "mlp.3."))
                    is { } renamed ? block + renamed : null, 0);
            }
            default: return (null, 0);
        }
    }

    static (string? Name, int Part) TimmName(string kind, string name)
    {
        switch (kind)
        {
            case "PatchEmbedding": return (name is "proj.weight" or "proj.bias" ? "patch_embed." + name : null, 0);
            case "ClassToken": return (name == "cls" ? "cls_token" : null, 0);
            case "LearnedPositions": return (name == "weight" ? "pos_embed" : null, 0);
            case "LayerNorm": return ("norm." + name, 0);
            case "ClassifierHead": return ("head." + name, 0);
            case "TransformerEncoder":
            {
                if (name.StartsWith("norm.", StringComparison.Ordinal)) return (name, 0);
                if (s_layer.Match(name) is not { Success: true } l) return (null, 0);
                string block = "blocks." + l.Groups["i"].Value + ".", rest = l.Groups["rest"].Value;
                if (s_projection.Match(rest) is { Success: true, Groups: var g } && g["at"].Value == "attn")
                    return (block + "attn.qkv." + g["part"].Value, "qkv".IndexOf(g["which"].Value[0]));
                return (Rename(rest, ("norm1.", "norm1."), ("norm2.", "norm2."), ("attn.out_proj.", "attn.proj."), ("mlp.fc1.", "mlp.fc1."), ("mlp.fc2.", "mlp.fc2."))
                    is { } renamed ? block + renamed : null, 0);
            }
            default: return (null, 0);
        }
    }

    /// <summary>The name with the first matching prefix replaced; null when none matches.</summary>
    static string? Rename(string name, params (string From, string To)[] prefixes)
    {
        foreach (var (from, to) in prefixes)
            if (name.StartsWith(from, StringComparison.Ordinal)) return to + name.Substring(from.Length);
        return null;
    }
}
