using System;
using System.Collections.Generic;
using System.Globalization;

namespace ModelGen.Generators.Helpers;

/// <summary>Hands out C# names within one scope: the name asked for, or that name numbered (<c>_2</c>, <c>_3</c>, …) when it is
/// taken — for paths that differ only by '.' and '_' ("attn.q_proj" beside a layer AttnQProj's "attn_q_proj").</summary>
public sealed class UniqueNames
{
    readonly HashSet<string> _taken = new(StringComparer.Ordinal);

    public UniqueNames(IEnumerable<string> reserved)
    {
        foreach (var name in reserved) _taken.Add(name);
    }

    public string Take(string wanted)
    {
        string candidate = wanted;
        for (int n = 2; !_taken.Add(candidate); n++) candidate = wanted + "_" + n.ToString(CultureInfo.InvariantCulture);
        return candidate;
    }
}
