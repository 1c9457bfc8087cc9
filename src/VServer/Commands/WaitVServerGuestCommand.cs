using System.Diagnostics;
using System.Management.Automation;
using VServer.Runtime;

namespace VServer.Commands;

/// <summary>
/// Wait-VServerGuest: waits until guests are up (as their init says: systemd's is-system-running,
/// sysvinit's runlevel) or stopped, as Wait-Process and Wait-Job wait.
/// </summary>
[Cmdlet(VerbsLifecycle.Wait, "VServerGuest")]
[OutputType(typeof(Guest))]
public sealed class WaitVServerGuestCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>Running (the default): up as the guest's init says; Stopped: no process left.</summary>
    [Parameter]
    [ValidateSet("Running", "Stopped", IgnoreCase = true)]
    public GuestState State { get; set; } = GuestState.Running;

    /// <summary>Seconds to wait in all, for every guest named; without it the wait has no end but Ctrl+C.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Timeout { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private readonly Stopwatch _since = Stopwatch.StartNew();

    protected override void ProcessRecord()
    {
        foreach (var n in ResolveNames(Name))
        {
            Try(n, () =>
            {
                TimeSpan? left = MyInvocation.BoundParameters.ContainsKey(nameof(Timeout))
                    ? TimeSpan.FromSeconds(Timeout) - _since.Elapsed is var l && l > TimeSpan.Zero ? l : TimeSpan.Zero
                    : null;
                var progress = new ProgressRecord(1, $"Waiting for guest '{n}' to be {State}", "…");
                var seen = GuestReadiness.Wait(Runtime, n, State, left, Cancel, s =>
                {
                    progress.StatusDescription = s;
                    WriteProgress(progress);
                });
                progress.RecordType = ProgressRecordType.Completed;
                WriteProgress(progress);
                WriteVerbose($"Guest '{n}': {seen}.");
                if (PassThru)
                {
                    WriteObject(Store.Get(n));
                }
            });
        }
    }
}
