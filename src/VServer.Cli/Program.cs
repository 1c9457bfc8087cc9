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
        "Usage: vserver NAME start|stop|restart|status|running|enter\n" +
        "       vserver NAME build -m METHOD [OPTIONS] [-- METHOD-OPTIONS]   (vserver NAME build --help)\n" +
        "       vserver NAME exec COMMAND [ARG...]\n" +
        "       vserver NAME rename NEWNAME    (a stopped guest; its root moves with it when it is VDIR_ROOT/NAME)\n" +
        "       vserver NAME import-conf FILE  (a legacy NAME.conf, read as data; the root stays where it is)\n" +
        "       vserver NAME exited INSTANCE   (conmon's exit hook)\n" +
        "       vserver vserver-stat           (every context: CTX PROC VSZ RSS userTIME sysTIME UPTIME NAME)\n" +
        "       vserver vps [GUEST|CONTEXT...] (processes tagged with their context)\n" +
        "       vserver vkill -c GUEST [-s SIGNAL] PID...   (PIDs as the guest sees them)\n" +
        "       vserver testme                 (is this host ready? exit 1 when a check fails)\n";

    public static int Main(string[] args)
    {
        VServer.Native.Sys.UnblockAllSignals();
        if (args.Length == 1 && args[0] is "testme")
        {
            return HostCommands.TestMe(VServerPaths.FromEnvironment());
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
        var name = args[0];
        var verb = args[1];
        var store = new GuestStore(VServerPaths.FromEnvironment());
        var runtime = new GuestRuntime(store);
        var reporter = new ConsoleReporter();
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        try
        {
            if (verb == "build")
            {
                return BuildCommand.Run(name, args[2..], store, reporter, cancel.Token);
            }
            if (verb == "import-conf")
            {
                if (args.Length != 3)
                {
                    Console.Error.Write(Usage);
                    return 2;
                }
                VServer.Config.Validate.GuestName(name);
                var notes = new List<string>();
                var config = VServer.Config.LegacyConfig.Parse(File.ReadAllText(args[2]), args[2], name, notes);
                foreach (var note in notes)
                {
                    reporter.Warning(note);
                }
                var guest = store.Adopt(config, reporter);
                Console.WriteLine($"vserver: guest '{name}' imported from {args[2]} (context {guest.Context}, root {guest.Root}).");
                return 0;
            }
            if (!store.Exists(name))
            {
                throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{name}'.", name);
            }
            switch (verb)
            {
                case "start":
                    runtime.Start(name, reporter, cancel.Token);
                    return 0;
                case "stop":
                    runtime.Stop(name, GuestRuntime.DefaultStopTimeout, reporter, cancel.Token);
                    return 0;
                case "restart":
                    runtime.Restart(name, GuestRuntime.DefaultStopTimeout, reporter, cancel.Token);
                    return 0;
                case "status":
                case "running":
                {
                    var status = runtime.Status(name);
                    var running = status.State == GuestState.Running;
                    if (verb == "status")
                    {
                        var ctx = store.ReadConfig(name).Context;
                        Console.WriteLine(running
                            ? $"Vserver '{name}' is running at context '{ctx}'"
                            : $"Vserver '{name}' is stopped");
                    }
                    return running ? 0 : 3;
                }
                case "exec":
                    if (args.Length < 3)
                    {
                        Console.Error.Write(Usage);
                        return 2;
                    }
                    // stdin, stdout and stderr pass straight through: piped input and a terminal's answers reach the command
                    return runtime.ExecAttached(name, new ExecRequest(args[2..]));
                case "enter":
                    return runtime.Enter(name, args.Length > 2 ? args[2] : null);
                case "rename":
                {
                    if (args.Length != 3)
                    {
                        Console.Error.Write(Usage);
                        return 2;
                    }
                    var renamed = store.Rename(name, args[2], reporter);
                    Console.WriteLine($"vserver: guest '{VisibleText.Of(name)}' is now '{renamed.Name}' (root {renamed.Root}).");
                    return 0;
                }
                case "exited":
                {
                    if (args.Length < 3)
                    {
                        Console.Error.Write(Usage);
                        return 2;
                    }
                    var result = runtime.OnExit(name, args[2], reporter);
                    Log(runtime, name, result);
                    return 0;
                }
                default:
                    Console.Error.Write($"vserver: unknown command '{verb}'.\n" + Usage);
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

    private sealed class ConsoleReporter : IOperationReporter
    {
        public void Progress(string activity, string status, int percent) { }
        public void Warning(string message) => Console.Error.WriteLine("vserver: warning: " + message);
        public void Verbose(string message)
        {
            if (Environment.GetEnvironmentVariable("VSERVER_VERBOSE") == "1")
            {
                Console.Error.WriteLine("vserver: " + message);
            }
        }
    }
}
