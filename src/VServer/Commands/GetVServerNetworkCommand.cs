using System.Management.Automation;
using VServer.Runtime;

namespace VServer.Commands;

/// <summary>Get-VServerNetwork: each running guest's interfaces, addresses and counters.</summary>
[Cmdlet(VerbsCommon.Get, "VServerNetwork")]
[OutputType(typeof(GuestInterface))]
public sealed class GetVServerNetworkCommand : VServerCmdlet
{
    /// <summary>Guests (wildcards, pipeline); all running guests when left out.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Leave out the loopback interface.</summary>
    [Parameter]
    public SwitchParameter ExcludeLoopback { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var n in ResolveNames(Name ?? new[] { "*" }))
        {
            Try(n, () =>
            {
                if (Runtime.Status(n).State != GuestState.Running)
                {
                    // named outright (not only matched by a wildcard): say why nothing shows
                    if (Name?.Contains(n) == true)
                    {
                        throw new VServerException("GuestNotRunning", ErrorKind.InvalidOperation, $"Guest '{n}' is not running.", n);
                    }
                    return;
                }
                var config = Store.ReadConfig(n);
                if (config.EffectiveNetworkMode == NetworkMode.Host)
                {
                    WriteVerbose($"Guest '{n}' shares the host's network stack (Host mode): see the host's own interfaces.");
                    return;
                }
                foreach (var i in GuestNetwork.Interfaces(Store.Paths, config).Where(i => !ExcludeLoopback || i.Name != "lo"))
                {
                    WriteObject(i);
                }
            });
        }
    }
}
