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
