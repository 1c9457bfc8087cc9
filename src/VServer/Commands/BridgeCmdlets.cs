using System.Management.Automation;
using VServer.Runtime;

namespace VServer.Commands;

/// <summary>Get-VServerBridge: the configured bridges and those guests are attached to.</summary>
[Cmdlet(VerbsCommon.Get, "VServerBridge")]
[OutputType(typeof(Bridge))]
public sealed class GetVServerBridgeCommand : VServerCmdlet
{
    /// <summary>Bridge names (wildcards); all when left out.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        Try(null, () =>
        {
            var all = BridgeManager.List(Store);
            foreach (var pattern in Name ?? new[] { "*" })
            {
                var p = new WildcardPattern(pattern, WildcardOptions.None);
                var hits = all.Where(b => p.IsMatch(b.Name)).ToList();
                if (hits.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
                {
                    WriteError(ErrorMapping.ToRecord(new VServerException("BridgeNotFound", ErrorKind.ObjectNotFound, $"No bridge named '{pattern}' is configured or in use.", pattern), pattern));
                }
                foreach (var b in hits)
                {
                    WriteObject(b);
                }
            }
        });
    }
}

/// <summary>
/// Set-VServerBridge: a bridge's addresses, NAT, isolation and DNS servers, written to its
/// configuration and applied at once where the bridge exists.
/// </summary>
[Cmdlet(VerbsCommon.Set, "VServerBridge", SupportsShouldProcess = true)]
[OutputType(typeof(Bridge))]
public sealed class SetVServerBridgeCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    public string Name { get; set; } = "";

    /// <summary>The bridge's own addresses, ADDRESS/PREFIX (the guests' gateway); replaces the list.</summary>
    [Parameter]
    [AllowEmptyCollection]
    public string[]? Address { get; set; }

    /// <summary>Masquerade traffic from the bridge's subnets that leaves the host (-Nat:$false turns it off).</summary>
    [Parameter]
    public SwitchParameter Nat { get; set; }

    /// <summary>Guests on the bridge cannot reach each other (-Isolated:$false turns it off).</summary>
    [Parameter]
    public SwitchParameter Isolated { get; set; }

    /// <summary>Name servers for the guests; one of the bridge's own addresses is let through the host's shield for DNS.</summary>
    [Parameter]
    [AllowEmptyCollection]
    public string[]? DnsServer { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        Try(Name, () =>
        {
            var bridges = new VServer.Storage.BridgeStore(Store.Paths);
            var b = bridges.Read(Name) ?? new Bridge(VServer.Storage.BridgeStore.ValidName(Name));
            if (Address is not null)
            {
                b.Addresses = Address.Select(a => { Bridge.ParseCidr(a); return a; }).ToList();
            }
            if (MyInvocation.BoundParameters.ContainsKey(nameof(Nat)))
            {
                b.Nat = Nat.IsPresent;
            }
            if (MyInvocation.BoundParameters.ContainsKey(nameof(Isolated)))
            {
                b.Isolated = Isolated.IsPresent;
            }
            if (DnsServer is not null)
            {
                b.DnsServers = DnsServer.ToList();
            }
            var what = $"Set bridge: addresses {(b.Addresses.Count == 0 ? "none" : string.Join(", ", b.Addresses))}, NAT {(b.Nat ? "on" : "off")}, isolated {(b.Isolated ? "yes" : "no")}, DNS {(b.DnsServers.Count == 0 ? "none" : string.Join(", ", b.DnsServers))}";
            if (ShouldProcess(Name, what))
            {
                var result = BridgeManager.Set(Store, b, Reporter);
                if (PassThru)
                {
                    WriteObject(result);
                }
            }
        });
    }
}

/// <summary>Remove-VServerBridge: deletes a bridge's configuration and its host link; refused while a running guest is attached.</summary>
[Cmdlet(VerbsCommon.Remove, "VServerBridge", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveVServerBridgeCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    public string[] Name { get; set; } = Array.Empty<string>();

    protected override void ProcessRecord()
    {
        foreach (var n in Name)
        {
            Try(n, () =>
            {
                if (ShouldProcess(n, "Remove bridge: delete its host link and its configuration"))
                {
                    BridgeManager.Remove(Store, n);
                }
            });
        }
    }
}
