using System.Globalization;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Cli;

/// <summary>
/// util-vserver's <c>vlimit</c> and <c>vsched</c> on a guest: its memory, memory+swap, process and CPU
/// limits and its priority, changed as Set-VServerGuest changes them — at once on a running guest,
/// refused with nothing changed when the kernel cannot hold it to a limit, and kept in its
/// configuration for its next start.
/// </summary>
internal static class LimitCommands
{
    private const string VlimitUsage =
        "Usage: vserver vlimit -c GUEST|CONTEXT [-a] [-H] [--rss PAGES] [--as PAGES] [--nproc N]\n" +
        "  --rss PAGES   memory (the cgroup's memory limit), in pages of the host ({page} bytes); inf: none\n" +
        "  --as PAGES    memory and swap together (the cgroup's memory+swap limit), in pages; at least --rss\n" +
        "  --nproc N     processes (the cgroup's pids limit); inf: the default (16384)\n" +
        "  -H            the hard limit (the only kind a cgroup has; -S and -M are refused)\n" +
        "  -a            show the guest's limits and what it uses now\n" +
        "The change applies to the running guest at once and is kept in its configuration (as Set-VServerGuest does).";

    private const string VschedUsage =
        "Usage: vserver vsched -c GUEST|CONTEXT [--fill-rate N --interval M] [--priority-bias N] [--cpu-weight W]\n" +
        "  --fill-rate N --interval M   at most N/M of one CPU's time (the cgroup's CPU quota); --fill-rate inf: no limit\n" +
        "  --priority-bias N            the nice value of the guest's processes (-20 … 19)\n" +
        "  --cpu-weight W               the guest's share of CPU time against other guests (1 … 10000, 100 the default)\n" +
        "The change applies to the running guest at once and is kept in its configuration (as Set-VServerGuest does).";

    private static string PageText(string usage) => usage.Replace("{page}", Environment.SystemPageSize.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);

    public static int Vlimit(string[] args, VServerPaths paths)
    {
        string? target = null;
        var show = false;
        var settings = new GuestSettings();
        var clear = new List<string>();
        long? rssPages = null, asPages = null;
        bool asInf = false;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw Usage(PageText(VlimitUsage));
                switch (args[i])
                {
                    case "-c" or "--xid":
                        target = Next();
                        break;
                    case "-a" or "--all":
                        show = true;
                        break;
                    case "-H":
                        break;
                    case "-S" or "-M":
                        throw new VServerException("LimitKindNotSupported", ErrorKind.InvalidArgument,
                            $"vlimit {args[i]}: a cgroup has one limit per resource, the hard one (-H); soft and minimum limits of Linux-VServer's contexts have no equivalent.", args[i]);
                    case "--rss":
                    {
                        var v = Next();
                        if (IsInf(v))
                        {
                            clear.Add("MemoryLimit");
                        }
                        else
                        {
                            rssPages = Pages(v, "--rss");
                        }
                        break;
                    }
                    case "--as":
                    {
                        var v = Next();
                        if (IsInf(v))
                        {
                            asInf = true;
                        }
                        else
                        {
                            asPages = Pages(v, "--as");
                        }
                        break;
                    }
                    case "--nproc":
                    {
                        var v = Next();
                        if (IsInf(v))
                        {
                            clear.Add("ProcessLimit");
                        }
                        else
                        {
                            settings.ProcessLimit = Pages(v, "--nproc");
                        }
                        break;
                    }
                    case "-h" or "--help":
                        Console.Out.WriteLine(PageText(VlimitUsage));
                        return 0;
                    default:
                        throw Usage(PageText(VlimitUsage));
                }
            }
            if (target is null || (!show && rssPages is null && asPages is null && !asInf && settings.ProcessLimit is null && clear.Count == 0))
            {
                throw Usage(PageText(VlimitUsage));
            }
            var store = new GuestStore(paths);
            var name = Resolve(store, target);
            if (rssPages is null && asPages is null && !asInf && settings.ProcessLimit is null && clear.Count == 0)
            {
                Show(store, name);
                return 0;
            }
            var page = (long)Environment.SystemPageSize;
            var memory = rssPages is long r ? r * page : clear.Contains("MemoryLimit") ? (long?)null : store.ReadConfig(name).MemoryLimit;
            if (rssPages is long rp)
            {
                settings.MemoryLimit = rp * page;
            }
            if (asPages is long ap)
            {
                var total = ap * page;
                if (memory is not long mem)
                {
                    throw new VServerException("SwapLimitWithoutMemoryLimit", ErrorKind.InvalidArgument,
                        $"vlimit --as {ap}: memory and swap are limited together above a memory limit; give --rss too (guest '{name}' has none).", ap);
                }
                if (total < mem)
                {
                    throw new VServerException("InvalidSwapLimit", ErrorKind.InvalidArgument,
                        $"vlimit --as {ap}: {total} bytes is less than the guest's memory limit of {mem} bytes (--rss); memory and swap together are at least memory.", ap);
                }
                settings.SwapLimit = total - mem;
            }
            else if (asInf)
            {
                clear.Add("SwapLimit");
            }
            settings.Clear = clear.Count > 0 ? clear.ToArray() : null;
            store.Update(name, settings, new CliReporter());
            if (show)
            {
                Show(store, name);
            }
            return 0;
        }
        catch (VServerException e)
        {
            return Report("vlimit", e);
        }
    }

    public static int Vsched(string[] args, VServerPaths paths)
    {
        string? target = null;
        string? fill = null;
        long? interval = null; // util-vserver's --interval, in its own ticks: only the ratio counts
        var settings = new GuestSettings();
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw Usage(VschedUsage);
                switch (args[i])
                {
                    case "-c" or "--xid":
                        target = Next();
                        break;
                    case "--fill-rate":
                        fill = Next();
                        break;
                    case "--interval":
                        interval = Pages(Next(), "--interval");
                        break;
                    case "--priority-bias":
                    {
                        var v = Next();
                        settings.Nice = int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n
                            : throw new VServerException("InvalidNice", ErrorKind.InvalidArgument, $"vsched --priority-bias: '{VisibleText.Of(v)}' is not a number from -20 to 19.", v);
                        break;
                    }
                    case "--cpu-weight":
                    {
                        var v = Next();
                        settings.CpuWeight = int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var w) ? w
                            : throw new VServerException("InvalidCpuWeight", ErrorKind.InvalidArgument, $"vsched --cpu-weight: '{VisibleText.Of(v)}' is not a weight from 1 to 10000.", v);
                        break;
                    }
                    case "--tokens" or "--tokens-min" or "--tokens-max" or "--fill-rate2" or "--interval2" or "--idle-time" or "--cpu-mask":
                        throw new VServerException("SchedulerOptionNotSupported", ErrorKind.InvalidArgument,
                            $"vsched {args[i]}: Linux-VServer's token bucket is gone; a guest's CPU time is its cgroup's quota (--fill-rate/--interval) and weight (--cpu-weight).", args[i]);
                    case "-h" or "--help":
                        Console.Out.WriteLine(VschedUsage);
                        return 0;
                    default:
                        throw Usage(VschedUsage);
                }
            }
            // a rate needs its interval (and an interval its rate); something must change
            var rateWithoutInterval = fill is not null && !IsInf(fill) && interval is null;
            if (target is null || rateWithoutInterval || (fill is null && interval is not null) || (fill is null && settings.Nice is null && settings.CpuWeight is null))
            {
                throw Usage(VschedUsage);
            }
            if (fill is not null && IsInf(fill))
            {
                settings.Clear = new[] { "CpuLimit" };
            }
            else if (fill is not null && interval is long iv)
            {
                settings.CpuLimit = (double)Pages(fill, "--fill-rate") / iv;
            }
            var store = new GuestStore(paths);
            store.Update(Resolve(store, target), settings, new CliReporter());
            return 0;
        }
        catch (VServerException e)
        {
            return Report("vsched", e);
        }
    }

    /// <summary>A usage error (exit 2) prints its text; any other refusal its message and id (exit 1).</summary>
    private static int Report(string command, VServerException e)
    {
        var usage = e.ErrorId == "Usage";
        Console.Error.WriteLine(usage ? e.Message : $"{command}: {e.Message} [{e.ErrorId}]");
        return usage ? 2 : 1;
    }

    /// <summary>util-vserver's -c: a guest's name, its configuration directory, or its context number.</summary>
    private static string Resolve(GuestStore store, string target)
    {
        var name = Program.GuestName(target, store.Paths);
        if (store.Exists(name))
        {
            return name;
        }
        if (int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var ctx) && store.ContextsInUse().TryGetValue(ctx, out var byContext))
        {
            return byContext;
        }
        throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest is named or numbered '{VisibleText.Of(target)}'.", target);
    }

    /// <summary>vlimit -a: each limit of the guest's cgroup and what it uses now.</summary>
    private static void Show(GuestStore store, string name)
    {
        var page = (long)Environment.SystemPageSize;
        var u = Cgroups.Usage(Cgroups.PathFor(store.Paths, name));
        static string P(long? bytes, long page) => bytes is long b ? (b / page).ToString(CultureInfo.InvariantCulture) : "inf";
        static string N(long? n) => n is long x ? x.ToString(CultureInfo.InvariantCulture) : "inf";
        var rows = new[]
        {
            ("rss", u.MemoryUsed is null ? "-" : P(u.MemoryUsed, page), P(u.MemoryLimit, page), "pages of memory"),
            ("as", u.MemoryAndSwapUsed is null ? "-" : P(u.MemoryAndSwapUsed, page), P(u.MemoryAndSwapLimit, page), "pages of memory and swap"),
            ("nproc", u.Processes is null ? "-" : N(u.Processes), N(u.ProcessLimit), "processes"),
        };
        Console.Out.WriteLine($"{"RESOURCE",-9}{"CURRENT",12}{"LIMIT",12}  UNIT");
        foreach (var (res, cur, limit, unit) in rows)
        {
            Console.Out.WriteLine($"{res,-9}{cur,12}{limit,12}  {unit}");
        }
    }

    private static bool IsInf(string v) => v is "inf" or "-1";

    private static long Pages(string v, string option) =>
        long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
        : throw new VServerException("InvalidLimit", ErrorKind.InvalidArgument, $"{option}: '{VisibleText.Of(v)}' is not a positive whole number (or inf).", v);

    private static VServerException Usage(string text) => new("Usage", ErrorKind.InvalidArgument, text, null);

    private sealed class CliReporter : IOperationReporter
    {
        public void Progress(string activity, string status, int percent) { }
        public void Warning(string message) => Console.Error.WriteLine("vserver: warning: " + message);
        public void Verbose(string message) { }
    }
}
