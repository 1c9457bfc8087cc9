using System.Globalization;
using VServer.Processes;
using VServer.Runtime;

namespace VServer.Cli;

/// <summary>util-vserver's host-wide tools: vserver-stat, vps and vkill, in their own layouts.</summary>
internal static class HostCommands
{
    public static int Run(string command, string[] args, VServerPaths paths)
    {
        try
        {
            var table = new ProcessTable(paths);
            switch (command)
            {
                case "vserver-stat":
                    if (args.Length > 0)
                    {
                        Console.Error.WriteLine("Usage: vserver vserver-stat");
                        return 2;
                    }
                    Console.Out.Write(StatFormat.ContextTable(table.Contexts(true, table.Guests)));
                    return 0;
                case "vps":
                {
                    if (args.Length > 0 && args[0] == "--detail")
                    {
                        // VServer's own layout: guest pid, user, state, memory and time, for some guests or all
                        var (host, guests) = Select(table, args[1..]);
                        Console.Out.Write(StatFormat.ProcessTable(table.Processes(host, guests)));
                        return 0;
                    }
                    return Vps(table, args);
                }
                default:
                    return Kill(table, args);
            }
        }
        catch (VServerException e)
        {
            Console.Error.WriteLine($"{command}: {e.Message} [{e.ErrorId}]");
            return 1;
        }
    }

    /// <summary>
    /// vtop GUEST [TOP-OPTIONS]: top as the guest sees itself (run inside it: its processes, and with
    /// lxcfs its memory, uptime and load). Without a guest, the host's top, with a note that top
    /// shows no contexts (vps does).
    /// </summary>
    public static int Top(string[] args, VServerPaths paths)
    {
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            var store = new Storage.GuestStore(paths);
            var name = Program.GuestName(args[0], paths);
            if (!store.Exists(name))
            {
                Console.Error.WriteLine($"vtop: No guest named '{VisibleText.Of(name)}'. [GuestNotFound]");
                return 1;
            }
            new GuestRuntime(store).ExecAttached(name, new ExecRequest(new[] { "top" }.Concat(args[1..]).ToArray())
            {
                Environment = new Dictionary<string, string> { ["TERM"] = Environment.GetEnvironmentVariable("TERM") ?? "linux" },
            });
            return 127;
        }
        var top = HostProcess.Find("top") ?? throw new VServerException("TopNotFound", ErrorKind.NotInstalled, "vtop needs top (Debian package procps).", "top");
        Console.Error.WriteLine("vtop: the host's top shows no contexts: vtop GUEST shows one guest as it sees itself, vps tags every process with its context.");
        return HostProcess.RunInteractive(top, args);
    }

    /// <summary>vpstree [GUEST] [PSTREE-OPTIONS]: pstree of the host, or of one guest from its init (host pids), with pstree's own options.</summary>
    public static int Pstree(string[] args, VServerPaths paths)
    {
        var pstree = HostProcess.Find("pstree") ?? throw new VServerException("PstreeNotFound", ErrorKind.NotInstalled, "vpstree needs pstree (Debian package psmisc).", "pstree");
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            var table = new ProcessTable(paths);
            var g = Find(table, args[0]);
            return HostProcess.RunInteractive(pstree, args[1..].Append(g.State.InitPid.ToString(CultureInfo.InvariantCulture)));
        }
        return HostProcess.RunInteractive(pstree, args);
    }

    /// <summary>vdu GUEST...: util-vserver's vdu, du that tells a guest's own bytes from those it shares (unified): KiB, as du -s prints them.</summary>
    public static int Du(string[] args, VServerPaths paths)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("Usage: vserver vdu GUEST...   (TOTAL OWN SHARED in KiB, then the guest; OWN: not shared with another file)");
            return 2;
        }
        var store = new Storage.GuestStore(paths);
        var rc = 0;
        Console.Out.WriteLine($"{"TOTAL",10} {"OWN",10} {"SHARED",10} GUEST");
        foreach (var a in args)
        {
            try
            {
                var name = Program.GuestName(a, paths);
                if (!store.Exists(name))
                {
                    throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{VisibleText.Of(name)}'.", name);
                }
                var u = Storage.DiskUsageMeter.MeasureGuest(store, name);
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{u.TotalBytes / 1024,10} {u.ExclusiveBytes / 1024,10} {u.SharedBytes / 1024,10} {VisibleText.Of(name)}"));
            }
            catch (VServerException e)
            {
                Console.Error.WriteLine($"vdu: {e.Message} [{e.ErrorId}]");
                rc = 1;
            }
        }
        return rc;
    }

    /// <summary>vserver-info: this installation (version, roots, programs) and what the host can do, one "key: value" line each.</summary>
    public static int Info(VServerPaths paths)
    {
        var version = typeof(GuestRuntime).Assembly.GetName().Version?.ToString(3) ?? "?";
        Console.Out.WriteLine($"VServer version: {version}");
        Console.Out.WriteLine($"Kernel: {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");
        Console.Out.WriteLine($"Config root: {paths.ConfigRoot}");
        Console.Out.WriteLine($"Vdir root: {paths.VdirRoot}");
        Console.Out.WriteLine($"Run root: {paths.RunRoot}");
        Console.Out.WriteLine($"vserver command: {GuestRuntime.CliPath() ?? Environment.ProcessPath ?? "?"}");
        foreach (var p in new[] { "crun", "runc", "conmon", "lxcfs", "nft", "ip", "tar", "debootstrap", "ssh" })
        {
            Console.Out.WriteLine($"{p}: {HostProcess.Find(p) ?? "not installed"}");
        }
        foreach (var c in HostChecks.Run(paths))
        {
            Console.Out.WriteLine($"{c.Check}: {c.Status.ToString().ToLowerInvariant()} ({c.Detail})");
        }
        return 0;
    }

    /// <summary>testme: one line per check; exit status 1 when any check fails.</summary>
    public static int TestMe(VServerPaths paths)
    {
        var failed = false;
        foreach (var c in Runtime.HostChecks.Run(paths))
        {
            failed |= c.Status == CheckStatus.Fail;
            Console.Out.WriteLine($"{c.Check,-18} {c.Status.ToString().ToUpperInvariant(),-4}  {c.Detail}");
        }
        return failed ? 1 : 0;
    }

    /// <summary>Guests by name or context number; "0" (or none given) includes the host.</summary>
    private static (bool Host, IReadOnlyCollection<RunningGuest> Guests) Select(ProcessTable table, string[] args)
    {
        if (args.Length == 0)
        {
            return (true, table.Guests);
        }
        var host = false;
        var guests = new List<RunningGuest>();
        foreach (var a in args)
        {
            if (a == "0")
            {
                host = true;
                continue;
            }
            var g = Find(table, a);
            if (!guests.Contains(g))
            {
                guests.Add(g);
            }
        }
        return (host, guests);
    }

    private static RunningGuest Find(ProcessTable table, string nameOrContext) =>
        table.Guests.FirstOrDefault(g => g.Name == nameOrContext ||
            (int.TryParse(nameOrContext, NumberStyles.None, CultureInfo.InvariantCulture, out var x) && g.Context == x))
        ?? throw new VServerException("GuestNotRunning", ErrorKind.ObjectNotFound, $"No running guest is named or numbered '{nameOrContext}'.", nameOrContext);

    /// <summary>
    /// util-vserver's vps: ps(1) with the given options (all processes, <c>-e</c>, when none), its
    /// output with a CONTEXT column after PID: the context number and the guest's name, <c>0 MAIN</c>
    /// for the host (seed 000's layout). ps runs from its argument list; its exit status is vps's.
    /// </summary>
    private static int Vps(ProcessTable table, string[] args)
    {
        var ps = HostProcess.Find("ps") ?? throw new VServerException("PsNotFound", ErrorKind.NotInstalled, "vps needs ps (Debian package procps).", "ps");
        var r = HostProcess.Run(ps, args.Length == 0 ? new[] { "-e" } : args);
        Console.Error.Write(r.StandardError);
        var lines = r.StandardOutput.Split('\n');
        if (lines.Length == 0 || lines[0].Length == 0)
        {
            return r.ExitCode;
        }
        // the PID column: its header's right edge (ps right-aligns numbers under it)
        var header = lines[0];
        var at = System.Text.RegularExpressions.Regex.Match(header, @"(?<=^|\s)PID(?=\s|$)");
        if (!at.Success)
        {
            Console.Out.Write(r.StandardOutput); // a format without PID: nothing to tag
            return r.ExitCode;
        }
        var end = at.Index + at.Length;
        var sb = new System.Text.StringBuilder();
        sb.Append(header[..end]).Append(" CONTEXT".PadRight(20)).Append(header[end..]).Append('\n');
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            // the pid: the digits that end at (or run through) the column's edge
            var stop = Math.Min(end, line.Length);
            var from = stop;
            while (from > 0 && line[from - 1] != ' ')
            {
                from--;
            }
            var field = line[from..stop];
            string column;
            if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                column = table.TryGuestOfPid(pid, out var g) ? Column(g?.Context ?? 0, g?.Name ?? ProcessInfo.HostContextName) : Column(-1, "?");
            }
            else
            {
                column = new string(' ', 19);
            }
            sb.Append(line[..stop]).Append(' ').Append(column).Append(line[stop..]).Append('\n');
        }
        Console.Out.Write(sb.ToString());
        return r.ExitCode;
    }

    private const string KillUsage =
        "Usage: vserver vkill [--xid|-c GUEST|CONTEXT] [-s SIGNAL] [--] [PID...]\n" +
        "  -c GUEST PID...  PIDs as the guest sees them;  -c GUEST alone: every process of the guest;\n" +
        "  PID... without -c: host PIDs, each only if it is a guest's process";

    /// <summary>Seed 000's CONTEXT column: the context in 5, the name in 13 (cut as ps cuts).</summary>
    private static string Column(int context, string name) =>
        string.Create(CultureInfo.InvariantCulture, $"{context,5} {StatFormat.Cut(name, 13),-13}");

    private static int Kill(ProcessTable table, string[] args)
    {
        string? guest = null;
        var signal = 15;
        var pids = new List<int>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-c" or "--xid" when i + 1 < args.Length:
                    guest = args[++i];
                    break;
                case "-s" when i + 1 < args.Length:
                    signal = Signals.Parse(args[++i]);
                    break;
                case "--":
                    break;
                default:
                    if (!int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
                    {
                        Console.Error.WriteLine($"vkill: '{args[i]}' is not a pid.\n" + KillUsage);
                        return 2;
                    }
                    pids.Add(pid);
                    break;
            }
        }
        if (guest is null && pids.Count == 0)
        {
            Console.Error.WriteLine(KillUsage);
            return 2;
        }
        var rc = 0;
        if (guest is null)
        {
            // host pids: each signalled only when it is a guest's process, never the host's
            foreach (var pid in pids)
            {
                try
                {
                    if (!table.TryGuestOfPid(pid, out var owner) || owner is null)
                    {
                        throw new VServerException("ProcessNotInGuest", ErrorKind.PermissionDenied,
                            $"Refusing to signal host pid {pid}: it is not a guest's process (vkill signals only guests' processes).", pid);
                    }
                    table.Signal(owner, pid, signal, ProcFs.Stat(pid)?.StartTicks, $"host pid {pid}");
                }
                catch (VServerException e)
                {
                    Console.Error.WriteLine($"vkill: {e.Message} [{e.ErrorId}]");
                    rc = 1;
                }
            }
            return rc;
        }
        var g = Find(table, guest);
        if (pids.Count == 0)
        {
            // the whole context: every process of the guest
            foreach (var p in table.Of(g).ToList())
            {
                try
                {
                    table.Signal(g, p.Pid, signal, p.Stat.StartTicks, $"host pid {p.Pid}");
                }
                catch (VServerException e) when (e.ErrorId == "ProcessNotFound")
                {
                }
            }
            return 0;
        }
        foreach (var pid in pids)
        {
            try
            {
                var p = table.FindGuestPid(g, pid);
                table.Signal(g, p?.Pid ?? 0, signal, p?.Stat.StartTicks, $"process {pid}");
            }
            catch (VServerException e)
            {
                Console.Error.WriteLine($"vkill: {e.Message} [{e.ErrorId}]");
                rc = 1;
            }
        }
        return rc;
    }
}
