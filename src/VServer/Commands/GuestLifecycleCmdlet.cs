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

    protected override void EndProcessing()
    {
        ForEachGuest(_names, ThrottleLimit, (name, sink) =>
        {
            Work(name, sink);
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
    /// <summary>Start every guest marked to start at boot.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "OnBoot")]
    public SwitchParameter OnBoot { get; set; }

    protected override string Action => "Start guest";

    /// <summary>-WhatIf tells what would really happen to a guest that already runs.</summary>
    protected override string ActionFor(string name) =>
        Runtime.Status(name).State == GuestState.Running ? "Start guest (it is already running: nothing would be done, GuestAlreadyRunning)" : Action;

    protected override IEnumerable<string> Names()
    {
        if (ParameterSetName != "OnBoot")
        {
            return base.Names();
        }
        var marked = new List<string>();
        foreach (var n in Store.ListNames())
        {
            Try(n, () =>
            {
                if (Store.ReadConfig(n).OnBoot && Runtime.Status(n).State != GuestState.Running)
                {
                    marked.Add(n);
                }
            });
        }
        return marked;
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
