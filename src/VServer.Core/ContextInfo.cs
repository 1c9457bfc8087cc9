namespace VServer;

/// <summary>
/// One security context as <c>Get-VServerContext</c> (vserver-stat) shows it: context 0, the
/// host's own processes ("root server"), or a running guest. PowerShell type name <c>VServer.Context</c>.
/// </summary>
public sealed class ContextInfo
{
    public const string RootServerName = "root server";

    internal ContextInfo(int context, string name, string? guestName)
    {
        Context = context;
        Name = name;
        GuestName = guestName;
    }

    /// <summary>The context number: 0 for the host, the guest's context otherwise.</summary>
    public int Context { get; }

    /// <summary>The guest's name, or "root server" for context 0.</summary>
    public string Name { get; }

    /// <summary>The guest's name; null for context 0, which is no guest.</summary>
    public string? GuestName { get; }

    public int ProcessCount { get; internal set; }

    /// <summary>Virtual memory (VSZ) in bytes, summed over the context's processes.</summary>
    public long VirtualMemory { get; internal set; }

    /// <summary>Resident memory (RSS) in bytes, summed over the context's processes.</summary>
    public long ResidentMemory { get; internal set; }

    /// <summary>CPU time in user mode: for a guest the kernel's accounting of its cgroup (ended processes included), for context 0 the sum over its processes.</summary>
    public TimeSpan UserTime { get; internal set; }

    /// <summary>CPU time in kernel mode, counted like <see cref="UserTime"/>.</summary>
    public TimeSpan SystemTime { get; internal set; }

    /// <summary>When the guest started; when the host booted for context 0.</summary>
    public DateTimeOffset StartTime { get; internal set; }

    /// <summary>Time since <see cref="StartTime"/>, at the moment the context was read.</summary>
    public TimeSpan Uptime { get; internal set; }

    public override string ToString() => GuestName ?? Name;
}
