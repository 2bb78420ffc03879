using System;
using System.Globalization;
using System.Linq;
using System.Reflection;
using ModelGen.Generators.Model;

namespace ModelGen.Generators;

/// <summary>Reads a layer's arguments back into its real attribute type (from ModelGen.Abstractions, loaded beside the generator),
/// so every default and enum a rule sees is the attribute class's own: the constructor the user called, then each named argument.</summary>
internal static class AttributeReader
{
    /// <summary>The attribute as the user wrote it, or null when its arguments do not fit the type (a declaration mid-edit).</summary>
    public static LayerAttribute? Read(Type type, LayerSpec layer)
    {
        var positional = layer.Args.Where(a => a.Position >= 0).OrderBy(a => a.Position).ToArray();
        var constructor = type.GetConstructors().FirstOrDefault(c => c.GetParameters().Select(p => Capitalize(p.Name)).SequenceEqual(positional.Select(a => a.Name), StringComparer.Ordinal));
        if (constructor is null) return null;
        var parameters = constructor.GetParameters();
        var values = new object?[parameters.Length];
        for (int i = 0; i < parameters.Length; i++) values[i] = Convert(positional[i].Value, parameters[i].ParameterType);
        var attribute = (LayerAttribute)constructor.Invoke(values);
        foreach (var named in layer.Args.Where(a => a.Position < 0))
        {
            var property = type.GetProperty(named.Name, BindingFlags.Public | BindingFlags.Instance);
            if (property?.SetMethod is null) return null;
            property.SetValue(attribute, Convert(named.Value, property.PropertyType));
        }
        return attribute;
    }

    static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s.Substring(1);

    /// <summary>The invariant text the parser wrote (<c>Parser.Format</c>) back into a value of the parameter's type.</summary>
    static object? Convert(string? text, Type type)
    {
        if (type == typeof(Type)) return null; // [Use(typeof(Block))]: the module is parsed into the spec itself
        if (text is null) return type.IsValueType ? Activator.CreateInstance(type) : null;
        if (type == typeof(string)) return text;
        if (type == typeof(int)) return int.Parse(text, CultureInfo.InvariantCulture);
        if (type == typeof(double)) return double.Parse(text, CultureInfo.InvariantCulture);
        if (type == typeof(float)) return float.Parse(text, CultureInfo.InvariantCulture);
        if (type == typeof(bool)) return text == "true";
        if (type.IsEnum) return Enum.ToObject(type, long.Parse(text, CultureInfo.InvariantCulture));
        if (type == typeof(int[])) return text.Length == 0 ? Array.Empty<int>() : text.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        throw new NotSupportedException($"an attribute argument of type {type.Name}");
    }
}
