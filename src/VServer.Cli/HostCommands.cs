using System.Globalization;
using VServer.Processes;

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
                    var (host, guests) = Select(table, args);
                    Console.Out.Write(StatFormat.ProcessTable(table.Processes(host, guests)));
                    return 0;
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
                        Console.Error.WriteLine($"vkill: '{args[i]}' is not a pid.\nUsage: vserver vkill -c GUEST [-s SIGNAL] PID...");
                        return 2;
                    }
                    pids.Add(pid);
                    break;
            }
        }
        if (guest is null || pids.Count == 0)
        {
            Console.Error.WriteLine("Usage: vserver vkill -c GUEST [-s SIGNAL] PID...   (PIDs as the guest sees them)");
            return 2;
        }
        var g = Find(table, guest);
        var rc = 0;
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
