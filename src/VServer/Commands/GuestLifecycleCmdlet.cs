using System.Management.Automation;

namespace VServer.Commands;

/// <summary>
/// Shared shape of Start-, Stop- and Restart-VServerGuest: names (wildcards, pipeline by
/// property name) are collected and confirmed on the pipeline, then the work runs for several
/// guests at once (-ThrottleLimit) in EndProcessing.
/// </summary>
public abstract class GuestLifecycleCmdlet : VServerCmdlet
{
    private readonly List<string> _names = new();

    /// <summary>The guests confirmed on the pipeline, in order.</summary>
    protected IReadOnlyList<string> Selected => _names;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>
    /// Contexts from Get-VServerContext (<c>Get-VServerContext | Where-Object … | Restart-VServerGuest</c>):
    /// each guest's context is worked on; context 0, the host itself, is left alone with a warning.
    /// </summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Context")]
    public ContextInfo? InputObject { get; set; }

    /// <summary>
    /// The context of an object piped by property name (a guest, or a context deserialized from
    /// remoting, which cannot bind as <see cref="InputObject"/>): context 0 is the host, left alone.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = "Name", DontShow = true)]
    public int? Context { get; set; }

    /// <summary>Write the guest after the operation.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>How many guests are worked on at once.</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int ThrottleLimit { get; set; } = 4;

    protected abstract string Action { get; }

    /// <summary>The action ShouldProcess names for one guest.</summary>
    protected virtual string ActionFor(string name) => Action;

    protected virtual IEnumerable<string> Names()
    {
        if (ParameterSetName != "Context")
        {
            if (Context == 0 && MyInvocation.ExpectingInput)
            {
                WriteWarning($"Context 0 is the host ({string.Join(", ", Name)}), not a guest; it is left alone.");
                return Array.Empty<string>();
            }
            return ResolveNames(Name);
        }
        if (InputObject!.GuestName is not string guest)
        {
            WriteWarning($"Context {InputObject.Context} is the host ({InputObject.Name}), not a guest; it is left alone.");
            return Array.Empty<string>();
        }
        return ResolveNames(new[] { guest });
    }

    protected override void ProcessRecord()
    {
        foreach (var n in Names())
        {
            if (ShouldProcess(n, ActionFor(n)))
            {
                _names.Add(n);
            }
        }
    }

    protected override void EndProcessing() => WorkOn(_names);

    /// <summary>The work for these guests, -ThrottleLimit at once; <paramref name="failed"/> hears of each guest whose work threw.</summary>
    protected void WorkOn(IReadOnlyList<string> names, Action<string>? failed = null)
    {
        ForEachGuest(names, ThrottleLimit, (name, sink) =>
        {
            try
            {
                Work(name, sink);
            }
            catch
            {
                failed?.Invoke(name);
                throw;
            }
            if (PassThru)
            {
                sink.Object(Store.Get(name));
            }
        });
    }

    protected abstract void Work(string name, GuestSink sink);
}

/// <summary>Start-VServerGuest: starts guests under the OCI runtime and conmon.</summary>
[Cmdlet(VerbsLifecycle.Start, "VServerGuest", SupportsShouldProcess = true, DefaultParameterSetName = "Context")]
[OutputType(typeof(Guest))]
public sealed class StartVServerGuestCommand : GuestLifecycleCmdlet
{
    /// <summary>
    /// Start every guest marked to start at boot (util-vserver's <c>apps/init/mark</c> "default",
    /// or the mark -Mark names), after the guests each names in <c>apps/init/depends</c>.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = "OnBoot")]
    public SwitchParameter OnBoot { get; set; }

    /// <summary>With -OnBoot: the mark to start (util-vserver's <c>apps/init/mark</c>); default "default", what -OnBoot sets.</summary>
    [Parameter(ParameterSetName = "OnBoot")]
    [ValidateNotNullOrEmpty]
    public string Mark { get; set; } = "default";

    private global::VServer.Runtime.BootOrder? _plan;

    protected override string Action => "Start guest";

    /// <summary>-WhatIf tells what would really happen to a guest that already runs, and a marked start its level.</summary>
    protected override string ActionFor(string name)
    {
        if (Runtime.Status(name).State == GuestState.Running)
        {
            return "Start guest (it is already running: nothing would be done, GuestAlreadyRunning)";
        }
        if (_plan is null)
        {
            return Action;
        }
        var level = _plan.Levels.Select((l, i) => (l, i)).First(x => x.l.Contains(name)).i;
        var deps = Store.ReadConfig(name).Depends;
        return $"Start guest (boot level {level}" + (deps.Count > 0 ? $", after {string.Join(", ", deps)})" : ")");
    }

    protected override IEnumerable<string> Names()
    {
        if (ParameterSetName != "OnBoot")
        {
            return base.Names();
        }
        _plan = global::VServer.Runtime.BootOrder.ForMark(Store, Mark, (n, e) => Try(n, () => throw e)); // written as any guest's error
        foreach (var (guest, why) in _plan.Refused.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            WriteError(ErrorMapping.ToRecord(new VServerException("BootOrderRefused", ErrorKind.InvalidData,
                $"Guest '{guest}' is not started: {why}.", guest), guest));
        }
        // the dependencies first, whatever their order on the pipeline; running guests count as started
        return _plan.Levels.SelectMany(l => l).Where(n => Runtime.Status(n).State != GuestState.Running);
    }

    protected override void EndProcessing()
    {
        if (_plan is null)
        {
            base.EndProcessing();
            return;
        }
        // level by level, each level's guests in parallel; a guest whose dependency did not start is not started
        var failed = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        foreach (var level in _plan.Levels)
        {
            var now = new List<string>();
            foreach (var n in level.Where(Selected.Contains))
            {
                if (global::VServer.Runtime.BootOrder.FailedDependency(Store, n, failed.ContainsKey) is string bad)
                {
                    failed[n] = true;
                    WriteError(ErrorMapping.ToRecord(new VServerException("DependencyNotStarted", ErrorKind.InvalidOperation,
                        $"Guest '{n}' is not started: it depends on '{bad}', which did not start.", n), n));
                    continue;
                }
                now.Add(n);
            }
            foreach (var n in level.Where(n => !Selected.Contains(n) && Runtime.Status(n).State != GuestState.Running))
            {
                failed[n] = true; // declined (-WhatIf, -Confirm): its dependents wait for it in vain
            }
            WorkOn(now, name => failed[name] = true);
        }
    }

    protected override void Work(string name, GuestSink sink) => Runtime.Start(name, sink, sink.Cancel);
}

/// <summary>The cmdlets that stop a guest and so wait for it.</summary>
public abstract class StoppingCmdlet : GuestLifecycleCmdlet
{
    /// <summary>Seconds to wait for the guest to stop before its processes are killed; 0 kills them at once.</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public int Timeout { get; set; } = 30;
}

/// <summary>Stop-VServerGuest: stops guests (stop command or signal, timeout, then TERM and KILL).</summary>
[Cmdlet(VerbsLifecycle.Stop, "VServerGuest", SupportsShouldProcess = true, DefaultParameterSetName = "Context")]
[OutputType(typeof(Guest))]
public sealed class StopVServerGuestCommand : StoppingCmdlet
{
    protected override string Action => "Stop guest";

    protected override void Work(string name, GuestSink sink) => Runtime.Stop(name, TimeSpan.FromSeconds(Timeout), sink, sink.Cancel);
}

/// <summary>Restart-VServerGuest: stops (when running) and starts guests.</summary>
[Cmdlet(VerbsLifecycle.Restart, "VServerGuest", SupportsShouldProcess = true, DefaultParameterSetName = "Context")]
[OutputType(typeof(Guest))]
public sealed class RestartVServerGuestCommand : StoppingCmdlet
{
    protected override string Action => "Restart guest";

    protected override void Work(string name, GuestSink sink) => Runtime.Restart(name, TimeSpan.FromSeconds(Timeout), sink, sink.Cancel);
}
