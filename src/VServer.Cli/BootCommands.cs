using System.Collections.Concurrent;
using System.Globalization;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Cli;

/// <summary>
/// The host's boot and shutdown (what Install-VServerHostService's unit runs):
/// <c>vserver boot [MARK]</c> starts the marked guests after their <c>apps/init/depends</c>, one
/// level at a time, each level in parallel; <c>vserver shutdown [SECONDS]</c> stops every running
/// guest in parallel, each within the total time, then kills what is left.
/// </summary>
internal static class BootCommands
{
    public static int Boot(string[] args, VServerPaths paths)
    {
        if (args.Length > 1)
        {
            Console.Error.WriteLine("Usage: vserver boot [MARK]   (default: the mark 'default', what -OnBoot sets)");
            return 2;
        }
        var mark = args.Length == 1 ? args[0] : "default";
        var store = new GuestStore(paths);
        var runtime = new GuestRuntime(store);
        var plan = BootOrder.ForMark(store, mark, (_, e) => Console.Error.WriteLine($"vserver: {e.Message}" + (e is VServerException v ? $" [{v.ErrorId}]" : "")));
        var rc = 0;
        foreach (var (guest, why) in plan.Refused.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Console.Error.WriteLine($"vserver: guest '{guest}' is not started: {why}. [BootOrderRefused]");
            rc = 1;
        }
        var failed = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        foreach (var level in plan.Levels)
        {
            Parallel.ForEach(level, new ParallelOptions { MaxDegreeOfParallelism = 16 }, name =>
            {
                try
                {
                    if (BootOrder.FailedDependency(store, name, failed.ContainsKey) is string bad)
                    {
                        throw new VServerException("DependencyNotStarted", ErrorKind.InvalidOperation, $"Guest '{name}' is not started: it depends on '{bad}', which did not start.", name);
                    }
                    if (runtime.Status(name).State != GuestState.Running)
                    {
                        runtime.Start(name);
                        Console.WriteLine($"vserver: guest '{name}' started.");
                    }
                }
                catch (VServerException e)
                {
                    failed[name] = true;
                    Console.Error.WriteLine($"vserver: {e.Message} [{e.ErrorId}]");
                }
            });
        }
        return rc == 0 && failed.IsEmpty ? 0 : 1;
    }

    public static int Shutdown(string[] args, VServerPaths paths)
    {
        var seconds = 90;
        if (args.Length > 1 || (args.Length == 1 && !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out seconds)))
        {
            Console.Error.WriteLine("Usage: vserver shutdown [SECONDS]   (the total time for every guest to stop; default 90)");
            return 2;
        }
        var store = new GuestStore(paths);
        var runtime = new GuestRuntime(store);
        var running = RunDirectory.Running(paths).Select(r => r.Name).ToList();
        var failed = 0;
        Parallel.ForEach(running, new ParallelOptions { MaxDegreeOfParallelism = 64 }, name =>
        {
            try
            {
                runtime.Stop(name, TimeSpan.FromSeconds(seconds));
                Console.WriteLine($"vserver: guest '{name}' stopped.");
            }
            catch (VServerException e) when (e.ErrorId == "GuestNotRunning")
            {
            }
            catch (VServerException e)
            {
                Interlocked.Increment(ref failed);
                Console.Error.WriteLine($"vserver: {e.Message} [{e.ErrorId}]");
            }
        });
        return failed == 0 ? 0 : 1;
    }
}
