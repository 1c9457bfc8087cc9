namespace VServer;

/// <summary>
/// One process as <c>Get-VServerProcess</c> (vps) shows it, tagged with its context. Text that
/// comes from the process (name, command line) is untrusted: control characters are shown as '?'.
/// PowerShell type name <c>VServer.Process</c>.
/// </summary>
public sealed class ProcessInfo
{
    /// <summary>The name vps gives context 0.</summary>
    public const string HostContextName = "MAIN";

    /// <summary>Host pid.</summary>
    public int Id { get; internal init; }

    /// <summary>The pid inside the guest's pid namespace (from NSpid); null for host processes.</summary>
    public int? GuestId { get; internal init; }

    /// <summary>0 for a host process, else the guest's context.</summary>
    public int Context { get; internal init; }

    /// <summary>The guest the process runs in; null for host processes.</summary>
    public string? GuestName { get; internal init; }

    public int ParentId { get; internal init; }

    /// <summary>Effective uid on the host.</summary>
    public uint UserId { get; internal init; }

    /// <summary>The uid inside the guest: UserId itself, or UserId less the first of the guest's private users (null for host processes).</summary>
    public uint? GuestUserId { get; internal init; }

    /// <summary>The user's name: from the guest's own /etc/passwd for guest processes, else the host's; the number when it has none.</summary>
    public string User { get; internal init; } = "";

    /// <summary>The kernel's state letter: R, S, D, Z, T, t, I…</summary>
    public string State { get; internal init; } = "";

    /// <summary>The command name (comm).</summary>
    public string Name { get; internal init; } = "";

    public TimeSpan UserTime { get; internal init; }
    public TimeSpan SystemTime { get; internal init; }
    public TimeSpan CpuTime => UserTime + SystemTime;

    /// <summary>Resident memory (RSS) in bytes.</summary>
    public long ResidentMemory { get; internal init; }

    /// <summary>Virtual memory (VSZ) in bytes.</summary>
    public long VirtualMemory { get; internal init; }

    public DateTimeOffset StartTime { get; internal init; }

    /// <summary>The arguments joined by spaces; "[name]" for kernel threads, as ps shows them.</summary>
    public string CommandLine { get; internal init; } = "";

    /// <summary>Start time in clock ticks since boot: with <see cref="Id"/>, names this process and no later one with a reused pid.</summary>
    public ulong StartTicks { get; internal init; }

    public override string ToString() => $"{Id} {Name}";
}
