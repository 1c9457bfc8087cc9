using System.Globalization;
using System.Text;

namespace VServer;

/// <summary>
/// Text from disk or from a guest made safe for a terminal: control characters (C0 other than
/// newline and tab, DEL, C1) are shown as escapes (<c>\e</c>, <c>\x07</c>, <c>\u009b</c>) instead of
/// reaching the administrator's terminal, where <c>ESC[2J</c> would clear the screen.
/// </summary>
public static class VisibleText
{
    public static string Of(string text)
    {
        var i = 0;
        while (i < text.Length && !IsControl(text[i]))
        {
            i++;
        }
        if (i == text.Length)
        {
            return text;
        }
        var sb = new StringBuilder(text.Length + 8).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (!IsControl(c))
            {
                sb.Append(c);
            }
            else if (c == '\x1b')
            {
                sb.Append("\\e");
            }
            else if (c == '\r')
            {
                sb.Append("\\r");
            }
            else
            {
                sb.Append(c < 0x100 ? "\\x" + ((int)c).ToString("x2", CultureInfo.InvariantCulture) : "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    private static bool IsControl(char c) => c is not ('\n' or '\t') && (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0));
}
