using System.Management.Automation;
using VServer.Runtime;

namespace VServer.Commands;

/// <summary>Test-VServerHost: util-vserver's testme.sh, one VServer.HostCheck per check.</summary>
[Cmdlet(VerbsDiagnostic.Test, "VServerHost")]
[OutputType(typeof(HostCheck))]
public sealed class TestVServerHostCommand : VServerCmdlet
{
    /// <summary>Only the checks whose name matches (wildcards).</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostCheckCompleter))]
    public string[]? Check { get; set; }

    /// <summary>Write only $true when no check failed, else $false.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void EndProcessing()
    {
        var patterns = (Check ?? new[] { "*" }).Select(p => new WildcardPattern(p, WildcardOptions.IgnoreCase)).ToList();
        // a -Check that names no check is refused before any check runs
        var unknown = (Check ?? Array.Empty<string>()).Where(c => !HostChecks.Names.Any(new WildcardPattern(c, WildcardOptions.IgnoreCase).IsMatch)).ToArray();
        if (unknown.Length > 0)
        {
            ThrowTerminatingError(new ErrorRecord(
                new ArgumentException($"'{string.Join("', '", unknown)}' names no check. The checks: {string.Join(", ", HostChecks.Names)}."),
                "UnknownCheck", ErrorCategory.InvalidArgument, unknown[0]));
        }
        var failed = false;
        foreach (var c in HostChecks.Run(Store.Paths))
        {
            if (!patterns.Any(p => p.IsMatch(c.Check)))
            {
                continue;
            }
            failed |= c.Status == CheckStatus.Fail;
            if (!Quiet)
            {
                WriteObject(c);
            }
        }
        if (Quiet)
        {
            WriteObject(!failed);
        }
    }
}
