using System.Collections;
using System.Management.Automation;
using VServer.Config;

namespace VServer.Commands;

/// <summary>
/// The guest settings New-VServerGuest and Set-VServerGuest share, and their translation to Core.
/// They do not bind from the pipeline: a piped VServer.Guest would otherwise feed its own current
/// values (null ones included) back as changes.
/// </summary>
public abstract class GuestSettingsCmdlet : VServerCmdlet
{
    [Parameter]
    public int Context { get; set; }

    [Parameter]
    [AllowEmptyString]
    public string? Hostname { get; set; }

    [Parameter]
    [AllowEmptyString]
    public string? Domainname { get; set; }

    [Parameter]
    [AllowEmptyString]
    [AllowEmptyCollection]
    public string[]? Interface { get; set; }

    [Parameter]
    [AllowEmptyString]
    [AllowEmptyCollection]
    [ArgumentCompleter(typeof(FlagCompleter))]
    public string[]? Flag { get; set; }

    [Parameter]
    [AllowEmptyString]
    [AllowEmptyCollection]
    [ArgumentCompleter(typeof(CapabilityCompleter))]
    public string[]? Capability { get; set; }

    [Parameter]
    public InitStyle InitStyle { get; set; }

    /// <summary>Bridge, IPvlan, Macvlan, Host or None; by default Bridge when the guest has interfaces, else None.</summary>
    [Parameter]
    public NetworkMode NetworkMode { get; set; }

    /// <summary>The host bridge for Bridge mode (default vsbr0, made on first use).</summary>
    [Parameter]
    public string? Bridge { get; set; }

    /// <summary>Host ports forwarded to the guest while it runs: [hostaddress:]hostport:guestport[/tcp|udp]; replaces the list.</summary>
    [Parameter]
    [AllowEmptyCollection]
    public string[]? Publish { get; set; }

    /// <summary>Name servers for the guest's /etc/resolv.conf, written at each start; None keeps the guest's own file.</summary>
    [Parameter]
    [AllowEmptyCollection]
    public string[]? DnsServer { get; set; }

    [Parameter]
    [AllowEmptyString]
    public string? StartCommand { get; set; }

    [Parameter]
    [AllowEmptyString]
    public string? StopCommand { get; set; }

    [Parameter]
    public long MemoryLimit { get; set; }

    /// <summary>Swap beyond -MemoryLimit, in bytes (0: none, the default).</summary>
    [Parameter]
    public long SwapLimit { get; set; }

    [Parameter]
    public double CpuLimit { get; set; }

    /// <summary>The guest's share of CPU time against other guests, 1 to 10000 (100: the default).</summary>
    [Parameter]
    public int CpuWeight { get; set; }

    [Parameter]
    public long ProcessLimit { get; set; }

    /// <summary>Bytes the guest's root may hold: a btrfs qgroup limit (util-vserver's dlimits); refused where the root is no btrfs subvolume.</summary>
    [Parameter]
    public long DiskLimit { get; set; }

    [Parameter]
    public int Nice { get; set; }

    [Parameter]
    public Hashtable? ResourceLimit { get; set; }

    [Parameter]
    public SwitchParameter OnBoot { get; set; }

    /// <summary>A user namespace of the guest's own: its root is an unprivileged host uid of a range VServer hands out (-PrivateUsers:$false: host root again).</summary>
    [Parameter]
    public SwitchParameter PrivateUsers { get; set; }

    private bool Given(string name) => MyInvocation.BoundParameters.ContainsKey(name);

    /// <summary>The settings the user gave (unbound parameters stay null).</summary>
    protected GuestSettings GivenSettings() => new()
    {
        Context = Given(nameof(Context)) ? Context : null,
        Hostname = Given(nameof(Hostname)) ? Hostname ?? "" : null,
        Domainname = Given(nameof(Domainname)) ? Domainname ?? "" : null,
        Interfaces = Given(nameof(Interface)) ? Interface ?? Array.Empty<string>() : null,
        Flags = Given(nameof(Flag)) ? Flag ?? Array.Empty<string>() : null,
        Capabilities = Given(nameof(Capability)) ? Capability ?? Array.Empty<string>() : null,
        InitStyle = Given(nameof(InitStyle)) ? InitStyle : null,
        StartCommand = Given(nameof(StartCommand)) ? StartCommand ?? "" : null,
        StopCommand = Given(nameof(StopCommand)) ? StopCommand ?? "" : null,
        MemoryLimit = Given(nameof(MemoryLimit)) ? MemoryLimit : null,
        CpuLimit = Given(nameof(CpuLimit)) ? CpuLimit : null,
        SwapLimit = Given(nameof(SwapLimit)) ? SwapLimit : null,
        CpuWeight = Given(nameof(CpuWeight)) ? CpuWeight : null,
        ProcessLimit = Given(nameof(ProcessLimit)) ? ProcessLimit : null,
        DiskLimit = Given(nameof(DiskLimit)) ? DiskLimit : null,
        Nice = Given(nameof(Nice)) ? Nice : null,
        ResourceLimits = Given(nameof(ResourceLimit)) ? Unwrap(ResourceLimit) : null,
        OnBoot = Given(nameof(OnBoot)) ? OnBoot.IsPresent : null,
        PrivateUsers = Given(nameof(PrivateUsers)) ? PrivateUsers.IsPresent : null,
        NetworkMode = Given(nameof(NetworkMode)) ? NetworkMode : null,
        Bridge = Given(nameof(Bridge)) ? Bridge ?? "" : null,
        Publish = Given(nameof(Publish)) ? Publish ?? Array.Empty<string>() : null,
        DnsServer = Given(nameof(DnsServer)) ? DnsServer ?? Array.Empty<string>() : null,
    };

    /// <summary>Hashtable values arrive wrapped in PSObjects; Core wants plain values.</summary>
    private static Hashtable Unwrap(Hashtable? table)
    {
        var result = new Hashtable(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry e in table ?? new Hashtable())
        {
            var v = e.Value is PSObject pso ? pso.BaseObject : e.Value;
            result[e.Key] = v is Hashtable inner ? Unwrap(inner) : v;
        }
        return result;
    }
}
