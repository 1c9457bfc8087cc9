using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace VServer.Runtime;

/// <summary>One refusal of the guest's seccomp filter: the calls, the errno they fail with, and what unlocks them.</summary>
/// <param name="Names">The system calls.</param>
/// <param name="Errno">What the call returns: EPERM (1), or ENOSYS (38) where callers must fall back.</param>
/// <param name="UnlockedBy">Capabilities any one of which lifts the refusal (empty: refused whatever the guest holds).</param>
/// <param name="Why">Why it is refused, for docs/security.md and the tests.</param>
/// <param name="CloneFlag">For clone/unshare: refused only when this flag is set in the first argument.</param>
/// <param name="Request">For ioctl: refused only for this request (the second argument, compared on the 32 bits the kernel reads).</param>
public sealed record SeccompRule(string[] Names, int Errno, string[] UnlockedBy, string Why, ulong? CloneFlag = null, ulong? Request = null);

/// <summary>
/// The guest's seccomp filter: every call allowed except those below. The list follows the
/// default profiles of Docker/Podman (containers/common <c>seccomp.json</c>): what they refuse
/// unless the container holds a capability is refused here unless the guest's bounding set holds
/// it, and what they never allow is never allowed. On top: no new user namespace for a guest whose
/// root is host root (every guest until private users exist), since inside one it could mount its
/// cgroup hierarchy and write its own limits; and with the <c>lock</c> flag no new namespace at all.
/// </summary>
public static class SeccompProfile
{
    public const int EPERM = 1;
    public const int ENOSYS = 38;

    public const ulong CLONE_NEWUSER = 0x10000000;

    /// <summary>CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.</summary>
    public static readonly IReadOnlyList<ulong> CloneNamespaceFlags = new ulong[]
    {
        0x00020000, 0x02000000, 0x04000000, 0x08000000, CLONE_NEWUSER, 0x20000000, 0x40000000, 0x00000080,
    };

    private static readonly string[] None = System.Array.Empty<string>();
    private static readonly string[] SysAdmin = { "CAP_SYS_ADMIN" };

    /// <summary>Refusals that hold for every guest, whatever its capabilities and flags.</summary>
    public static readonly IReadOnlyList<SeccompRule> Always = new SeccompRule[]
    {
        new(new[] { "kexec_load", "kexec_file_load" }, EPERM, None, "replaces the host's kernel (SYS_BOOT, which reboot inside a guest needs, would allow it)"),
        new(new[] { "open_by_handle_at" }, EPERM, None, "opens any file of a filesystem by handle, outside the guest's root"),
        new(new[] { "add_key", "request_key", "keyctl" }, EPERM, None, "the kernel keyring is not namespaced"),
        new(new[] { "perf_event_open" }, EPERM, None, "observes the host's kernel and other guests"),
        new(new[] { "userfaultfd" }, EPERM, None, "a tool for widening kernel races"),
        new(new[] { "io_uring_setup", "io_uring_enter", "io_uring_register" }, ENOSYS, None, "a large kernel attack surface that seccomp cannot see into (blocked by Docker since 25.0); ENOSYS makes programs fall back"),
        new(new[] { "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "lookup_dcookie" }, EPERM, None, "obsolete; not in Docker's profile"),
        // no private users (yet): a guest's root is host root, so a user namespace of its own is refused
        new(new[] { "unshare", "clone" }, EPERM, None, "a new user namespace: inside it a guest whose root is host root could mount its cgroup hierarchy and lift its own limits", CLONE_NEWUSER),
        new(new[] { "clone3" }, ENOSYS, None, "passes its flags in memory seccomp cannot read, so the user namespace refusal cannot see them; ENOSYS makes libc fall back to clone"),
        // a btrfs subvolume or snapshot made inside the guest's root is a qgroup of its own, outside
        // the root's disk limit (and needs no privilege): BTRFS_IOC_{SNAP,SUBVOL}_CREATE and their _V2
        new(new[] { "ioctl" }, EPERM, None, BtrfsWhy, Request: 0x50009401),
        new(new[] { "ioctl" }, EPERM, None, BtrfsWhy, Request: 0x5000940E),
        new(new[] { "ioctl" }, EPERM, None, BtrfsWhy, Request: 0x50009417),
        new(new[] { "ioctl" }, EPERM, None, BtrfsWhy, Request: 0x50009418),
    };

    private const string BtrfsWhy = "BTRFS_IOC_SNAP_CREATE/SUBVOL_CREATE (and _V2): a btrfs subvolume or snapshot made by the guest would be outside its disk limit";

    /// <summary>Refusals that a capability in the guest's bounding set lifts (as in Docker's profile).</summary>
    public static readonly IReadOnlyList<SeccompRule> UnlessCapable = new SeccompRule[]
    {
        new(new[] { "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr" }, EPERM, SysAdmin, "mounts"),
        new(new[] { "setns" }, EPERM, SysAdmin, "joining other namespaces"),
        new(new[] { "unshare" }, EPERM, SysAdmin, "new namespaces"),
        new(new[] { "quotactl", "quotactl_fd", "swapon", "swapoff" }, EPERM, SysAdmin, "host-wide quotas and swap"),
        new(new[] { "bpf" }, EPERM, new[] { "CAP_SYS_ADMIN", "CAP_BPF" }, "BPF programs in the host's kernel"),
        new(new[] { "init_module", "finit_module", "delete_module" }, EPERM, new[] { "CAP_SYS_MODULE" }, "kernel modules"),
        new(new[] { "iopl", "ioperm" }, EPERM, new[] { "CAP_SYS_RAWIO" }, "I/O ports"),
        new(new[] { "settimeofday", "clock_settime", "clock_adjtime" }, EPERM, new[] { "CAP_SYS_TIME" }, "the host's clock"),
        new(new[] { "acct" }, EPERM, new[] { "CAP_SYS_PACCT" }, "host-wide process accounting"),
        new(new[] { "kcmp", "pidfd_getfd", "process_madvise" }, EPERM, new[] { "CAP_SYS_PTRACE" }, "other processes' descriptors and memory"),
        new(new[] { "syslog" }, EPERM, new[] { "CAP_SYSLOG" }, "the host's kernel log"),
    };

    /// <summary>With the <c>lock</c> flag: no new namespace of any kind and no joining one.</summary>
    public static readonly IReadOnlyList<SeccompRule> Lock = new SeccompRule[]
    {
        new(new[] { "unshare", "setns" }, EPERM, None, "the lock flag: no new namespaces"),
    };

    /// <summary>The rules in force for a guest with this bounding set and these flags.</summary>
    public static IReadOnlyList<SeccompRule> RulesFor(IReadOnlyCollection<string> boundingSet, IReadOnlySet<string> flags)
    {
        var rules = new List<SeccompRule>(Always);
        rules.AddRange(UnlessCapable.Where(r => !r.UnlockedBy.Any(boundingSet.Contains)));
        if (TestSeams.AllowUserNamespaces)
        {
            rules.RemoveAll(r => r.CloneFlag == CLONE_NEWUSER || r.Names.Contains("clone3") || r.Names.Contains("unshare"));
        }
        if (flags.Contains("lock"))
        {
            rules.AddRange(Lock);
        }
        // clone with a namespace flag: refused with lock, or without SYS_ADMIN (the kernel would refuse anyway)
        if (flags.Contains("lock") || !boundingSet.Contains("CAP_SYS_ADMIN"))
        {
            rules.AddRange(CloneNamespaceFlags.Where(f => f != CLONE_NEWUSER)
                .Select(f => new SeccompRule(new[] { "clone" }, EPERM, SysAdmin, "new namespaces", f)));
        }
        if (TestSeams.AllowedSyscalls.Length > 0)
        {
            rules = rules.Select(r => r with { Names = r.Names.Except(TestSeams.AllowedSyscalls).ToArray() }).Where(r => r.Names.Length > 0).ToList();
        }
        return rules;
    }

    /// <summary>The OCI <c>linux.seccomp</c> object.</summary>
    public static JsonObject Generate(IReadOnlyCollection<string> boundingSet, IReadOnlySet<string> flags, Architecture arch)
    {
        var syscalls = new JsonArray();
        foreach (var r in RulesFor(boundingSet, flags))
        {
            var o = new JsonObject
            {
                ["names"] = new JsonArray(r.Names.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
                ["action"] = "SCMP_ACT_ERRNO",
                ["errnoRet"] = r.Errno,
            };
            if (r.CloneFlag is ulong flag)
            {
                o["args"] = new JsonArray(new JsonObject { ["index"] = 0, ["value"] = flag, ["valueTwo"] = flag, ["op"] = "SCMP_CMP_MASKED_EQ" });
            }
            if (r.Request is ulong request)
            {
                // ioctl's request is an unsigned int to the kernel: high bits set by the caller must not slip past
                o["args"] = new JsonArray(new JsonObject { ["index"] = 1, ["value"] = 0xFFFFFFFFUL, ["valueTwo"] = request, ["op"] = "SCMP_CMP_MASKED_EQ" });
            }
            syscalls.Add((JsonNode)o);
        }
        var arches = arch switch
        {
            Architecture.X64 => new[] { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32" },
            Architecture.Arm64 => new[] { "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM" },
            _ => System.Array.Empty<string>(),
        };
        return new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ALLOW",
            ["architectures"] = new JsonArray(arches.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray()),
            ["syscalls"] = syscalls,
        };
    }
}
