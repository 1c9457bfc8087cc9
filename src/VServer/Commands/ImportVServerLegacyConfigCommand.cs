using System.Collections.ObjectModel;
using System.Management.Automation;
using VServer.Config;

namespace VServer.Commands;

/// <summary>
/// Import-VServerLegacyConfig: turns the stable branch's <c>/etc/vservers/NAME.conf</c> into a
/// configuration directory, read as data (never sourced). The guest's root stays where it is
/// (the vdir root and its name); the file itself is left as it was.
/// </summary>
[Cmdlet(VerbsData.Import, "VServerLegacyConfig", SupportsShouldProcess = true)]
[OutputType(typeof(Guest))]
public sealed class ImportVServerLegacyConfigCommand : VServerCmdlet
{
    /// <summary>The legacy files (NAME.conf); wildcards are expanded.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>The guest's name; default: the file's name without .conf. Only with one file.</summary>
    [Parameter]
    public string? Name { get; set; }

    private int _files;

    protected override void ProcessRecord()
    {
        foreach (var pattern in Path)
        {
            Collection<string> files;
            try
            {
                files = GetResolvedProviderPathFromPSPath(pattern, out _);
            }
            catch (ItemNotFoundException e)
            {
                WriteError(new ErrorRecord(e, "LegacyConfigNotFound", ErrorCategory.ObjectNotFound, pattern));
                continue;
            }
            foreach (var file in files)
            {
                if (Name is not null && ++_files > 1)
                {
                    ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Name names one guest: give one file with it."), "NameWithSeveralFiles", ErrorCategory.InvalidArgument, Name));
                }
                Try(file, () => Import(file));
            }
        }
    }

    private void Import(string file)
    {
        var name = Name ?? System.IO.Path.GetFileName(file) switch
        {
            var f when f.EndsWith(".conf", StringComparison.Ordinal) => f[..^".conf".Length],
            var f => f,
        };
        Validate.GuestName(name);
        var notes = new List<string>();
        var config = LegacyConfig.Parse(File.ReadAllText(file), file, name, notes);
        foreach (var note in notes)
        {
            WriteWarning(note);
        }
        if (ShouldProcess(name, $"Import guest from {file} into {Store.Paths.ConfigDir(name)} (root {Store.RootOf(config)})"))
        {
            WriteObject(Store.Adopt(config, Reporter));
        }
    }
}
