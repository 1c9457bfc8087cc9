using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using VServer.Config;

namespace VServer.Runtime;

/// <summary>What the bundle needs to know about this host and this start, besides the guest's configuration.</summary>
public sealed record BundleOptions
{
    /// <summary>The guest's root directory on the host.</summary>
    public required string RootPath { get; init; }

    /// <summary>
    /// The cgroup path the runtime creates for the guest and makes its cgroup namespace's root, e.g.
    /// <c>/vserver/web1/payload</c>. Its limits live one level up (<see cref="Cgroups.LimitsOf"/>),
    /// where the guest cannot see them.
    /// </summary>
    public required string CgroupsPath { get; init; }

    /// <summary>Host path of the minimal pid 1 (tini-static) for the Sysv init style.</summary>
    public string? InitHelper { get; init; }

    /// <summary>Whether the runtime knows the time namespace (for the virt_uptime flag).</summary>
    public bool TimeNamespace { get; init; }

    public Architecture Architecture { get; init; } = RuntimeInformation.OSArchitecture;

    /// <summary>
    /// The network namespace the guest joins (VServer made and named it, e.g. /run/netns/vs-web1);
    /// null with <see cref="HostNetwork"/> false: a new, empty one.
    /// </summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>Host mode: no network namespace, the guest shares the host's stack.</summary>
    public bool HostNetwork { get; init; }

    /// <summary>The overlay VServer mounted on a Template guest's root for this start (an annotation, so a lost run directory can be rebuilt).</summary>
    public string? RootMount { get; init; }

    /// <summary>The mount point of the lxcfs that gives the guest its own /proc/meminfo, uptime, load and CPUs (<see cref="GuestProcView"/>); null: the kernel's.</summary>
    public string? ProcView { get; init; }

    /// <summary>Which of <see cref="GuestProcView.Files"/> that lxcfs serves (<see cref="GuestProcView.FilesServed"/>); null: each is looked up at <see cref="ProcView"/>.</summary>
    public IReadOnlyList<string>? ProcViewFiles { get; init; }

    /// <summary>What the guest's /sbin/init resolves to inside its root (read as data at this start).</summary>
    public InitKind InitKind { get; init; } = InitKind.Other;

    /// <summary>
    /// Private users: the host ids that are the guest's 0 … Count-1, and the user namespace the
    /// runtime joins (VServer made it with that mapping: <see cref="GuestUsers"/>). <see cref="RootPath"/>
    /// is then the idmapped mount of the guest's root.
    /// </summary>
    public IdRange? Users { get; init; }

    /// <summary>The pinned user namespace of a private-users guest (a path the runtime opens).</summary>
    public string? UserNamespace { get; init; }
}

/// <summary>
/// The one place a guest's configuration becomes an OCI runtime bundle (<c>config.json</c>,
/// runtime-spec 1.0): namespaces, the capability sets, masked and read-only kernel paths, the
/// device allowlist, rlimits, cgroup limits, fstab mounts and the seccomp filter.
/// </summary>
public static class OciBundle
{
    /// <summary>Where the Sysv style's minimal pid 1 appears inside the guest (on the runtime's /dev tmpfs, so nothing is written into the guest's tree).</summary>
    public const string InitHelperTarget = "/dev/.vserver-init";

    public const string DefaultSysvStart = "/etc/init.d/rc 3";
    public const string DefaultSysvStop = "/etc/init.d/rc 6";

    public static readonly IReadOnlyList<string> MaskedPaths = new[]
    {
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    };

    public static readonly IReadOnlyList<string> ReadonlyPaths = new[]
    {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    };

    /// <summary>Character devices a guest may use: null, zero, full, random, urandom, tty, console, ptmx and its pseudo-terminals.</summary>
    public static readonly IReadOnlyList<(int Major, int? Minor)> AllowedDevices = new (int, int?)[]
    {
        (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, null),
    };

    /// <summary>SIGRTMIN+3: what systemd takes as "halt" (SIGINT would be ctrl-alt-del, a reboot).</summary>
    public const int SystemdStopSignal = 34 + 3;

    /// <summary>The configuration with <see cref="InitStyle.Auto"/> decided from the tree: Plain when /sbin/init leads to a program, else Sysv.</summary>
    public static GuestConfig Effective(GuestConfig c, InitKind kind)
    {
        if (c.InitStyle != InitStyle.Auto)
        {
            return c;
        }
        var e = c.Clone();
        e.InitStyle = kind == InitKind.None ? InitStyle.Sysv : InitStyle.Plain;
        return e;
    }

    /// <summary>Whether this start runs systemd as the guest's pid 1.</summary>
    public static bool IsSystemd(GuestConfig c, InitKind kind) => c.InitStyle == InitStyle.Plain && kind == InitKind.Systemd;

    /// <summary>The process a guest starts with, by init style.</summary>
    public static IReadOnlyList<string> InitArgs(GuestConfig c)
    {
        switch (c.InitStyle)
        {
            case InitStyle.Plain:
                return new[] { "/sbin/init" };
            case InitStyle.Command:
                return c.StartCommand ?? throw new VServerException("MissingStartCommand", ErrorKind.InvalidData,
                    $"Guest '{c.Name}' has init style Command but no start command.", c.Name);
            default:
                // A minimal pid 1 reaps and forwards signals; its child runs the rc command and then
                // keeps the guest alive, as util-vserver's context lives while it has processes.
                var start = c.StartCommand ?? SysvRc(c, c.Runlevel ?? "3");
                var args = new List<string> { InitHelperTarget, "-g", "--", "/bin/sh", "-c", "\"$@\"; exec sleep infinity", "vserver-rc" };
                args.AddRange(start);
                return args;
        }
    }

    /// <summary>The command a stop runs inside the guest before signalling its init; null when the style only signals.</summary>
    public static IReadOnlyList<string>? StopCommand(GuestConfig c) =>
        c.StopCommand ?? (c.InitStyle == InitStyle.Sysv ? SysvRc(c, "6") : null);

    /// <summary>The rc script of the Sysv style with a runlevel: Debian's <c>/etc/init.d/rc</c>, or <c>/etc/rc.d/rc</c> for util-vserver's fedora and redhat styles.</summary>
    private static IReadOnlyList<string> SysvRc(GuestConfig c, string level) =>
        new[] { c.InitStyleAsWritten is "fedora" or "redhat" ? "/etc/rc.d/rc" : "/etc/init.d/rc", level };

    /// <summary>Kernel settings a guest may set for itself: those of its own IPC and network namespaces.</summary>
    public static bool IsNamespacedSysctl(string key, bool hostNetwork) =>
        key is "kernel.msgmax" or "kernel.msgmnb" or "kernel.msgmni" or "kernel.sem" or "kernel.shmall" or "kernel.shmmax" or "kernel.shmmni" or "kernel.shm_rmid_forced"
        || key.StartsWith("fs.mqueue.", StringComparison.Ordinal)
        || (!hostNetwork && key.StartsWith("net.", StringComparison.Ordinal));

    /// <summary>SIGUSR1: what busybox init takes as "halt" (LXC's busybox template stops it so too).</summary>
    public const int BusyboxStopSignal = 10;

    /// <summary>
    /// The signal a stop sends to the guest's init: SIGRTMIN+3 to systemd (halt), SIGUSR1 to busybox
    /// init (halt: a second sooner than its ctrl-alt-del action, which runs poweroff), SIGINT to
    /// another distribution init (util-vserver's), SIGTERM otherwise.
    /// </summary>
    public static int StopSignal(GuestConfig c, InitKind kind = InitKind.Other) =>
        IsSystemd(c, kind) ? SystemdStopSignal
        : c.InitStyle == InitStyle.Plain && kind == InitKind.Busybox ? BusyboxStopSignal
        : c.InitStyle == InitStyle.Plain ? 2 : 15;

    /// <summary>Checks the parts of a configuration only a start gives meaning to (flags and capabilities read from disk are kept as data until then).</summary>
    public static void CheckStartable(GuestConfig c)
    {
        c.CheckConsistency();
        foreach (var f in c.Flags)
        {
            if (!GuestFlags.Known.ContainsKey(f))
            {
                throw new VServerException("UnsupportedFlag", ErrorKind.InvalidData,
                    $"Guest '{c.Name}' has the flag '{f}', which VServer cannot honour on this kernel. Known flags: {string.Join(", ", GuestFlags.Known.Keys)}. Remove it with Set-VServerGuest -Flags.", f);
            }
        }
        foreach (var key in c.Sysctls.Keys)
        {
            if (!IsNamespacedSysctl(key, c.EffectiveNetworkMode == NetworkMode.Host) || key.Contains('/') || key.Contains(".."))
            {
                throw new VServerException("SysctlNotNamespaced", ErrorKind.InvalidData,
                    $"Guest '{c.Name}' sets the kernel setting '{key}' (sysctl/), which is not its own: it would change the host. A guest may set net.* (not in Host network mode), kernel.msg*, kernel.sem, kernel.shm* and fs.mqueue.*.", key);
            }
        }
        foreach (var cap in c.Capabilities)
        {
            Capabilities.Normalize(cap);
        }
        FstabEntry.ParseAll(c.Fstab, c.Name);
    }

    public static JsonObject Generate(GuestConfig c, BundleOptions o, IOperationReporter? reporter = null)
    {
        reporter ??= NullReporter.Instance;
        c = Effective(c, o.InitKind);
        CheckStartable(c);
        var flags = new HashSet<string>(c.Flags, StringComparer.Ordinal);
        var caps = Capabilities.BoundingSet(c.Capabilities.Select(Capabilities.Normalize)).ToArray();
        // with private users a capability is the guest's user namespace's: none of them is the host's
        foreach (var cap in o.Users is null ? caps.Where(Capabilities.HostTakeoverRisks.ContainsKey) : Enumerable.Empty<string>())
        {
            // -Capability replaces the whole list: the fix keeps the guest's other adjustments
            var rest = Capabilities.NormalizeAll(c.Capabilities).Where(x => x != cap).ToArray();
            var fix = rest.Length == 0 ? $"Set-VServerGuest {c.Name} -Clear Capability" : $"Set-VServerGuest {c.Name} -Capability {string.Join(',', rest.Select(x => "'" + x + "'"))}";
            reporter.Warning($"Guest '{c.Name}' holds {cap}, and its root is host root: {Capabilities.HostTakeoverRisks[cap]}. " +
                $"Remove it ({fix}) unless the guest is trusted; private users (user namespaces) will make it safe.");
        }

        var process = new JsonObject
        {
            // systemd writes its boot and shutdown status to /dev/console, which the runtime makes
            // only for a terminal: conmon holds the pty and copies it into console.log
            ["terminal"] = IsSystemd(c, o.InitKind),
            ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
            ["args"] = Array(InitArgs(c)),
            ["env"] = Array(new[] { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=vserver", "HOME=/root", "TERM=linux" }
                .Where(e => !c.InitEnvironment.Any(x => x.Split('=')[0] == e.Split('=')[0])).Concat(c.InitEnvironment)),
            ["cwd"] = "/",
            ["capabilities"] = new JsonObject
            {
                ["bounding"] = Array(caps),
                ["effective"] = Array(caps),
                ["permitted"] = Array(caps),
                ["inheritable"] = new JsonArray(),
                ["ambient"] = new JsonArray(),
            },
            ["rlimits"] = Rlimits(c, flags),
            ["noNewPrivileges"] = false,
        };

        var namespaces = new JsonArray();
        foreach (var ns in new[] { "pid", "ipc", "uts", "mount", "network", "cgroup" })
        {
            if (ns == "network" && o.HostNetwork)
            {
                continue;
            }
            namespaces.Add((JsonNode)(ns == "network" && o.NetworkNamespace is string path
                ? new JsonObject { ["type"] = ns, ["path"] = path }
                : new JsonObject { ["type"] = ns }));
        }
        if (o.Users is not null)
        {
            namespaces.Add((JsonNode)(o.UserNamespace is string userns
                ? new JsonObject { ["type"] = "user", ["path"] = userns }
                : new JsonObject { ["type"] = "user" }));
        }
        if (flags.Contains("virt_uptime"))
        {
            if (o.TimeNamespace)
            {
                namespaces.Add((JsonNode)new JsonObject { ["type"] = "time" });
            }
            else
            {
                reporter.Warning($"Guest '{c.Name}' has the virt_uptime flag, but the OCI runtime here has no time namespace: the guest sees the host's uptime.");
            }
        }

        var linux = new JsonObject
        {
            ["namespaces"] = namespaces,
            ["cgroupsPath"] = o.CgroupsPath,
            ["resources"] = Resources(),
            ["maskedPaths"] = Array(MaskedPaths),
            ["readonlyPaths"] = Array(ReadonlyPaths),
            ["seccomp"] = SeccompProfile.Generate(caps, flags, o.Architecture),
            ["rootfsPropagation"] = "private",
        };
        if (o.Users is IdRange users)
        {
            JsonArray Map() => new((JsonNode)new JsonObject { ["containerID"] = 0, ["hostID"] = users.First, ["size"] = users.Count });
            linux["uidMappings"] = Map();
            linux["gidMappings"] = Map();
        }
        var sysctls = new SortedDictionary<string, string>(c.Sysctls, StringComparer.Ordinal);
        if (!o.HostNetwork)
        {
            // ICMP echo sockets for every user of the guest, as Docker does: ping without NET_RAW (iputils')
            // (the guest's own gids with private users: a range the kernel can map)
            sysctls.TryAdd("net.ipv4.ping_group_range", o.Users is IdRange u ? "0 " + (u.Count - 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : "0 2147483647");
        }
        if (c.Domainname is not null)
        {
            // runc (1.1) takes "domainname" from the bundle but does not set it: the UTS namespace's own sysctl does
            sysctls["kernel.domainname"] = c.Domainname;
        }
        if (sysctls.Count > 0)
        {
            var sysctl = new JsonObject();
            foreach (var (k, v) in sysctls)
            {
                sysctl[k] = v;
            }
            linux["sysctl"] = sysctl;
        }

        var config = new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = process,
            ["root"] = new JsonObject { ["path"] = o.RootPath, ["readonly"] = false },
            ["hostname"] = c.Hostname ?? c.Name,
            ["mounts"] = Mounts(c, o),
            ["linux"] = linux,
            ["annotations"] = new JsonObject
            {
                ["org.vserver.name"] = c.Name,
                ["org.vserver.context"] = c.Context?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
                ["org.vserver.initstyle"] = LiveSettings.Name(c.InitStyle),
                ["org.vserver.rootmount"] = o.RootMount ?? "",
                ["org.vserver.stopsignal"] = StopSignal(c, o.InitKind).ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };
        if (c.Domainname is not null)
        {
            config["domainname"] = c.Domainname;
        }
        return config;
    }

    /// <summary>
    /// The process of a command run in the guest (an exec, an attach, the exec records): a copy of
    /// the bundle's process (<paramref name="bundleProcess"/>, as generated or read from config.json)
    /// with the command's arguments, a terminal or none, and no console size of the guest's own.
    /// </summary>
    public static JsonObject ExecProcess(JsonNode bundleProcess, IEnumerable<string> args, bool terminal = false)
    {
        var process = bundleProcess.DeepClone().AsObject();
        process["args"] = new JsonArray(args.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        process["terminal"] = terminal;
        process.Remove("consoleSize");
        return process;
    }

    public static string Serialize(JsonObject config) => System.Text.Encoding.UTF8.GetString(SerializeUtf8(config));

    /// <summary>config.json's bytes, written straight as UTF-8 (not a string first, then its bytes).</summary>
    public static byte[] SerializeUtf8(JsonObject config)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(16 * 1024);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            config.WriteTo(writer);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static JsonArray Array(IEnumerable<string> items) => new(items.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());

    private static JsonArray Rlimits(GuestConfig c, HashSet<string> flags)
    {
        var list = new JsonArray();
        foreach (var r in c.ResourceLimits)
        {
            // With the nproc flag the limit becomes the guest's pids limit: RLIMIT_NPROC counts per
            // user across the whole host, so it would count the host's root processes too.
            if (r.Resource == "nproc" && flags.Contains("nproc"))
            {
                continue;
            }
            var soft = r.Soft ?? r.Hard;
            var hard = r.Hard ?? r.Soft;
            if (soft is null || hard is null)
            {
                continue;
            }
            list.Add((JsonNode)new JsonObject { ["type"] = "RLIMIT_" + r.Resource.ToUpperInvariant(), ["hard"] = hard.Value, ["soft"] = soft.Value });
        }
        return list;
    }

    /// <summary>The runtime's resources: only the device allowlist. Memory, CPU and process limits are <see cref="Limits"/>.</summary>
    private static JsonObject Resources()
    {
        var devices = new JsonArray((JsonNode)new JsonObject { ["allow"] = false, ["access"] = "rwm" });
        foreach (var (major, minor) in AllowedDevices)
        {
            var d = new JsonObject { ["allow"] = true, ["type"] = "c", ["major"] = major, ["access"] = "rwm" };
            if (minor is int m)
            {
                d["minor"] = m;
            }
            devices.Add((JsonNode)d);
        }
        return new JsonObject { ["devices"] = devices };
    }

    /// <summary>
    /// The guest's cgroup limits, which VServer writes on the cgroup above the one the runtime makes
    /// (the guest's cgroup namespace root), so a guest that mounts its hierarchy finds no limit file
    /// it could write. Every guest has a process limit (<see cref="GuestConfig.DefaultProcessLimit"/>
    /// unless configured): one fork bomb must not take every pid of the host.
    /// </summary>
    public static CgroupLimits Limits(GuestConfig c, bool swapLimit)
    {
        var flags = new HashSet<string>(c.Flags, StringComparer.Ordinal);
        long pids = c.ProcessLimit ?? GuestConfig.DefaultProcessLimit;
        if (flags.Contains("nproc") && c.ResourceLimits.FirstOrDefault(r => r.Resource == "nproc") is { } nproc
            && (nproc.Hard ?? nproc.Soft) is ulong n && n != ResourceLimit.Unlimited)
        {
            pids = Math.Min(pids, (long)Math.Min(n, long.MaxValue));
        }
        const long period = 100_000;
        return new CgroupLimits
        {
            Memory = c.MemoryLimit,
            // memory+swap: the limit cannot be escaped into swap beyond the swap limit (none unless configured)
            MemoryAndSwap = swapLimit && c.MemoryLimit is long mem ? mem + (c.SwapLimit ?? 0) : null,
            CpuWeight = c.CpuWeight,
            CpuQuota = c.CpuLimit is double cpu ? (long)Math.Round(cpu * period) : null,
            CpuPeriod = period,
            Pids = pids,
        };
    }

    private static JsonArray Mounts(GuestConfig c, BundleOptions o)
    {
        var mounts = new List<JsonObject>
        {
            Mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
            Mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            // systemd manages its own cgroup subtree: writable, and only the payload's (limits sit above it)
            Mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", IsSystemd(c, o.InitKind) ? "rw" : "ro"),
        };
        if (IsSystemd(c, o.InitKind))
        {
            // what systemd mounts itself on a host and cannot in a guest without CAP_SYS_ADMIN
            mounts.Add(Mount("/run", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=755", "size=20%"));
            mounts.Add(Mount("/run/lock", "tmpfs", "tmpfs", "nosuid", "nodev", "noexec", "mode=1777", "size=5m"));
            mounts.Add(Mount("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777", "size=20%"));
        }
        if (c.InitStyle == InitStyle.Sysv)
        {
            var helper = o.InitHelper ?? throw new VServerException("InitHelperNotFound", ErrorKind.NotInstalled,
                $"Guest '{c.Name}' uses the Sysv init style, which needs the tini-static binary (Debian package 'tini').", c.Name);
            mounts.Add(Mount(InitHelperTarget, "bind", helper, "bind", "ro", "nosuid", "nodev"));
        }
        if (o.ProcView is string view)
        {
            // lxcfs's files over the kernel's: bound after /proc and /sys, before fstab (a line there at the same place wins)
            foreach (var f in o.ProcViewFiles ?? GuestProcView.LookUp(view))
            {
                mounts.Add(Mount("/" + f, "bind", Path.Combine(view, f), "bind", "ro", "nosuid", "nodev", "noexec"));
            }
        }
        foreach (var e in FstabEntry.ParseAll(c.Fstab, c.Name))
        {
            if (e.Target == InitHelperTarget)
            {
                continue;
            }
            mounts.RemoveAll(m => (string?)m["destination"] == e.Target); // an fstab line replaces a default at the same place
            mounts.Add(Mount(e.Target, e.Type, e.Source, e.Options.ToArray()));
        }
        return new JsonArray(mounts.Select(m => (JsonNode?)m).ToArray());
    }

    private static JsonObject Mount(string destination, string type, string source, params string[] options) => new()
    {
        ["destination"] = destination,
        ["type"] = type,
        ["source"] = source,
        ["options"] = Array(options),
    };
}
