using System.Text;

namespace VServer.BuildTool;

/// <summary>Turns an about_*.md page into the plain-text about_*.help.txt Get-Help shows.</summary>
public static class AboutTopic
{
    public static string Render(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n').ToList();
        if (lines.Count > 0 && lines[0].Trim() == "---")
        {
            var end = lines.FindIndex(1, l => l.Trim() == "---");
            lines = lines.Skip(end + 1).ToList();
        }
        var sb = new StringBuilder();
        var inCode = false;
        foreach (var l in lines)
        {
            if (l.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inCode = !inCode;
                continue;
            }
            if (inCode)
            {
                sb.Append("        ").Append(l).Append('\n');
            }
            else if (l.StartsWith("# ", StringComparison.Ordinal))
            {
                sb.Append("TOPIC\n    ").Append(l[2..].Trim()).Append('\n');
            }
            else if (l.StartsWith("## ", StringComparison.Ordinal) || l.StartsWith("### ", StringComparison.Ordinal))
            {
                sb.Append(l.TrimStart('#').Trim().ToUpperInvariant()).Append('\n');
            }
            else
            {
                sb.Append(l.Length == 0 ? "" : "    " + l).Append('\n');
            }
        }
        return sb.ToString();
    }
}
