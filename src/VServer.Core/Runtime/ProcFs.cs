using System.Globalization;
using System.Text;
using VServer.Native;

namespace VServer.Runtime;

/// <summary>
/// Reads of <c>/proc</c> that tolerate a process vanishing mid-read (the result is then null,
/// never an error). Every byte is treated as hostile: a guest chooses its processes' names and
/// command lines, so text is decoded leniently and control characters are replaced with '?'.
/// Files are read with plain open/read into a per-thread buffer: one pass over /proc on a host
/// with thousands of processes stays close to what ps(1) costs.
/// </summary>
public static class ProcFs
{
    [ThreadStatic]
    private static byte[]? _buffer;

    private static readonly Lazy<long> Hz = new(Sys.ClockTicksPerSecond);

    /// <summary>Clock ticks per second, the unit of the times in <c>/proc/PID/stat</c>.</summary>
    public static long TicksPerSecond => Hz.Value;

    private static string PidPath(int pid, string file) => "/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/" + file;

    /// <summary>Reads a /proc file into the thread's buffer; null when it is gone.</summary>
    private static ReadOnlySpan<byte> Read(string path, out bool ok, int limit = 1 << 20)
    {
        _buffer ??= new byte[8192];
        var n = Sys.TryReadSmallFile(path, ref _buffer, limit);
        ok = n >= 0;
        return ok ? _buffer.AsSpan(0, n) : default;
    }

    /// <summary>The host pids now in /proc, in directory order.</summary>
    public static IEnumerable<int> Pids()
    {
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(d.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    /// <summary>The fields of <c>/proc/PID/stat</c> VServer reads; null when the process is gone.</summary>
    public static ProcStat? Stat(int pid)
    {
        var s = Read(PidPath(pid, "stat"), out var ok);
        return ok ? ParseStat(s) : null;
    }

    /// <summary>The fields of <c>/proc/PID/task/TID/stat</c>: one thread's; null when it is gone.</summary>
    public static ProcStat? ThreadStat(int pid, int tid)
    {
        var s = Read(PidPath(pid, "task/" + tid.ToString(CultureInfo.InvariantCulture) + "/stat"), out var ok);
        return ok ? ParseStat(s) : null;
    }

    /// <summary>The thread ids of a process (<c>/proc/PID/task</c>); empty when it is gone.</summary>
    public static IReadOnlyList<int> ThreadIds(int pid)
    {
        try
        {
            return Directory.EnumerateDirectories(PidPath(pid, "task"))
                .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 0)
                .Where(t => t > 0).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<int>();
        }
    }

    /// <summary>Parses one <c>/proc/PID/stat</c> line; null when it is not one.</summary>
    public static ProcStat? ParseStat(ReadOnlySpan<byte> s)
    {
        var open = s.IndexOf((byte)'(');
        var close = s.LastIndexOf((byte)')'); // the command name may contain spaces and parentheses
        if (open < 0 || close < open || close + 2 > s.Length)
        {
            return null;
        }
        var comm = Printable(s[(open + 1)..close]);
        var rest = s[(close + 2)..];
        // rest starts at field 3 (state); field N is rest-field N-3
        Span<long> f = stackalloc long[22];
        char state = '?';
        var index = 0;
        foreach (var field in new SpanSplit(rest, (byte)' '))
        {
            if (index == 0)
            {
                if (field.Length != 1)
                {
                    return null;
                }
                state = (char)field[0];
            }
            else if (index < f.Length)
            {
                if (!TryNumber(field, out f[index]))
                {
                    return null;
                }
            }
            else
            {
                break;
            }
            index++;
        }
        if (index < f.Length)
        {
            return null;
        }
        return new ProcStat(comm, state, (ulong)f[19])
        {
            ParentId = (int)f[1],
            TtyNr = (int)f[4],
            ChildMinorFaults = (ulong)f[8],
            UserTicks = (ulong)f[11],
            SystemTicks = (ulong)f[12],
            Nice = (int)f[16],
            Threads = (int)f[17],
            VirtualBytes = (ulong)f[20],
            ResidentPages = f[21],
        };
    }

    /// <summary>Start time in clock ticks since boot (field 22); null when the process is gone.</summary>
    public static ulong? StartTicks(int pid) => Stat(pid)?.StartTicks;

    /// <summary>Whether the process with this pid is the one that started at <paramref name="startTicks"/> (not a reused pid) and not a zombie.</summary>
    public static bool IsAlive(int pid, ulong startTicks) => StatIfAlive(pid, startTicks) is not null;

    /// <summary>The process's stat when it is the one that started at <paramref name="startTicks"/> and not a zombie (see <see cref="IsAlive"/>); else null.</summary>
    public static ProcStat? StatIfAlive(int pid, ulong startTicks) =>
        pid > 0 && Stat(pid) is { } s && s.StartTicks == startTicks && !s.IsZombie ? s : null;

    /// <summary>The effective uid and the NSpid chain (this pid namespace first, the innermost last) from <c>/proc/PID/status</c>.</summary>
    public static ProcStatus? Status(int pid)
    {
        var s = Read(PidPath(pid, "status"), out var ok);
        if (!ok)
        {
            return null;
        }
        uint? uid = null;
        int[]? nspid = null;
        foreach (var line in new SpanSplit(s, (byte)'\n'))
        {
            if (line.StartsWith("Uid:"u8))
            {
                // real, effective, saved, filesystem: ps's USER is the effective one
                var values = Numbers(line[4..]);
                if (values.Count >= 2)
                {
                    uid = (uint)values[1];
                }
            }
            else if (line.StartsWith("NSpid:"u8))
            {
                nspid = Numbers(line[6..]).Select(v => (int)v).ToArray();
            }
            if (uid is not null && nspid is not null)
            {
                break;
            }
        }
        return uid is uint u ? new ProcStatus(u, nspid ?? new[] { pid }) : null;
    }

    /// <summary>The command line, arguments joined by spaces (null when the process is gone, empty for kernel threads).</summary>
    public static string? CommandLine(int pid, int limit = 64 * 1024)
    {
        var s = Read(PidPath(pid, "cmdline"), out var ok, limit);
        if (!ok)
        {
            return null;
        }
        while (s.Length > 0 && s[^1] == 0)
        {
            s = s[..^1];
        }
        return Printable(s, nulAsSpace: true);
    }

    /// <summary>The raw argument vector (null when the process is gone); for host processes VServer started, such as conmon.</summary>
    public static string[]? Arguments(int pid, int limit = 64 * 1024)
    {
        var s = Read(PidPath(pid, "cmdline"), out var ok, limit);
        if (!ok)
        {
            return null;
        }
        var text = Encoding.UTF8.GetString(s);
        return text.TrimEnd('\0').Split('\0');
    }

    /// <summary>
    /// The process's cgroup path in one hierarchy, from <c>/proc/PID/cgroup</c>: the v1 hierarchy
    /// holding <paramref name="controller"/>, or the v2 one when it is "". Null when the process is gone.
    /// </summary>
    public static string? CgroupPath(int pid, string controller)
    {
        var s = Read(PidPath(pid, "cgroup"), out var ok);
        if (!ok)
        {
            return null;
        }
        var want = Encoding.ASCII.GetBytes(controller);
        foreach (var line in new SpanSplit(s, (byte)'\n'))
        {
            // hierarchy-id:controller,list:path
            var c1 = line.IndexOf((byte)':');
            if (c1 < 0)
            {
                continue;
            }
            var c2 = line[(c1 + 1)..].IndexOf((byte)':');
            if (c2 < 0)
            {
                continue;
            }
            var controllers = line.Slice(c1 + 1, c2);
            var path = line[(c1 + c2 + 2)..];
            var match = want.Length == 0
                ? controllers.Length == 0 && line[..c1].SequenceEqual("0"u8)
                : ContainsItem(controllers, want);
            if (match)
            {
                return Encoding.UTF8.GetString(path);
            }
        }
        return "";
    }

    /// <summary>When the host booted (the <c>btime</c> line of /proc/stat).</summary>
    public static DateTimeOffset BootTime()
    {
        var s = Read("/proc/stat", out var ok);
        if (ok)
        {
            foreach (var line in new SpanSplit(s, (byte)'\n'))
            {
                if (line.StartsWith("btime "u8) && TryNumber(line[6..].Trim((byte)' '), out var secs))
                {
                    return DateTimeOffset.FromUnixTimeSeconds(secs);
                }
            }
        }
        return DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(Environment.TickCount64);
    }

    /// <summary>Clock ticks since boot now (for comparing with a process's start ticks).</summary>
    public static ulong NowTicks()
    {
        var s = Read("/proc/uptime", out var ok);
        if (ok)
        {
            var sp = s.IndexOf((byte)' ');
            if (sp > 0 && double.TryParse(Encoding.ASCII.GetString(s[..sp]), NumberStyles.Float, CultureInfo.InvariantCulture, out var up))
            {
                return (ulong)(up * TicksPerSecond);
            }
        }
        return (ulong)(Environment.TickCount64 / 1000.0 * TicksPerSecond);
    }

    public static TimeSpan Ticks(ulong ticks) => TimeSpan.FromTicks((long)(ticks * (ulong)TimeSpan.TicksPerSecond / (ulong)TicksPerSecond));

    private static bool ContainsItem(ReadOnlySpan<byte> list, ReadOnlySpan<byte> item)
    {
        foreach (var x in new SpanSplit(list, (byte)','))
        {
            if (x.SequenceEqual(item))
            {
                return true;
            }
        }
        return false;
    }

    private static List<long> Numbers(ReadOnlySpan<byte> s)
    {
        var result = new List<long>(4);
        foreach (var x in new SpanSplit(s, (byte)'\t', (byte)' '))
        {
            if (x.Length > 0 && TryNumber(x, out var v))
            {
                result.Add(v);
            }
        }
        return result;
    }

    private static bool TryNumber(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        var neg = s.Length > 0 && s[0] == '-';
        if (neg)
        {
            s = s[1..];
        }
        if (s.Length == 0 || s.Length > 20)
        {
            return false;
        }
        ulong v = 0;
        foreach (var b in s)
        {
            if (b < '0' || b > '9')
            {
                return false;
            }
            v = unchecked(v * 10 + (ulong)(b - '0'));
        }
        value = neg ? -(long)v : unchecked((long)v);
        return true;
    }

    /// <summary>Decodes hostile bytes for display: invalid UTF-8 becomes U+FFFD, control characters '?' (NULs spaces when asked), like ps.</summary>
    public static string Printable(ReadOnlySpan<byte> bytes, bool nulAsSpace = false) => Printable(Encoding.UTF8.GetString(bytes), nulAsSpace);

    /// <summary>Text already decoded (from a guest's file): control characters '?' (NULs spaces when asked).</summary>
    public static string Printable(string text, bool nulAsSpace = false)
    {
        var clean = true;
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                clean = false;
                break;
            }
        }
        if (clean)
        {
            return text;
        }
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            sb.Append(c == '\0' && nulAsSpace ? ' ' : char.IsControl(c) ? '?' : c);
        }
        return sb.ToString();
    }
}

/// <summary>Splits a byte span at a separator (or either of two), without allocating.</summary>
internal ref struct SpanSplit
{
    private ReadOnlySpan<byte> _rest;
    private readonly byte _a, _b;
    private bool _done;

    public SpanSplit(ReadOnlySpan<byte> s, byte separator) : this(s, separator, separator)
    {
    }

    public SpanSplit(ReadOnlySpan<byte> s, byte a, byte b)
    {
        _rest = s;
        _a = a;
        _b = b;
        _done = false;
        Current = default;
    }

    public ReadOnlySpan<byte> Current { get; private set; }

    public readonly SpanSplit GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_done)
        {
            return false;
        }
        var i = _a == _b ? _rest.IndexOf(_a) : _rest.IndexOfAny(_a, _b);
        if (i < 0)
        {
            Current = _rest;
            _done = true;
            return true;
        }
        Current = _rest[..i];
        _rest = _rest[(i + 1)..];
        return true;
    }
}

/// <summary>The fields of one read of <c>/proc/PID/stat</c>.</summary>
public sealed record ProcStat(string Comm, char State, ulong StartTicks)
{
    /// <summary>A zombie has not been reaped yet but is gone for every purpose here.</summary>
    public bool IsZombie => State == 'Z';

    public int ParentId { get; init; }
    public int TtyNr { get; init; }

    /// <summary>cminflt (field 11): the minor faults of the children it has waited for; above 0 once it has reaped one.</summary>
    public ulong ChildMinorFaults { get; init; }
    public ulong UserTicks { get; init; }
    public ulong SystemTicks { get; init; }
    public int Threads { get; init; }

    /// <summary>The nice value (-20 … 19) of the thread read (a process's main thread for <c>/proc/PID/stat</c>).</summary>
    public int Nice { get; init; }
    public ulong VirtualBytes { get; init; }
    public long ResidentPages { get; init; }
}

/// <summary>The effective uid and the pid in each nested pid namespace (<c>NSpid</c>, outermost first).</summary>
public sealed record ProcStatus(uint UserId, int[] NsPids);
