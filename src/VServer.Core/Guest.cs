using VServer.Config;

namespace VServer;

/// <summary>A guest as <c>Get-VServerGuest</c> shows it (type name <c>VServer.Guest</c>).</summary>
public sealed class Guest
{
    internal Guest(GuestConfig c, string configPath, string root, Runtime.GuestStatus status, IReadOnlyList<string>? pendingRestart = null)
    {
        PendingRestart = pendingRestart?.ToArray() ?? Array.Empty<string>();
        Name = c.Name;
        Context = c.Context;
        State = status.State;
        ProcessCount = status.ProcessCount;
        StartTime = status.StartTime;
        InitPid = status.InitPid;
        Hostname = c.Hostname ?? c.Name;
        Domainname = c.Domainname;
        Interfaces = c.Interfaces.ToArray();
        Addresses = c.Interfaces.Select(i => i.Cidr).ToArray();
        Root = root;
        Storage = c.Template is null ? VServer.Storage.Btrfs.KindOf(root) : VServer.Storage.StorageKind.Directory;
        ConfigPath = configPath;
        InitStyle = c.InitStyle;
        StartCommand = c.StartCommand is null ? null : CommandLine.Join(c.StartCommand);
        StopCommand = c.StopCommand is null ? null : CommandLine.Join(c.StopCommand);
        OnBoot = c.OnBoot;
        Flags = c.Flags.ToArray();
        Capabilities = c.Capabilities.ToArray();
        BoundingSet = Config.Capabilities.BoundingSet(c.Capabilities.Where(x => x.StartsWith("CAP_", StringComparison.Ordinal) || x.StartsWith("!CAP_", StringComparison.Ordinal))).ToArray();
        MemoryLimit = c.MemoryLimit;
        CpuLimit = c.CpuLimit;
        ProcessLimit = c.ProcessLimit ?? GuestConfig.DefaultProcessLimit;
        SwapLimit = c.SwapLimit;
        CpuWeight = c.CpuWeight ?? GuestConfig.DefaultCpuWeight;
        DiskLimit = c.DiskLimit;
        PrivateUsers = c.PrivateUsers is not null;
        UserRange = c.PrivateUsers;
        Nice = c.Nice;
        ResourceLimits = c.ResourceLimits.ToArray();
        Fstab = c.Fstab.ToArray();
        Template = c.Template;
        NetworkMode = c.EffectiveNetworkMode;
        Bridge = NetworkMode == global::VServer.NetworkMode.Bridge ? c.Bridge ?? GuestConfig.DefaultBridge : null;
        Publish = c.Publish.Select(p => p.ToString()).ToArray();
        DnsServers = c.DnsServers.ToArray();
    }

    public string Name { get; }
    public int? Context { get; }
    public GuestState State { get; }

    /// <summary>Processes in the guest's cgroup (0 when stopped).</summary>
    public int ProcessCount { get; }

    /// <summary>When the guest was started (null when stopped).</summary>
    public DateTimeOffset? StartTime { get; }

    /// <summary>Time since the start (null when stopped).</summary>
    public TimeSpan? Uptime => StartTime is DateTimeOffset t ? DateTimeOffset.UtcNow - t : null;

    /// <summary>
    /// Settings configured since the running guest started that it does not run with yet: they apply
    /// at its next start (Restart-VServerGuest). Empty for a stopped guest, and when every change applied live.
    /// </summary>
    public string[] PendingRestart { get; }

    /// <summary>Host pid of the guest's init (null when stopped).</summary>
    public int? InitPid { get; }
    public string Hostname { get; }
    public string? Domainname { get; }
    public string[] Addresses { get; }
    public InterfaceSpec[] Interfaces { get; }
    public string Root { get; }

    /// <summary>How the root is kept: a plain directory, or a btrfs subvolume of its own (a Clone of it is a snapshot).</summary>
    public VServer.Storage.StorageKind Storage { get; }

    /// <summary>Bytes the root may hold (a btrfs qgroup limit); null: none.</summary>
    public long? DiskLimit { get; }

    /// <summary>Whether the guest runs in a user namespace of its own (its root is not host root).</summary>
    public bool PrivateUsers { get; }

    /// <summary>The host uids and gids that are the guest's 0 … 65535 (null without private users).</summary>
    public IdRange? UserRange { get; }
    public string ConfigPath { get; }
    public InitStyle InitStyle { get; }
    public string? StartCommand { get; }
    public string? StopCommand { get; }
    public bool OnBoot { get; }
    public string[] Flags { get; }

    /// <summary>The configured adjustments (<c>bcapabilities</c>): <c>CAP_NET_RAW</c> adds, <c>!CAP_CHOWN</c> removes.</summary>
    public string[] Capabilities { get; }

    /// <summary>The capability bounding set the guest runs with: the secure default and the adjustments.</summary>
    public string[] BoundingSet { get; }

    /// <summary>Memory limit in bytes (cgroup memory.max); null when unlimited.</summary>
    public long? MemoryLimit { get; }

    /// <summary>Swap the guest may use beyond its memory limit, in bytes; null: none (memory and swap together stay within the memory limit).</summary>
    public long? SwapLimit { get; }

    /// <summary>CPU limit in cores (cgroup cpu.max); null when unlimited.</summary>
    public double? CpuLimit { get; }

    /// <summary>The guest's share of CPU time when guests compete (cgroup cpu.weight, v1 cpu.shares): 100 unless configured.</summary>
    public int CpuWeight { get; }

    /// <summary>Process limit (cgroup pids.max): the configured one, else <see cref="GuestConfig.DefaultProcessLimit"/> (16384). Every guest has one.</summary>
    public long ProcessLimit { get; }

    public int? Nice { get; }
    public ResourceLimit[] ResourceLimits { get; }
    public string[] Fstab { get; }

    /// <summary>For a guest built with -Method Template: the shared template its overlay root is layered on.</summary>
    public string? Template { get; }

    /// <summary>The network mode the guest runs with (configured, or Bridge with interfaces, else None).</summary>
    public NetworkMode NetworkMode { get; }

    /// <summary>The host bridge its interfaces join (Bridge mode only).</summary>
    public string? Bridge { get; }

    /// <summary>Host ports forwarded to the guest while it runs (hostaddress:hostport:guestport/protocol).</summary>
    public string[] Publish { get; }

    /// <summary>Name servers written into its /etc/resolv.conf at start; "none": its own file is kept; empty: the bridge's, else the host's.</summary>
    public string[] DnsServers { get; }

    public override string ToString() => Name;
}
