using System.Collections.Generic;
using System.Text;

namespace ModelGen.Generators.Helpers;

/// <summary>Writes C# with fixed four-space indentation and \n line endings, so output is byte-stable.</summary>
public sealed class SourceWriter
{
    /// <summary>Generated lines stay within this many characters where they can: a long call wraps its arguments.</summary>
    public const int Width = 140;

    readonly StringBuilder _sb = new();
    int _indent;

    public void Line(string text = "")
    {
        if (text.Length > 0) _sb.Append(' ', _indent * 4).Append(text);
        _sb.Append('\n');
    }

    /// <summary><c>head(a, b, c)tail</c> on one line when it fits in <see cref="Width"/>, else the arguments packed onto indented
    /// continuation lines.</summary>
    public void Call(string head, IReadOnlyList<string> arguments, string tail) => Wrap(head, "(", arguments, ")", tail);

    /// <summary><c>head{ a, b, c }tail</c> (an array initializer), wrapped like <see cref="Call"/>.</summary>
    public void Items(string head, IReadOnlyList<string> items, string tail) => Wrap(head, "{ ", items, " }", tail);

    /// <summary><c>head{open}a, b, c{close}tail</c>, wrapped like <see cref="Call"/> (type argument lists: open "&lt;").</summary>
    public void Wrap(string head, string open, IReadOnlyList<string> items, string close, string tail)
    {
        string one = head + open + string.Join(", ", items) + close + tail;
        if (_indent * 4 + one.Length <= Width || items.Count == 0)
        {
            Line(one);
            return;
        }
        Line(head + open.TrimEnd());
        _indent++;
        var line = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            string piece = items[i] + (i == items.Count - 1 ? close.TrimStart() == "}" ? "" : close.Trim() + tail : ",");
            if (line.Length > 0 && _indent * 4 + line.Length + 1 + piece.Length > Width)
            {
                Line(line.ToString());
                line.Clear();
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(piece);
        }
        Line(line.ToString());
        _indent--;
        if (close.Trim() == "}") Line("}" + tail);
    }

    public void Open(string header)
    {
        Line(header);
        Line("{");
        _indent++;
    }

    /// <summary>Indents what follows as <see cref="Open"/> does, for a block whose header was written another way.</summary>
    public void Indent() => _indent++;

    public void Dedent() => _indent--;

    public void Close(string trailer = "")
    {
        _indent--;
        Line("}" + trailer);
    }

    public override string ToString() => _sb.ToString();
}
