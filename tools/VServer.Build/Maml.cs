using System.Xml.Linq;

namespace VServer.BuildTool;

/// <summary>Renders command help as MAML, the format Get-Help reads for binary cmdlets.</summary>
public static class Maml
{
    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace MamlNs = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    public static string Render(IEnumerable<CommandHelp> commands)
    {
        var root = new XElement(Msh + "helpItems", new XAttribute("schema", "maml"),
            commands.Select(RenderCommand));
        var doc = new XDocument(new XDeclaration("1.0", "utf-8", null), root);
        using var sw = new Utf8StringWriter();
        doc.Save(sw);
        return sw.ToString() + "\n";
    }

    private sealed class Utf8StringWriter : StringWriter
    {
        public override System.Text.Encoding Encoding => new System.Text.UTF8Encoding(false);
    }

    private static IEnumerable<XElement> Paras(IEnumerable<string> paragraphs) =>
        paragraphs.Select(p => new XElement(MamlNs + "para", p));

    private static XElement Description(IEnumerable<string> paragraphs) => new(MamlNs + "description", Paras(paragraphs));

    private static XElement RenderCommand(CommandHelp c)
    {
        var dash = c.Name.IndexOf('-');
        return new XElement(Command + "command",
            new XAttribute(XNamespace.Xmlns + "maml", MamlNs),
            new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev),
            new XElement(Command + "details",
                new XElement(Command + "name", c.Name),
                new XElement(Command + "verb", dash > 0 ? c.Name[..dash] : c.Name),
                new XElement(Command + "noun", dash > 0 ? c.Name[(dash + 1)..] : ""),
                Description(new[] { c.Synopsis })),
            Description(c.Description),
            new XElement(Command + "syntax", SyntaxSets(c).Select(set => new XElement(Command + "syntaxItem",
                new XElement(MamlNs + "name", c.Name),
                c.Parameters.Where(p => InSet(p, set)).OrderBy(p => int.TryParse(p.Position, out var n) ? n : int.MaxValue)
                    .Select(p => Parameter(p, set))))),
            new XElement(Command + "parameters", c.Parameters.Select(p => Parameter(p, null))),
            new XElement(Command + "inputTypes", c.Inputs.Select(i => new XElement(Command + "inputType",
                TypeElement(i.Type), Description(new[] { i.Description })))),
            new XElement(Command + "returnValues", c.Outputs.Select(o => new XElement(Command + "returnValue",
                TypeElement(o.Type), Description(new[] { o.Description })))),
            new XElement(MamlNs + "alertSet", new XElement(MamlNs + "alert", Paras(c.Notes))),
            new XElement(Command + "examples", c.Examples.Select(e => new XElement(Command + "example",
                new XElement(MamlNs + "title", $"--------- {e.Title} ---------"),
                new XElement(Dev + "code", e.Code),
                new XElement(Dev + "remarks", Paras(e.Remarks))))),
            new XElement(Command + "relatedLinks", c.Links.Select(l => new XElement(MamlNs + "navigationLink",
                new XElement(MamlNs + "linkText", l.Text), new XElement(MamlNs + "uri", l.Uri)))));
    }

    private static IEnumerable<string> SyntaxSets(CommandHelp c) => c.SyntaxSets.Count > 0 ? c.SyntaxSets : new List<string> { "(All)" };

    private static bool InSet(HelpParameter p, string set) =>
        p.ParameterSets.Count == 0 || p.ParameterSets.Contains("(All)") || set == "(All)" || set == "__AllParameterSets" ||
        p.ParameterSets.Contains(set);

    private static XElement TypeElement(string type) =>
        new(Dev + "type", new XElement(MamlNs + "name", type), new XElement(MamlNs + "uri"));

    private static XElement Parameter(HelpParameter p, string? set)
    {
        var isSwitch = p.Type.Equals("SwitchParameter", StringComparison.OrdinalIgnoreCase);
        var pipeline = string.IsNullOrEmpty(p.PipelineInput) ? "False" : p.PipelineInput;
        var position = string.IsNullOrEmpty(p.Position) ? "named" : p.Position.ToLowerInvariant();
        var aliases = string.IsNullOrEmpty(p.Aliases) ? "none" : p.Aliases;
        var e = new XElement(Command + "parameter",
            new XAttribute("required", p.Required ? "true" : "false"),
            new XAttribute("variableLength", p.Type.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false"),
            new XAttribute("globbing", p.Globbing ? "true" : "false"),
            new XAttribute("pipelineInput", pipeline),
            new XAttribute("position", position),
            new XAttribute("aliases", aliases),
            new XElement(MamlNs + "name", p.Name),
            Description(p.Description.Split("\n\n")));
        if (!isSwitch)
        {
            e.Add(new XElement(Command + "parameterValue", new XAttribute("required", "true"),
                new XAttribute("variableLength", "false"), p.Type));
        }
        e.Add(TypeElement(p.Type));
        e.Add(new XElement(Dev + "defaultValue", string.IsNullOrEmpty(p.DefaultValue) ? "None" : p.DefaultValue));
        return e;
    }
}
