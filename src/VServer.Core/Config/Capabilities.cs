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
    /// util-vserver's <c>--secure</c> set, plus SYS_BOOT so reboot and halt work inside a guest
    /// (a PID namespace turns them into signals to the guest's init; kexec is refused by seccomp).
    /// </summary>
    public static readonly IReadOnlyList<string> SecureDefault = new[]
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_TTY_CONFIG", "CAP_LEASE", "CAP_SETFCAP", "CAP_AUDIT_WRITE", "CAP_SYS_BOOT",
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
