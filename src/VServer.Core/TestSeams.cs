namespace VServer;

/// <summary>
/// Switches that weaken one defence on purpose, for the red-team tests only (internal: no cmdlet or
/// command reaches them). Each attack test first runs against a guest made weak this way, to show
/// that it can detect the attack succeeding, then against the default.
/// </summary>
internal static class TestSeams
{
    /// <summary>Leaves out the seccomp refusal of new user namespaces.</summary>
    public static volatile bool AllowUserNamespaces;

    /// <summary>Skips the check that /dev, /proc and /sys of a guest's root are real directories.</summary>
    public static volatile bool SkipRootPreparation;

    /// <summary>System calls left out of every refusal of the seccomp filter.</summary>
    public static volatile string[] AllowedSyscalls = System.Array.Empty<string>();

    /// <summary>The lxcfs program to run instead of the one on PATH; "" for none installed.</summary>
    public static volatile string? LxcfsProgram;

    /// <summary>A configuration change fails at this step of its swap (-1: never): to prove it is all-or-nothing.</summary>
    public static volatile int FailConfigChangeAtStep = -1;

    /// <summary>The host's nftables rules are not made (no shield, NAT or anti-spoofing): the weak host of the red-team tests.</summary>
    public static volatile bool SkipHostFirewall;

    /// <summary>Files VServer writes into a guest at start go by host path, following the guest's symlinks (the weak host of the red-team tests).</summary>
    public static volatile bool NaiveGuestWrites;

    /// <summary>Copies a running Clone source without freezing it.</summary>
    public static volatile bool CloneWithoutFreeze;
}
