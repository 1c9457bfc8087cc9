namespace VServer.Config;

/// <summary>
/// Linux capability names and the guest's bounding-set adjustments (util-vserver's
/// <c>bcapabilities</c>: <c>CAP_NET_RAW</c> adds, <c>!CAP_CHOWN</c> removes).
/// </summary>
public static class Capabilities
{
    /// <summary>Every capability the kernel defines, by number (capability.h).</summary>
    public static readonly IReadOnlyList<string> All = new[]
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    };

    private static readonly HashSet<string> Known = new(All, StringComparer.Ordinal);

    /// <summary>
    /// util-vserver's <c>--secure</c> set less CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, plus SYS_BOOT so
    /// reboot and halt work inside a guest (a PID namespace turns them into signals to the guest's
    /// init; kexec is refused by seccomp). Without Linux-VServer's kernel checks and without a user
    /// namespace, the two left out give a guest's root the host: SYS_PTRACE lets it attach to the
    /// process that enters the guest for an exec (vserver-ns's attach or the runtime's init: it holds
    /// the host's full capability set until it becomes the command), DAC_READ_SEARCH lets it open
    /// host files by handle. Docker's and
    /// Podman's defaults leave both out too. SETPCAP is added (as in Docker's default): it only lets a
    /// process narrow its own bounding set, which systemd does for every service it starts
    /// (CapabilityBoundingSet=), and without which those services fail with 218/CAPABILITIES.
    /// </summary>
    public static readonly IReadOnlyList<string> SecureDefault = new[]
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_SYS_TTY_CONFIG", "CAP_LEASE", "CAP_SETFCAP", "CAP_AUDIT_WRITE", "CAP_SYS_BOOT",
    };

    /// <summary>
    /// Capabilities that hand the host to a guest whose root is host root (no private users), with
    /// the way each does it: a start that grants one of them warns.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> HostTakeoverRisks = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["CAP_SYS_PTRACE"] = "it can attach to the runtime's process that enters the guest on every exec, enter or Sysv stop, which holds the host's full capability set, and take over the host",
        ["CAP_DAC_READ_SEARCH"] = "it can open any host file on the guest's filesystem by file handle (open_by_handle_at is refused by seccomp, but a process that exec hands over before its filter is installed is not)",
        ["CAP_SYS_ADMIN"] = "it can mount, create namespaces and reach host-wide kernel interfaces",
        ["CAP_SYS_MODULE"] = "it can load code into the host's kernel",
        ["CAP_SYS_RAWIO"] = "it can reach the host's hardware and memory directly",
        ["CAP_BPF"] = "it can load BPF programs into the host's kernel",
        ["CAP_MAC_ADMIN"] = "it can change the host's security policy",
    };

    /// <summary>Normalises <c>net_raw</c>, <c>NET_RAW</c>, <c>CAP_NET_RAW</c>, <c>!CHOWN</c>, <c>~CHOWN</c>.</summary>
    public static string Normalize(string entry)
    {
        var text = entry.Trim();
        var remove = text.StartsWith('!') || text.StartsWith('~');
        var name = (remove ? text[1..] : text).Trim().ToUpperInvariant();
        if (!name.StartsWith("CAP_", StringComparison.Ordinal))
        {
            name = "CAP_" + name;
        }
        if (!Known.Contains(name))
        {
            throw new VServerException("InvalidCapability", ErrorKind.InvalidArgument,
                $"'{entry}' is not a Linux capability. Use a name such as NET_RAW or CAP_NET_RAW; prefix it with '!' to remove it.", entry);
        }
        return remove ? "!" + name : name;
    }

    /// <summary>Normalises a list, the last word on each capability winning.</summary>
    public static IReadOnlyList<string> NormalizeAll(IEnumerable<string> entries)
    {
        var result = new List<string>();
        foreach (var e in entries)
        {
            var n = Normalize(e);
            var bare = n.TrimStart('!');
            result.RemoveAll(x => x.TrimStart('!') == bare);
            result.Add(n);
        }
        return result;
    }

    /// <summary>The bounding set that results from the secure default and the adjustments.</summary>
    public static IReadOnlyList<string> BoundingSet(IEnumerable<string> adjustments)
    {
        var set = new HashSet<string>(SecureDefault, StringComparer.Ordinal);
        foreach (var a in adjustments)
        {
            if (a.StartsWith('!'))
            {
                set.Remove(a[1..]);
            }
            else
            {
                set.Add(a);
            }
        }
        return All.Where(set.Contains).ToArray();
    }
}
