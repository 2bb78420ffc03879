using System.Text;

namespace ModelGen.Generators.Helpers;

/// <summary>Writes C# with fixed four-space indentation and \n line endings, so output is byte-stable.</summary>
public sealed class SourceWriter
{
    readonly StringBuilder _sb = new();
    int _indent;

    public void Line(string text = "")
    {
        if (text.Length > 0) _sb.Append(' ', _indent * 4).Append(text);
        _sb.Append('\n');
    }

    public void Open(string header)
    {
        Line(header);
        Line("{");
        _indent++;
    }

    public void Close(string trailer = "")
    {
        _indent--;
        Line("}" + trailer);
    }

    public override string ToString() => _sb.ToString();
}
