using System.Collections.Concurrent;
using System.Management.Automation;
using System.Runtime.ExceptionServices;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>
/// Base of every VServer cmdlet: cancellation on Ctrl+C (StopProcessing), the guest store for
/// this host, name resolution with wildcards, and VServer errors as ErrorRecords.
/// </summary>
public abstract class VServerCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private GuestStore? _store;

    protected CancellationToken Cancel => _cancel.Token;

    protected GuestStore Store => _store ??= new GuestStore(VServerPaths.FromEnvironment());

    protected IOperationReporter Reporter => new CmdletReporter(this);

    protected GuestRuntime Runtime => new(Store);

    /// <summary>
    /// Runs <paramref name="work"/> for each guest, up to <paramref name="throttle"/> at once, on
    /// worker threads. Everything the work writes (objects, errors, warnings, verbose text) is
    /// handed to the pipeline thread, the only one allowed to write; an error in one guest does
    /// not stop the others.
    /// </summary>
    protected void ForEachGuest(IReadOnlyList<string> names, int throttle, Action<string, GuestSink> work)
    {
        if (names.Count == 0)
        {
            return;
        }
        using var queue = new BlockingCollection<Action>();
        var workers = Math.Min(Math.Max(1, throttle), names.Count);
        var next = -1;
        var running = workers;
        Exception? crashed = null;
        void Loop()
        {
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < names.Count && !Cancel.IsCancellationRequested)
                {
                    var name = names[i];
                    var sink = new GuestSink(queue, this, name);
                    try
                    {
                        work(name, sink);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        var captured = ExceptionDispatchInfo.Capture(e);
                        queue.Add(() => Try(name, captured.Throw));
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref crashed, e, null); // thrown on the pipeline thread below, never on a worker
            }
            finally
            {
                if (Interlocked.Decrement(ref running) == 0)
                {
                    queue.CompleteAdding();
                }
            }
        }
        // Threads of their own beside one of the pool's: a guest's work mostly waits (a stop waits
        // seconds for the guest), and the pool adds threads for waiting work at about two a second,
        // so 200 guests stopped "64 at a time" on the pool ran a few at a time for most of it.
        for (var w = 1; w < workers; w++)
        {
            new Thread(Loop) { IsBackground = true, Name = "VServer guest " + w.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Start();
        }
        var first = Task.Run(Loop);
        foreach (var write in queue.GetConsumingEnumerable())
        {
            write();
        }
        first.GetAwaiter().GetResult();
        if (crashed is not null)
        {
            ExceptionDispatchInfo.Throw(crashed);
        }
        if (Cancel.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>What a worker thread writes for one guest, queued for the pipeline thread.</summary>
    protected sealed class GuestSink : IOperationReporter
    {
        private readonly BlockingCollection<Action> _queue;
        private readonly VServerCmdlet _cmdlet;

        internal GuestSink(BlockingCollection<Action> queue, VServerCmdlet cmdlet, string name)
        {
            _queue = queue;
            _cmdlet = cmdlet;
            Name = name;
        }

        public string Name { get; }

        public CancellationToken Cancel => _cmdlet.Cancel;

        public void Object(object o) => _queue.Add(() => _cmdlet.WriteObject(o));

        public void Error(ErrorRecord e) => _queue.Add(() => _cmdlet.WriteError(e));

        /// <summary>Text for the host, as Write-Host writes it: shown, and capturable through the information stream (6>, -InformationVariable).</summary>
        public void Host(string message, params string[] tags) => _queue.Add(() =>
        {
            var record = new InformationRecord(new HostInformationMessage { Message = message }, Name);
            record.Tags.Add("PSHOST");
            foreach (var t in tags)
            {
                record.Tags.Add(t);
            }
            _cmdlet.WriteInformation(record);
        });

        public void Progress(string activity, string status, int percent) { }

        public void Warning(string message) => _queue.Add(() => _cmdlet.WriteWarning(message));

        public void Verbose(string message) => _queue.Add(() => _cmdlet.WriteVerbose(message));
    }

    protected override void StopProcessing() => _cancel.Cancel();

    public void Dispose()
    {
        _cancel.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs one unit of work; a VServer failure becomes a non-terminating error and the pipeline goes on.</summary>
    protected void Try(object? target, Action action)
    {
        try
        {
            action();
        }
        catch (OperationCanceledException) when (Cancel.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (VServerException e)
        {
            WriteError(ErrorMapping.ToRecord(e, target));
        }
        catch (UnauthorizedAccessException e)
        {
            WriteError(new ErrorRecord(e, "AccessDenied", ErrorCategory.PermissionDenied, target));
        }
        catch (IOException e)
        {
            WriteError(new ErrorRecord(e, "IOError", ErrorCategory.WriteError, target));
        }
    }

    /// <summary>
    /// Guest names from patterns: wildcards match existing guests (no match is no error); a
    /// plain name must be valid and exist (InvalidName / GuestNotFound otherwise).
    /// </summary>
    protected IEnumerable<string> ResolveNames(IEnumerable<string> patterns)
    {
        IReadOnlyList<string>? all = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pattern in patterns)
        {
            // a name util-vserver allowed may hold '[' or '*': the guest of that very name comes first
            if (WildcardPattern.ContainsWildcardCharacters(pattern) && !Store.Exists(pattern))
            {
                var wc = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
                all ??= Store.ListNames();
                foreach (var n in all.Where(wc.IsMatch).Where(seen.Add))
                {
                    yield return n;
                }
                continue;
            }
            string? resolved = null;
            Try(pattern, () =>
            {
                Config.Validate.ExistingGuestName(pattern);
                if (!Store.Exists(pattern))
                {
                    throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{pattern}' exists.", pattern);
                }
                resolved = pattern;
            });
            if (resolved is not null && seen.Add(resolved))
            {
                yield return resolved;
            }
        }
    }

    private sealed class CmdletReporter : IOperationReporter
    {
        private readonly VServerCmdlet _cmdlet;

        public CmdletReporter(VServerCmdlet cmdlet) => _cmdlet = cmdlet;

        public void Progress(string activity, string status, int percent)
        {
            var record = new ProgressRecord(1, activity, status) { PercentComplete = Math.Clamp(percent, 0, 100) };
            if (percent >= 100)
            {
                record.RecordType = ProgressRecordType.Completed;
            }
            _cmdlet.WriteProgress(record);
        }

        public void Warning(string message) => _cmdlet.WriteWarning(message);

        public void Verbose(string message) => _cmdlet.WriteVerbose(message);
    }
}
