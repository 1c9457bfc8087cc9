namespace VServer;

/// <summary>How the guest's first process is run.</summary>
public enum InitStyle
{
    /// <summary>util-vserver's default: the start command (default <c>/etc/init.d/rc 3</c>) under a minimal pid 1.</summary>
    Sysv,

    /// <summary>The guest's own <c>/sbin/init</c> is pid 1.</summary>
    Plain,

    /// <summary>One command is pid 1.</summary>
    Command,

    /// <summary>
    /// Decided at each start from the guest's tree (read as data): Plain when its <c>/sbin/init</c>
    /// resolves to a program inside the root, else Sysv. The default for new guests.
    /// </summary>
    Auto,
}

/// <summary>What the guest's <c>/sbin/init</c> is, from where it resolves inside the root (never run on the host).</summary>
public enum InitKind
{
    /// <summary>No /sbin/init in the tree.</summary>
    None,

    /// <summary>systemd: needs /run, /run/lock and /tmp as tmpfs, its own writable cgroup, a console, SIGRTMIN+3 to stop.</summary>
    Systemd,

    /// <summary>busybox init.</summary>
    Busybox,

    /// <summary>Any other init (sysvinit, …).</summary>
    Other,
}

public enum BuildMethod
{
    Skeleton,
    Busybox,

    /// <summary>A copy of another guest's root or a directory: reflinked where the filesystem can, else a full copy.</summary>
    Clone,

    /// <summary>An overlayfs root whose read-only lower layer is a shared template directory.</summary>
    Template,

    /// <summary>A Debian or Ubuntu tree made by Debian's debootstrap.</summary>
    Debootstrap,

    /// <summary>A root filesystem tarball (.tar, .tar.gz, .tar.xz, .tar.zst), every member checked first.</summary>
    Archive,
}

/// <summary>How a guest is networked (<c>netmode</c> in its config directory).</summary>
public enum NetworkMode
{
    /// <summary>A veth pair per interface; the host end joins a host bridge (default vsbr0).</summary>
    Bridge,

    /// <summary>An ipvlan (L2) interface on the host device named in the interface spec.</summary>
    IPvlan,

    /// <summary>The host's own network stack (util-vserver's classic behaviour).</summary>
    Host,

    /// <summary>Loopback only.</summary>
    None,

    /// <summary>A macvlan (bridge mode) interface on the host device named in the interface spec: an address on the host's own LAN, with a MAC of its own.</summary>
    Macvlan,
}

public enum GuestState
{
    Stopped,
    Running,
}

/// <summary>
/// A guest's configuration as held in its util-vserver configuration directory. Values are
/// normalised and validated when they are set from user input (see <see cref="Config.GuestSettings"/>).
/// </summary>
public sealed class GuestConfig
{
    public GuestConfig(string name) => Name = name;

    public string Name { get; set; }
    public int? Context { get; set; }
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public List<InterfaceSpec> Interfaces { get; set; } = new();
    public List<string> Flags { get; set; } = new();
    public List<string> Capabilities { get; set; } = new();
    public InitStyle InitStyle { get; set; } = InitStyle.Sysv;
    public IReadOnlyList<string>? StartCommand { get; set; }
    public IReadOnlyList<string>? StopCommand { get; set; }
    public long? MemoryLimit { get; set; }
    public double? CpuLimit { get; set; }
    public long? ProcessLimit { get; set; }

    /// <summary>Swap the guest may use beyond <see cref="MemoryLimit"/>, in bytes (cgroup/memory.swap.max); null: none.</summary>
    public long? SwapLimit { get; set; }

    /// <summary>The guest's share of CPU time against other guests, 1 … 10000 (cgroup/cpu.weight); null: 100.</summary>
    public int? CpuWeight { get; set; }

    /// <summary>
    /// Bytes the guest's root may hold (util-vserver's <c>dlimits/*/space_total</c>, in KiB there):
    /// a btrfs qgroup limit on the root's subvolume. Null: no limit.
    /// </summary>
    public long? DiskLimit { get; set; }

    /// <summary>
    /// Private users: the guest runs in a user namespace of its own, its root being the first host
    /// uid of this range (file <c>private-users</c>). Null: the guest's root is host root.
    /// </summary>
    public IdRange? PrivateUsers { get; set; }

    /// <summary>The process limit of a guest that sets none (systemd-nspawn's default): a fork bomb stays in its guest.</summary>
    public const long DefaultProcessLimit = 16384;

    /// <summary>The CPU weight of a guest that sets none: cgroup v2's and systemd's default share (v1 cpu.shares 1024).</summary>
    public const int DefaultCpuWeight = 100;
    public int? Nice { get; set; }
    public List<ResourceLimit> ResourceLimits { get; set; } = new();
    public bool OnBoot { get; set; }

    /// <summary>util-vserver's <c>apps/init/mark</c> as written ("default" is OnBoot); null: none. Read only: OnBoot writes it.</summary>
    public string? Mark { get; set; }

    /// <summary>util-vserver's <c>apps/init/depends</c>: guests that start before this one at a marked start (Start-VServerGuest -OnBoot).</summary>
    public List<string> Depends { get; set; } = new();

    /// <summary>The guest's root directory (the <c>vdir</c> link). Null means the default under the vdir root.</summary>
    public string? Root { get; set; }

    /// <summary>The <c>fstab</c> lines, kept as written.</summary>
    public List<string> Fstab { get; set; } = new();

    /// <summary>The network mode as configured; null: Bridge when the guest has interfaces, else None.</summary>
    public NetworkMode? NetworkMode { get; set; }

    /// <summary>Name servers for the guest's /etc/resolv.conf (<c>dns</c>); "none": leave the guest's own file alone; empty: the bridge's, else the host's.</summary>
    public List<string> DnsServers { get; set; } = new();

    /// <summary>Ports of the host forwarded to the guest while it runs (<c>publish</c>, Bridge mode).</summary>
    public List<PortMapping> Publish { get; set; } = new();

    /// <summary>The host bridge of Bridge mode (<c>netbridge</c>); null: <see cref="DefaultBridge"/>.</summary>
    public string? Bridge { get; set; }

    public const string DefaultBridge = "vsbr0";

    /// <summary>The mode the guest runs with.</summary>
    public NetworkMode EffectiveNetworkMode => NetworkMode ?? (Interfaces.Count > 0 ? global::VServer.NetworkMode.Bridge : global::VServer.NetworkMode.None);

    /// <summary>
    /// The init style as util-vserver wrote it when VServer runs it as its nearest equivalent
    /// (gentoo, arch, minit → Plain; fedora, redhat → Sysv with <c>/etc/rc.d/rc 3</c>); null otherwise.
    /// </summary>
    public string? InitStyleAsWritten { get; set; }

    /// <summary>The runlevel the Sysv style's rc script is given (<c>apps/init/runlevel</c>); null: 3.</summary>
    public string? Runlevel { get; set; }

    /// <summary>Extra environment of the guest's init (<c>apps/init/environment</c>, NAME=value lines).</summary>
    public List<string> InitEnvironment { get; set; } = new();

    /// <summary>The command <c>enter</c> runs (util-vserver's <c>shell</c> file); null: /bin/sh.</summary>
    public string? Shell { get; set; }

    /// <summary>Namespaced kernel settings (util-vserver's <c>sysctl/N/{setting,value}</c>), setting → value.</summary>
    public SortedDictionary<string, string> Sysctls { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Files of the configuration directory that VServer reads but does not apply, each with why:
    /// named in a warning at every start, never silently ignored.
    /// </summary>
    public List<string> NotApplied { get; set; } = new();

    /// <summary>For a Template guest: the shared lower layer of its overlayfs root (the <c>template</c> file).</summary>
    public string? Template { get; set; }

    public GuestConfig Clone()
    {
        var c = (GuestConfig)MemberwiseClone();
        c.Interfaces = new(Interfaces);
        c.Flags = new(Flags);
        c.Capabilities = new(Capabilities);
        c.ResourceLimits = new(ResourceLimits);
        c.Fstab = new(Fstab);
        c.Sysctls = new(Sysctls, StringComparer.Ordinal);
        c.Publish = new(Publish);
        c.DnsServers = new(DnsServers);
        c.NotApplied = new(NotApplied);
        c.Depends = new(Depends);
        c.InitEnvironment = new(InitEnvironment);
        return c;
    }

    /// <summary>Cross-field checks that hold for any configuration we write.</summary>
    public void CheckConsistency()
    {
        Config.Validate.ExistingGuestName(Name);
        if (Context is int xid)
        {
            Config.Validate.Context(xid);
        }
        if (SwapLimit is not null && MemoryLimit is null)
        {
            throw new VServerException("SwapLimitWithoutMemoryLimit", ErrorKind.InvalidArgument,
                $"Guest '{Name}' has a swap limit but no memory limit: swap is limited beyond a memory limit (give -MemoryLimit too).", Name);
        }
        if (InitStyle == InitStyle.Command && (StartCommand is null || StartCommand.Count == 0))
        {
            throw new VServerException("MissingStartCommand", ErrorKind.InvalidArgument,
                $"Guest '{Name}' has init style Command but no start command: give -StartCommand.", Name);
        }
        var dup = Interfaces.GroupBy(i => i.Address).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new VServerException("InvalidInterface", ErrorKind.InvalidArgument,
                $"The address {dup.Key} is given more than once for guest '{Name}'.", dup.Key.ToString());
        }
        var clash = Publish.SelectMany((p, i) => Publish.Skip(i + 1).Where(q => q.Clashes(p)).Select(q => (p, q))).FirstOrDefault();
        if (clash.p is not null)
        {
            throw new VServerException("InvalidPublish", ErrorKind.InvalidArgument,
                $"Guest '{Name}' publishes host port {clash.p.HostPort}/{clash.p.Protocol} twice ({clash.p}, {clash.q}).", clash.q.ToString());
        }
        if (Publish.Count > 0 && NetworkMode is not (null or global::VServer.NetworkMode.Bridge))
        {
            throw new VServerException("InvalidPublish", ErrorKind.InvalidArgument,
                $"Guest '{Name}' publishes ports, which needs the Bridge network mode (its mode is {NetworkMode}).", Name);
        }
        if (Root is not null && (!Path.IsPathRooted(Root) || Path.GetFullPath(Root).TrimEnd('/').Length == 0))
        {
            throw new VServerException("InvalidRoot", ErrorKind.InvalidArgument,
                $"The root directory '{Root}' must be an absolute path other than '/'.", Root);
        }
    }
}
