namespace VServer;

/// <summary>
/// Switches that weaken one defence on purpose, for the red-team tests only (internal: no cmdlet or
/// command reaches them). Each attack test first runs against a guest made weak this way, to show
/// that it can detect the attack succeeding, then against the default. Each switch holds for the
/// flow of work that set it (AsyncLocal: the test's thread and what it starts), so a test running
/// beside it in parallel never sees another test's weak guest settings.
/// </summary>
internal static class TestSeams
{
    private static readonly AsyncLocal<bool> allowUserNamespaces = new(), skipRootPreparation = new(), skipHostFirewall = new(), naiveGuestWrites = new(), cloneWithoutFreeze = new(), execThroughRuntime = new();
    private static readonly AsyncLocal<string[]?> allowedSyscalls = new();
    private static readonly AsyncLocal<string?> lxcfsProgram = new();
    private static readonly AsyncLocal<int?> failConfigChangeAtStep = new();

    /// <summary>Leaves out the seccomp refusal of new user namespaces.</summary>
    public static bool AllowUserNamespaces { get => allowUserNamespaces.Value; set => allowUserNamespaces.Value = value; }

    /// <summary>Skips the check that /dev, /proc and /sys of a guest's root are real directories.</summary>
    public static bool SkipRootPreparation { get => skipRootPreparation.Value; set => skipRootPreparation.Value = value; }

    /// <summary>System calls left out of every refusal of the seccomp filter.</summary>
    public static string[] AllowedSyscalls { get => allowedSyscalls.Value ?? System.Array.Empty<string>(); set => allowedSyscalls.Value = value; }

    /// <summary>The lxcfs program to run instead of the one on PATH; "" for none installed.</summary>
    public static string? LxcfsProgram { get => lxcfsProgram.Value; set => lxcfsProgram.Value = value; }

    /// <summary>A configuration change fails at this step of its swap (-1: never): to prove it is all-or-nothing.</summary>
    public static int FailConfigChangeAtStep { get => failConfigChangeAtStep.Value ?? -1; set => failConfigChangeAtStep.Value = value; }

    /// <summary>The host's nftables rules are not made (no shield, NAT or anti-spoofing): the weak host of the red-team tests.</summary>
    public static bool SkipHostFirewall { get => skipHostFirewall.Value; set => skipHostFirewall.Value = value; }

    /// <summary>Files VServer writes into a guest at start go by host path, following the guest's symlinks (the weak host of the red-team tests).</summary>
    public static bool NaiveGuestWrites { get => naiveGuestWrites.Value; set => naiveGuestWrites.Value = value; }

    /// <summary>Copies a running Clone source, or takes a running guest's snapshot, without freezing it.</summary>
    public static bool CloneWithoutFreeze { get => cloneWithoutFreeze.Value; set => cloneWithoutFreeze.Value = value; }

    /// <summary>Commands run in a guest go through the runtime's exec, not vserver-ns's attach: to compare the two.</summary>
    public static bool ExecThroughRuntime { get => execThroughRuntime.Value; set => execThroughRuntime.Value = value; }
}
