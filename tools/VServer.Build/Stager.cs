using System.Text;

namespace VServer.BuildTool;

public static class Stager
{
    /// <summary>The root manifest's paths point into output/VServer/; the staged copy's are relative to itself.</summary>
    public const string OutputPrefix = "output/VServer/";

    public static void Stage(string manifestPath, string docsDir, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var manifest = File.ReadAllText(manifestPath);
        WriteIfChanged(Path.Combine(outDir, "VServer.psd1"), StagedManifest(manifest));

        var helpDir = Path.Combine(outDir, "en-US");
        Directory.CreateDirectory(helpDir);
        var pages = Directory.GetFiles(docsDir, "*.md")
            .Where(f => !Path.GetFileName(f).StartsWith("about_", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => CommandHelp.Parse(File.ReadAllText(f), f))
            .ToList();
        WriteIfChanged(Path.Combine(helpDir, "VServer.dll-Help.xml"), Maml.Render(pages));
        foreach (var about in Directory.GetFiles(docsDir, "about_*.md"))
        {
            var name = Path.GetFileNameWithoutExtension(about);
            WriteIfChanged(Path.Combine(helpDir, name + ".help.txt"), AboutTopic.Render(File.ReadAllText(about)));
        }
    }

    /// <summary>The root manifest's line that nests the staged module.</summary>
    public const string NestedLine = "NestedModules        = @('output/VServer/VServer.psd1')";

    /// <summary>
    /// The staged module's manifest: the root manifest with its nesting line replaced by the module
    /// itself (the assembly, the format and types files) and any other output/VServer/ prefix removed.
    /// </summary>
    public static string StagedManifest(string manifest)
    {
        if (!manifest.Contains(NestedLine, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The root manifest has no line '{NestedLine}'.");
        }
        return manifest.Replace(NestedLine,
                "RootModule           = 'VServer.dll'\n    FormatsToProcess     = @('VServer.Format.ps1xml')\n    TypesToProcess       = @('VServer.Types.ps1xml')",
                StringComparison.Ordinal)
            .Replace(OutputPrefix, "", StringComparison.Ordinal);
    }

    private static void WriteIfChanged(string path, string content)
    {
        if (!File.Exists(path) || File.ReadAllText(path) != content)
        {
            File.WriteAllText(path, content, new UTF8Encoding(false));
        }
    }
}
