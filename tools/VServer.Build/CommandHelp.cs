using System.Text.RegularExpressions;

namespace VServer.BuildTool;

public sealed class HelpFormatException : Exception
{
    public HelpFormatException(string message) : base(message) { }
}

public sealed record HelpExample(string Title, string Code, List<string> Remarks);

public sealed record HelpParameter(string Name, string Description, string Type, List<string> ParameterSets, string Aliases,
    bool Required, string Position, string DefaultValue, string PipelineInput, bool Globbing);

public sealed record HelpLink(string Text, string Uri);

/// <summary>One cmdlet's page in platyPS's markdown schema.</summary>
public sealed class CommandHelp
{
    public string Name { get; init; } = "";
    public string Synopsis { get; init; } = "";
    public List<string> SyntaxSets { get; init; } = new();
    public string? DefaultSet { get; init; }
    public List<string> Description { get; init; } = new();
    public List<HelpExample> Examples { get; init; } = new();
    public List<HelpParameter> Parameters { get; init; } = new();
    public bool CommonParameters { get; init; }
    public List<(string Type, string Description)> Inputs { get; init; } = new();
    public List<(string Type, string Description)> Outputs { get; init; } = new();
    public List<string> Notes { get; init; } = new();
    public List<HelpLink> Links { get; init; } = new();

    private static readonly Regex Link = new(@"^\s*[-*]?\s*\[(?<text>[^\]]+)\]\((?<uri>[^)]*)\)\s*$");

    public static CommandHelp Parse(string markdown, string file)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n').ToList();
        if (lines.Count > 0 && lines[0].Trim() == "---")
        {
            var end = lines.FindIndex(1, l => l.Trim() == "---");
            if (end < 0)
            {
                throw new HelpFormatException($"{file}: front matter is not closed");
            }
            lines = lines.Skip(end + 1).ToList();
        }
        var titleLine = lines.FirstOrDefault(l => l.StartsWith("# ", StringComparison.Ordinal))
            ?? throw new HelpFormatException($"{file}: no '# Cmdlet-Name' title");
        var name = titleLine[2..].Trim();
        var sections = Split(lines, "## ");
        string[] Need(string s) => sections.TryGetValue(s, out var v) ? v : throw new HelpFormatException($"{file}: missing section '## {s}'");

        var syntax = Split(Need("SYNTAX").ToList(), "### ");
        var sets = syntax.Keys.Where(k => k.Length > 0).Select(k => k.Replace("(Default)", "").Trim()).ToList();
        var defaultSet = syntax.Keys.FirstOrDefault(k => k.Contains("(Default)"))?.Replace("(Default)", "").Trim();

        var examples = new List<HelpExample>();
        foreach (var (title, body) in Split(Need("EXAMPLES").ToList(), "### ").Where(kv => kv.Key.Length > 0))
        {
            var blocks = Blocks(body);
            var code = blocks.FirstOrDefault(b => b.IsCode);
            if (code is null)
            {
                throw new HelpFormatException($"{file}: example '{title}' has no code block");
            }
            var remarks = blocks.Where(b => b != code).Select(b => b.Text).ToList();
            examples.Add(new HelpExample(title, code.Text, remarks));
        }

        var parameters = new List<HelpParameter>();
        var common = false;
        foreach (var (title, body) in Split(Need("PARAMETERS").ToList(), "### ").Where(kv => kv.Key.Length > 0))
        {
            if (title == "CommonParameters")
            {
                common = true;
                continue;
            }
            if (!title.StartsWith('-'))
            {
                throw new HelpFormatException($"{file}: parameter heading '{title}' does not start with '-'");
            }
            var blocks = Blocks(body);
            var yaml = blocks.FirstOrDefault(b => b.IsCode && b.Lang == "yaml")
                ?? throw new HelpFormatException($"{file}: parameter {title} has no yaml block");
            var fields = yaml.Text.Split('\n').Where(l => l.Contains(':'))
                .ToDictionary(l => l[..l.IndexOf(':')].Trim(), l => l[(l.IndexOf(':') + 1)..].Trim(), StringComparer.OrdinalIgnoreCase);
            string F(string k) => fields.TryGetValue(k, out var v) ? v : "";
            parameters.Add(new HelpParameter(
                title[1..],
                string.Join("\n\n", blocks.Where(b => !b.IsCode).Select(b => b.Text)),
                F("Type"),
                F("Parameter Sets").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(),
                F("Aliases"),
                F("Required").StartsWith("True", StringComparison.OrdinalIgnoreCase),
                F("Position"),
                F("Default value"),
                F("Accept pipeline input"),
                F("Accept wildcard characters").StartsWith("True", StringComparison.OrdinalIgnoreCase)));
        }

        List<(string, string)> Types(string section) => sections.TryGetValue(section, out var body)
            ? Split(body.ToList(), "### ").Where(kv => kv.Key.Length > 0).Select(kv => (kv.Key, Text(kv.Value))).ToList()
            : new();

        return new CommandHelp
        {
            Name = name,
            Synopsis = Text(Need("SYNOPSIS")),
            SyntaxSets = sets,
            DefaultSet = defaultSet,
            Description = Blocks(Need("DESCRIPTION")).Select(b => b.Text).ToList(),
            Examples = examples,
            Parameters = parameters,
            CommonParameters = common,
            Inputs = Types("INPUTS"),
            Outputs = Types("OUTPUTS"),
            Notes = sections.TryGetValue("NOTES", out var notes) ? Blocks(notes).Select(b => b.Text).ToList() : new(),
            Links = sections.TryGetValue("RELATED LINKS", out var links)
                ? links.Select(l => Link.Match(l)).Where(m => m.Success).Select(m => new HelpLink(m.Groups["text"].Value, m.Groups["uri"].Value)).ToList()
                : new(),
        };
    }

    /// <summary>Splits lines into sections by a heading prefix; text before the first heading is under "".</summary>
    private static Dictionary<string, string[]> Split(List<string> lines, string prefix)
    {
        var result = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var current = "";
        var body = new List<string>();
        var inCode = false;
        foreach (var l in lines)
        {
            if (l.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inCode = !inCode;
            }
            if (!inCode && l.StartsWith(prefix, StringComparison.Ordinal))
            {
                result[current] = body.ToArray();
                current = l[prefix.Length..].Trim();
                body = new List<string>();
                continue;
            }
            body.Add(l);
        }
        result[current] = body.ToArray();
        return result;
    }

    public sealed record Block(string Text, bool IsCode, string Lang);

    /// <summary>Paragraphs and fenced code blocks, in order.</summary>
    public static List<Block> Blocks(IEnumerable<string> lines)
    {
        var blocks = new List<Block>();
        var para = new List<string>();
        List<string>? code = null;
        var lang = "";
        void FlushPara()
        {
            if (para.Count > 0)
            {
                blocks.Add(new Block(string.Join(" ", para.Select(p => p.Trim())), false, ""));
                para.Clear();
            }
        }
        foreach (var l in lines)
        {
            if (l.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                if (code is null)
                {
                    FlushPara();
                    code = new List<string>();
                    lang = l.Trim()[3..].Trim();
                }
                else
                {
                    blocks.Add(new Block(string.Join("\n", code), true, lang));
                    code = null;
                }
                continue;
            }
            if (code is not null)
            {
                code.Add(l);
            }
            else if (l.Trim().Length == 0)
            {
                FlushPara();
            }
            else if (l.TrimStart().StartsWith("- ", StringComparison.Ordinal) || l.TrimStart().StartsWith("* ", StringComparison.Ordinal))
            {
                FlushPara();
                para.Add(l.Trim());
                FlushPara();
            }
            else
            {
                para.Add(l);
            }
        }
        FlushPara();
        return blocks;
    }

    private static string Text(IEnumerable<string> lines) => string.Join("\n\n", Blocks(lines).Select(b => b.Text));
}
