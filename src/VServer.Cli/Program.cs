using VServer;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Cli;

/// <summary>
/// <c>vserver NAME start|stop|restart|status|running|exec CMD…|enter|rename NEWNAME</c> with util-vserver's
/// syntax and exit codes (<c>status</c>/<c>running</c>: 0 running, 3 stopped), for scripts and
/// for conmon, which calls <c>vserver NAME exited INSTANCE</c> when a guest's init ends.
/// Host-wide: <c>vserver vserver-stat</c>, <c>vserver vps [GUEST…]</c> and
/// <c>vserver vkill -c GUEST [-s SIGNAL] PID…</c>, printing util-vserver's layouts.
/// </summary>
public static class Program
{
    private const string Usage =
        "Usage: vserver [--silent] [--debug] [--nodev] NAME COMMAND [ARG...]   (NAME: a guest, or its configuration directory)\n" +
        "  start | stop | restart | condrestart   start, stop, restart; condrestart restarts a running guest only\n" +
        "  status                     whether it runs, its process count and uptime (exit 0 running, 3 stopped)\n" +
        "  running                    exit 0 when it runs, 1 when not (a test for scripts)\n" +
        "  enter [SHELL]              a login shell in the guest\n" +
        "  exec COMMAND [ARG...]      a command in the guest, as its root\n" +
        "  suexec USER COMMAND [ARG...]  a command in the guest, as USER (a name or uid of the guest's)\n" +
        "  service SERVICE ACTION [ARG...]  a service of the guest through its own init (systemctl, service or /etc/init.d)\n" +
        "  chkconfig SERVICE [on|off] turn a service of the guest on or off at its boot (no argument: show)\n" +
        "  build -m METHOD [OPTIONS] [-- METHOD-OPTIONS]   (vserver NAME build --help)\n" +
        "  delete                     remove a stopped guest, root and configuration, after asking (y/N on standard input)\n" +
        "  unify [REFERENCE]          share the guest's identical files with its reference guest's (apps/vunify/refserver.*)\n" +
        "  hashify [REFERENCE]        the same as unify (shared extents, not hard links)\n" +
        "  export FILE [--force]      configuration and root in one archive (.tar, .tar.gz, .tar.xz, .tar.zst);\n" +
        "                             --force: a running guest, frozen while it is read\n" +
        "  import FILE|- [--context N]  a new guest NAME from an export, or from standard input (N: its context; 0: a free one)\n" +
        "  rename NEWNAME             a stopped guest; its root moves with it when it is VDIR_ROOT/NAME\n" +
        "  import-conf FILE           a legacy NAME.conf, read as data; the root stays where it is\n" +
        "  exited INSTANCE            conmon's exit hook\n" +
        "Options: --silent  no informative messages (warnings and errors stay)\n" +
        "         --debug   print every host command line VServer runs (the OCI runtime, conmon, ip)\n" +
        "         --nodev   start without the guest's network devices: loopback only, for this start\n" +
        "Host-wide: vserver vserver-stat           (every context: CTX PROC VSZ RSS userTIME sysTIME UPTIME NAME)\n" +
        "           vserver vps [PS-OPTIONS...]    (ps with a CONTEXT column after PID; all processes when no option)\n" +
        "           vserver vps --detail [GUEST|CONTEXT...]   (VServer's layout: guest pid, user, state, memory, time)\n" +
        "           vserver vkill [-c GUEST] [-s SIGNAL] [PID...]   (-c: guest PIDs, or all of the guest; else host PIDs of guests)\n" +
        "           vserver vlimit -c GUEST [-a] [--rss PAGES] [--as PAGES] [--nproc N]   (limits, live and kept)\n" +
        "           vserver vsched -c GUEST [--fill-rate N --interval M] [--priority-bias N] [--cpu-weight W]\n" +
        "           vserver testme                 (is this host ready? exit 1 when a check fails)\n" +
        "           vserver vtop [GUEST] [TOP-OPTIONS]     (top; with GUEST, as the guest sees itself)\n" +
        "           vserver vpstree [GUEST] [PSTREE-OPTIONS]   (pstree; with GUEST, from its init)\n" +
        "           vserver vdu GUEST...           (TOTAL OWN SHARED KiB: what unification shares)\n" +
        "           vserver vserver-info           (this installation and what the host can do)\n" +
        "           vserver boot [MARK]            (the marked guests, after their apps/init/depends; the host's boot)\n" +
        "           vserver shutdown [SECONDS]     (every running guest, in parallel, within SECONDS; the host's shutdown)\n" +
        "Exit status (util-vserver's): 0 done; 1 failed, or 'running' of a stopped guest; 2 usage; 3 'status' of a\n" +
        "stopped guest; exec, suexec and service give the command's own. Starting a running guest or stopping a\n" +
        "stopped one warns and gives 0.\n";

    public static int Main(string[] args)
    {
        VServer.Native.Sys.UnblockAllSignals();
        bool silent = false, debug = false, nodev = false;
        var first = 0;
        for (; first < args.Length; first++)
        {
            switch (args[first])
            {
                case "--silent": silent = true; continue;
                case "--debug": debug = true; continue;
                case "--nodev": nodev = true; continue;
            }
            break;
        }
        args = args[first..];
        if (debug)
        {
            HostProcess.Trace = line => Console.Error.WriteLine("vserver: debug: " + line);
        }
        if (args.Length == 1 && args[0] is "testme")
        {
            return HostCommands.TestMe(VServerPaths.FromEnvironment());
        }
        if (args.Length >= 1 && args[0] is "boot")
        {
            return BootCommands.Boot(args[1..], VServerPaths.FromEnvironment());
        }
        if (args.Length >= 1 && args[0] is "shutdown")
        {
            return BootCommands.Shutdown(args[1..], VServerPaths.FromEnvironment());
        }
        try
        {
            switch (args.Length >= 1 ? args[0] : "")
            {
                case "vtop":
                    return HostCommands.Top(args[1..], VServerPaths.FromEnvironment());
                case "vpstree":
                    return HostCommands.Pstree(args[1..], VServerPaths.FromEnvironment());
                case "vdu":
                    return HostCommands.Du(args[1..], VServerPaths.FromEnvironment());
                case "vserver-info" when args.Length == 1:
                    return HostCommands.Info(VServerPaths.FromEnvironment());
            }
        }
        catch (VServerException e)
        {
            Console.Error.WriteLine($"{args[0]}: {e.Message} [{e.ErrorId}]");
            return 1;
        }
        if (args.Length >= 1 && args[0] is "vlimit")
        {
            return LimitCommands.Vlimit(args[1..], VServerPaths.FromEnvironment());
        }
        if (args.Length >= 1 && args[0] is "vsched")
        {
            return LimitCommands.Vsched(args[1..], VServerPaths.FromEnvironment());
        }
        if (args.Length >= 1 && args[0] is "vserver-stat" or "vps" or "vkill")
        {
            return HostCommands.Run(args[0], args[1..], VServerPaths.FromEnvironment());
        }
        if (args.Length < 2 || args[0] is "-h" or "--help")
        {
            Console.Error.Write(Usage);
            return args.Length > 0 && args[0] is "-h" or "--help" ? 0 : 2;
        }
        var paths = VServerPaths.FromEnvironment();
        var verb = args[1];
        var store = new GuestStore(paths);
        var runtime = new GuestRuntime(store);
        var reporter = new ConsoleReporter(debug);
        void Say(string line)
        {
            if (!silent)
            {
                Console.WriteLine(line);
            }
        }
        using var cancel = new CancellationTokenSource();
        // Ctrl+C and Ctrl+\ cancel (as Console.CancelKeyPress would, without setting the console up: a
        // start writes nothing, and the console's set-up made a writer and sent the terminal its keypad mode)
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; cancel.Cancel(); });
        using var quit = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGQUIT, c => { c.Cancel = true; cancel.Cancel(); });
        var name = args[0];
        try
        {
            name = GuestName(args[0], paths);
            if (verb == "build")
            {
                return BuildCommand.Run(name, args[2..], store, reporter, cancel.Token);
            }
            if (verb == "import-conf")
            {
                if (args.Length != 3)
                {
                    return UsageError();
                }
                VServer.Config.Validate.GuestName(name);
                var notes = new List<string>();
                var config = VServer.Config.LegacyConfig.Parse(File.ReadAllText(args[2]), args[2], name, notes);
                foreach (var note in notes)
                {
                    reporter.Warning(note);
                }
                var guest = store.Adopt(config, reporter);
                Say($"vserver: guest '{name}' imported from {args[2]} (context {guest.Context}, root {guest.Root}).");
                return 0;
            }
            if (verb == "import")
            {
                // vserver NAME import FILE [--context N]: NAME is the new guest's
                if (args.Length is not (3 or 5) || (args.Length == 5 && args[3] != "--context"))
                {
                    return UsageError();
                }
                int? context = args.Length == 5
                    ? (int.TryParse(args[4], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var cx) ? cx
                        : throw new VServerException("InvalidContext", ErrorKind.InvalidArgument, $"'{VisibleText.Of(args[4])}' is not a context number.", args[4]))
                    : null;
                // "-": the archive on standard input (Move-VServerGuest sends it over ssh); a cut connection
                // (SIGHUP, SIGTERM) ends the import, which then leaves nothing
                using var hup = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGHUP, c => { c.Cancel = true; cancel.Cancel(); });
                using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; cancel.Cancel(); });
                var imported = args[2] == "-"
                    ? GuestMover.ImportStream(store, Console.OpenStandardInput(), name, context, reporter, cancel.Token)
                    : GuestArchive.Import(store, args[2], name, context, reporter, cancel.Token);
                Say($"vserver: guest '{imported.Name}' imported from {args[2]} (context {imported.Context}, root {imported.Root}).");
                return 0;
            }
            if (!store.Exists(name))
            {
                throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{name}'.", name);
            }
            switch (verb)
            {
                case "start":
                    return AlreadyThere(() => runtime.Start(name, nodev, reporter, cancel.Token), "GuestAlreadyRunning", reporter);
                case "stop":
                    return AlreadyThere(() => runtime.Stop(name, GuestRuntime.DefaultStopTimeout, reporter, cancel.Token), "GuestNotRunning", reporter);
                case "restart":
                    if (runtime.Status(name).State == GuestState.Running)
                    {
                        AlreadyThere(() => runtime.Stop(name, GuestRuntime.DefaultStopTimeout, reporter, cancel.Token), "GuestNotRunning", reporter);
                    }
                    runtime.Start(name, nodev, reporter, cancel.Token);
                    return 0;
                case "condrestart":
                    if (runtime.Status(name).State != GuestState.Running)
                    {
                        return 0;
                    }
                    goto case "restart";
                case "status":
                {
                    var status = runtime.Status(name);
                    if (status.State != GuestState.Running)
                    {
                        Console.WriteLine($"Server {VisibleText.Of(name)} is not running");
                        return 3;
                    }
                    Console.Write(StatusText(name, status));
                    return 0;
                }
                case "running":
                    if (args.Length != 2)
                    {
                        return UsageError();
                    }
                    return runtime.Status(name).State == GuestState.Running ? 0 : 1;
                case "exec":
                    if (args.Length < 3)
                    {
                        return UsageError();
                    }
                    // stdin, stdout and stderr pass straight through: piped input and a terminal's answers reach the command
                    runtime.ExecAttached(name, new ExecRequest(args[2..]));
                    return 127;
                case "suexec":
                    if (args.Length < 4)
                    {
                        return UsageError();
                    }
                    runtime.ExecAttached(name, new ExecRequest(args[3..]) { User = args[2] });
                    return 127;
                case "service":
                    if (args.Length < 4)
                    {
                        return UsageError();
                    }
                    runtime.ExecAttached(name, new ExecRequest(GuestServices.Service(ServiceName(args[2]), args[3..])));
                    return 127;
                case "chkconfig":
                    if (args.Length is < 3 or > 4 || (args.Length == 4 && args[3] is not ("on" or "off")))
                    {
                        return UsageError();
                    }
                    runtime.ExecAttached(name, new ExecRequest(GuestServices.ChkConfig(ServiceName(args[2]), args.Length == 4 ? args[3] : null)));
                    return 127;
                case "delete":
                    return Delete(name, store, reporter, Say, cancel.Token);
                case "unify":
                case "hashify":
                {
                    if (args.Length > 3)
                    {
                        return UsageError();
                    }
                    var reference = args.Length == 3 ? GuestName(args[2], paths) : GuestServices.ReferenceOf(store, name)
                        ?? throw new VServerException("NoUnifyReference", ErrorKind.InvalidArgument,
                            $"Guest '{name}' has no reference guest: give one (vserver {name} {verb} REFERENCE) or link apps/vunify/refserver.0 to its configuration directory.", name);
                    var result = new Unifier(store).Run(new[] { name }, new UnifyOptions { Reference = reference }, reporter, cancel.Token);
                    Say($"vserver: {VisibleText.Of(name)} unified with {VisibleText.Of(reference)}: {result.FilesDeduplicated} files, {result.BytesDeduplicated} bytes now shared.");
                    return 0;
                }
                case "export":
                {
                    // vserver NAME export FILE [--force]
                    if (args.Length is not (3 or 4) || (args.Length == 4 && args[3] != "--force"))
                    {
                        return UsageError();
                    }
                    var result = GuestArchive.Export(store, name, args[2], args.Length == 4, reporter, cancel.Token);
                    Say($"vserver: guest '{VisibleText.Of(name)}' exported to {result.Path} ({result.Bytes} bytes{(result.Frozen ? ", frozen while it was read" : "")}).");
                    return 0;
                }
                case "pkgmgmt":
                    throw new VServerException("NotSupported", ErrorKind.InvalidOperation,
                        "vserver NAME pkgmgmt (moving a guest's package database out to the host) is not supported: a VServer guest keeps its package manager inside, and the host never runs it.", verb);
                case "enter":
                    return runtime.Enter(name, args.Length > 2 ? args[2] : null);
                case "rename":
                {
                    if (args.Length != 3)
                    {
                        return UsageError();
                    }
                    var renamed = store.Rename(name, args[2], reporter);
                    Say($"vserver: guest '{VisibleText.Of(name)}' is now '{renamed.Name}' (root {renamed.Root}).");
                    return 0;
                }
                case "exited":
                {
                    if (args.Length < 3)
                    {
                        return UsageError();
                    }
                    var result = runtime.OnExit(name, args[2], reporter);
                    Log(runtime, name, result);
                    return 0;
                }
                default:
                    Console.Error.Write($"vserver: unknown command '{VisibleText.Of(verb)}'.\n" + Usage);
                    return 2;
            }
        }
        catch (VServerException e)
        {
            Console.Error.WriteLine($"vserver: {e.Message} [{e.ErrorId}]");
            if (verb == "exited")
            {
                Log(runtime, name, "failed: " + e.Message);
            }
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("vserver: interrupted.");
            return 130;
        }
    }

    private static int UsageError()
    {
        Console.Error.Write(Usage);
        return 2;
    }

    /// <summary>util-vserver's: starting a running guest or stopping a stopped one is a warning, and done.</summary>
    private static int AlreadyThere(Action action, string errorId, IOperationReporter reporter)
    {
        try
        {
            action();
        }
        catch (VServerException e) when (e.ErrorId == errorId)
        {
            reporter.Warning(e.Message);
        }
        return 0;
    }

    /// <summary>
    /// A guest named as util-vserver takes it: its name, or the path of its configuration directory
    /// (<c>/etc/vservers/web1</c>), which must then lie directly under the configuration root.
    /// </summary>
    internal static string GuestName(string arg, VServerPaths paths)
    {
        if (!arg.Contains('/'))
        {
            return arg;
        }
        var full = Path.GetFullPath(arg.TrimEnd('/').Length == 0 ? "/" : arg.TrimEnd('/'));
        if (Path.GetDirectoryName(full) == paths.ConfigRoot && Path.GetFileName(full) is { Length: > 0 } n)
        {
            return n;
        }
        throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound,
            $"'{VisibleText.Of(arg)}' is not a guest's configuration directory: those are the directories in {paths.ConfigRoot}.", arg);
    }

    private static string ServiceName(string s) => s.Length > 0 && !s.Contains('/') && !s.StartsWith('-') ? s
        : throw new VServerException("InvalidServiceName", ErrorKind.InvalidArgument, $"'{VisibleText.Of(s)}' is not a service name.", s);

    /// <summary>Seed 000's status: "Server artemis is running", "26 processes running", "Vserver uptime: 25 days, 10:23".</summary>
    internal static string StatusText(string name, GuestStatus status)
    {
        var up = status.StartTime is DateTimeOffset t ? DateTimeOffset.UtcNow - t : TimeSpan.Zero;
        return $"Server {VisibleText.Of(name)} is running\n{status.ProcessCount} processes running\nVserver uptime: {Uptime(up)}\n";
    }

    /// <summary>As uptime(1) prints it: "25 days, 10:23", "1 day, 0:05", "10:23", "7 min".</summary>
    internal static string Uptime(TimeSpan up)
    {
        if (up < TimeSpan.Zero)
        {
            up = TimeSpan.Zero;
        }
        var clock = up.TotalHours >= 1 ? $"{up.Hours}:{up.Minutes:D2}" : $"{up.Minutes} min";
        return up.Days switch
        {
            0 => clock,
            1 => "1 day, " + clock,
            _ => $"{up.Days} days, " + clock,
        };
    }

    private static int Delete(string name, GuestStore store, IOperationReporter reporter, Action<string> say, CancellationToken cancel)
    {
        var root = store.RootOf(store.ReadConfig(name));
        Console.Error.Write($"Are you sure you want to delete the vserver {VisibleText.Of(name)} (its root {root} and configuration {store.Paths.ConfigDir(name)}) (y/N)? ");
        var answer = Console.In.ReadLine()?.Trim();
        if (answer is not ("y" or "Y" or "yes" or "YES" or "Yes"))
        {
            Console.Error.WriteLine();
            Console.Error.WriteLine($"vserver: guest '{VisibleText.Of(name)}' was not deleted.");
            return 1;
        }
        store.Remove(name, reporter, cancel);
        say($"vserver: guest '{VisibleText.Of(name)}' deleted.");
        return 0;
    }

    /// <summary>What the exit hook did, appended to the guest's hook log (conmon gives the hook no terminal).</summary>
    private static void Log(GuestRuntime runtime, string name, string what)
    {
        try
        {
            var run = runtime.Run(name);
            Directory.CreateDirectory(run.Dir);
            File.AppendAllText(run.HookLog, $"{DateTimeOffset.UtcNow:O} {what}\n");
        }
        catch (IOException)
        {
        }
    }

    private sealed class ConsoleReporter(bool debug) : IOperationReporter
    {
        public void Progress(string activity, string status, int percent) { }
        public void Warning(string message) => Console.Error.WriteLine("vserver: warning: " + message);
        public void Verbose(string message)
        {
            if (debug || Environment.GetEnvironmentVariable("VSERVER_VERBOSE") == "1")
            {
                Console.Error.WriteLine("vserver: " + message);
            }
        }
    }
}
