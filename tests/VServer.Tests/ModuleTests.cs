using System.Management.Automation;
using System.Text.RegularExpressions;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The module as shipped: manifest, exports, help.</summary>
public class ModuleTests
{
    private static readonly string[] CommonParameters =
    {
        "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable",
        "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
    };

    [Fact]
    public void ManifestExportsExactlyTheCmdletsInTheAssembly()
    {
        using var s = new PowerShellSession();
        var exported = s.Invoke("(Get-Module VServer).ExportedCmdlets.Keys").Select(o => (string)o.BaseObject).ToArray();
        var assembly = (System.Reflection.Assembly)s.Invoke("(Get-Module VServer).ImplementingAssembly")[0].BaseObject;
        var inAssembly = assembly.GetTypes()
            .Select(t => t.GetCustomAttributes(typeof(CmdletAttribute), false).Cast<CmdletAttribute>().FirstOrDefault())
            .Where(a => a is not null).Select(a => a!.VerbName + "-" + a.NounName).Order(StringComparer.OrdinalIgnoreCase).ToArray();
        Assert.Equal(inAssembly, exported.Order(StringComparer.OrdinalIgnoreCase).ToArray());
        Assert.Contains("New-VServerGuest", exported);
        var manifest = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "VServer.psd1"));
        Assert.DoesNotContain("'*'", manifest);
    }

    [Fact]
    public void TheRootManifestLoadsTheBuildOutput()
    {
        using var s = new PowerShellSession();
        s.Invoke("Remove-Module VServer");
        var root = Path.Combine(TestEnvironment.RepoRoot, "VServer.psd1");
        var m = s.Invoke($"Import-Module '{root}' -PassThru");
        Assert.Empty(s.Errors);
        var info = Assert.IsType<PSModuleInfo>(Assert.Single(m).BaseObject);
        // the root manifest nests the staged module (so help and views come from output/VServer)
        var staged = Assert.Single(info.NestedModules);
        Assert.Equal(Path.Combine(TestEnvironment.RepoRoot, "output", "VServer"), staged.ModuleBase);
        // every cmdlet class of the module is exported, and nothing else
        var classes = staged.ImplementingAssembly!.GetTypes()
            .Select(t => t.GetCustomAttributes(typeof(CmdletAttribute), false).OfType<CmdletAttribute>().FirstOrDefault())
            .OfType<CmdletAttribute>().Select(a => a.VerbName + "-" + a.NounName).Order().ToArray();
        Assert.Equal(classes, info.ExportedCmdlets.Keys.Order().ToArray());
        Assert.Contains("Start-VServerGuest", classes);
        var version = s.Invoke($"(Test-ModuleManifest '{PowerShellSession.ModuleManifest}').Version.ToString()");
        Assert.Equal(info.Version.ToString(), version[0].BaseObject);
    }

    [Fact]
    public void GetHelpShowsExamples()
    {
        using var s = new PowerShellSession();
        var text = s.Render("Get-Help New-VServerGuest -Examples");
        Assert.Contains("Example 1", text);
        Assert.Contains("New-VServerGuest", text);
        var synopsis = s.Invoke("(Get-Help Get-VServerGuest).Synopsis")[0].BaseObject as string;
        Assert.False(string.IsNullOrWhiteSpace(synopsis));
        Assert.DoesNotContain("Get-VServerGuest [[-Name]", synopsis); // real help, not the generated stub
    }

    [Fact]
    public void EveryExportedCmdletAndParameterIsDocumented()
    {
        using var s = new PowerShellSession();
        var commands = s.Invoke("Get-Command -Module VServer");
        Assert.NotEmpty(commands);
        var missing = new List<string>();
        foreach (var cmd in commands.Select(c => (CmdletInfo)c.BaseObject))
        {
            var page = Path.Combine(TestEnvironment.RepoRoot, "docs", "en-US", cmd.Name + ".md");
            if (!File.Exists(page))
            {
                missing.Add(page);
                continue;
            }
            var md = File.ReadAllText(page);
            foreach (var p in cmd.Parameters.Keys.Except(CommonParameters))
            {
                if (!Regex.IsMatch(md, $"^### -{p}\\s*$", RegexOptions.Multiline))
                {
                    missing.Add($"{cmd.Name} -{p}");
                }
            }
            foreach (var section in new[] { "## SYNOPSIS", "## SYNTAX", "## DESCRIPTION", "## EXAMPLES", "## PARAMETERS", "## INPUTS", "## OUTPUTS", "## NOTES", "## RELATED LINKS" })
            {
                if (!md.Contains(section))
                {
                    missing.Add($"{cmd.Name}: {section}");
                }
            }
            var helpParams = s.Invoke($"(Get-Help {cmd.Name}).parameters.parameter | ForEach-Object name").Select(o => o.BaseObject.ToString()).ToHashSet();
            foreach (var p in cmd.Parameters.Keys.Except(CommonParameters).Where(p => !helpParams.Contains(p)))
            {
                missing.Add($"{cmd.Name} -{p} (not in the generated MAML)");
            }
        }
        Assert.True(File.Exists(Path.Combine(TestEnvironment.RepoRoot, "docs", "en-US", "about_VServer.md")), "about_VServer.md is missing");
        Assert.Empty(missing);
    }

    [Fact]
    public void AboutTopicIsStagedWithTheModule()
    {
        using var s = new PowerShellSession();
        var text = s.Render("Get-Help about_VServer");
        Assert.Contains("about_VServer", text);
        Assert.Contains("VSERVER_CONFIG_ROOT", text);
    }
}
