using System.Globalization;
using System.Text;

namespace VServer.Processes;

/// <summary>
/// The text layouts of util-vserver's <c>vserver-stat</c> and <c>vps</c>, used by the CLI and by
/// the module's table views (VServer.Format.ps1xml calls the same column formatters), so both
/// print the same columns.
/// </summary>
public static class StatFormat
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly string[] Suffixes = { "", "K", "M", "G", "T", "P", "E" };

    public const string ContextHeader = "CTX   PROC    VSZ    RSS  userTIME   sysTIME    UPTIME NAME";

    /// <summary>
    /// A size as vserver-stat prints it: 1024-step units, one decimal (truncated, left out when
    /// it is 0), at most three digits before it: <c>392.9M</c>, <c>151M</c>, <c>59.5K</c>, <c>3.3G</c>.
    /// </summary>
    public static string Size(long bytes)
    {
        if (bytes < 1000)
        {
            return Math.Max(0, bytes).ToString(Inv);
        }
        double v = bytes;
        var i = 0;
        while (v >= 1000 && i < Suffixes.Length - 1)
        {
            v /= 1024;
            i++;
        }
        var tenths = (long)Math.Floor(v * 10);
        var whole = tenths / 10;
        var dec = tenths % 10;
        return dec == 0
            ? whole.ToString(Inv) + Suffixes[i]
            : whole.ToString(Inv) + "." + dec.ToString(Inv) + Suffixes[i];
    }

    /// <summary>
    /// A duration as vserver-stat prints it: under an hour <c>20m34s00</c> (hundredths last),
    /// under a day <c>1h23m20</c>, else <c>8d03h07</c>.
    /// </summary>
    public static string Time(TimeSpan t)
    {
        if (t < TimeSpan.Zero)
        {
            t = TimeSpan.Zero;
        }
        var cs = t.Ticks / (TimeSpan.TicksPerMillisecond * 10);
        var secs = cs / 100;
        if (secs < 3600)
        {
            return string.Create(Inv, $"{secs / 60}m{secs % 60:00}s{cs % 100:00}");
        }
        if (secs < 86400)
        {
            return string.Create(Inv, $"{secs / 3600}h{secs / 60 % 60:00}m{secs % 60:00}");
        }
        return string.Create(Inv, $"{secs / 86400}d{secs / 3600 % 24:00}h{secs / 60 % 60:00}");
    }

    /// <summary>One vserver-stat line: <c>CTX PROC VSZ RSS userTIME sysTIME UPTIME NAME</c>.</summary>
    public static string ContextLine(ContextInfo c) => string.Create(Inv,
        $"{c.Context,-5} {c.ProcessCount,4} {Size(c.VirtualMemory),6} {Size(c.ResidentMemory),6} {Time(c.UserTime),9} {Time(c.SystemTime),9} {Time(c.Uptime),9} {c.Name}");

    // ---------------------------------------------------------------- vps

    public const int GuestNameWidth = 14, UserWidth = 8;

    /// <summary>vps's header: ps's columns after <c>PID CONTEXT</c>; GPID is the pid inside the guest.</summary>
    public static readonly string ProcessHeader =
        string.Create(Inv, $"{"PID",5} {"CONTEXT",-20} {"GPID",5} {"USER",-8} {"S",1} {"VSZ",9} {"RSS",7} {"TIME",8} COMMAND");

    /// <summary>vps's context column: the number and the guest's name (<c>40000 web1</c>, <c>0 MAIN</c>), 20 wide.</summary>
    public static string ContextColumn(ProcessInfo p) => ContextColumn(p.Context, p.GuestName);

    /// <summary>The CONTEXT column from the two numbers a view has even for deserialized objects (remoting, Import-Clixml).</summary>
    public static string ContextColumn(int context, string? guestName) =>
        string.Create(Inv, $"{context,5} {Cut(string.IsNullOrEmpty(guestName) ? ProcessInfo.HostContextName : guestName, GuestNameWidth),-14}");

    /// <summary>Cuts text to a column as ps does: the last character kept becomes '+'.</summary>
    public static string Cut(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "+";

    /// <summary>Kibibytes, as ps prints VSZ and RSS.</summary>
    public static string KiB(long bytes) => (bytes / 1024).ToString(Inv);

    /// <summary>CPU time as ps prints it: <c>00:00:07</c>, <c>2-03:04:05</c> past a day.</summary>
    public static string CpuTime(TimeSpan t)
    {
        var s = (long)t.TotalSeconds;
        var hms = string.Create(Inv, $"{s / 3600 % 24:00}:{s / 60 % 60:00}:{s % 60:00}");
        return s >= 86400 ? string.Create(Inv, $"{s / 86400}-{hms}") : hms;
    }

    /// <summary>One vps line.</summary>
    public static string ProcessLine(ProcessInfo p) => string.Create(Inv,
        $"{p.Id,5} {ContextColumn(p)} {(p.GuestId is int g ? g.ToString(Inv) : "-"),5} {Cut(p.User, UserWidth),-8} {p.State,1} {KiB(p.VirtualMemory),9} {KiB(p.ResidentMemory),7} {CpuTime(p.CpuTime),8} {p.CommandLine}");

    /// <summary>The whole vserver-stat table.</summary>
    public static string ContextTable(IEnumerable<ContextInfo> contexts)
    {
        var sb = new StringBuilder(ContextHeader).Append('\n');
        foreach (var c in contexts)
        {
            sb.Append(ContextLine(c)).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The whole vps table.</summary>
    public static string ProcessTable(IEnumerable<ProcessInfo> processes)
    {
        var sb = new StringBuilder(ProcessHeader).Append('\n');
        foreach (var p in processes)
        {
            sb.Append(ProcessLine(p)).Append('\n');
        }
        return sb.ToString();
    }
}
