using System.Globalization;
using System.Management.Automation;
using VServer.Processes;

namespace VServer.Commands;

/// <summary>
/// Stop-VServerProcess (vkill): signals processes of one guest, by the pid the guest sees
/// (-Id), the host pid (-HostId) or piped VServer.Process objects. A process that is not in
/// that guest is refused; the target is pinned with a pidfd, so a reused pid is never hit.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "VServerProcess", SupportsShouldProcess = true, DefaultParameterSetName = GuestPids)]
[OutputType("VServer.Process")]
public sealed class StopVServerProcessCommand : VServerCmdlet
{
    private const string GuestPids = "Id", HostPids = "HostId", Piped = "InputObject";
    private int _signal;
    private ProcessTable? _table;

    /// <summary>The guest whose processes are signalled.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = GuestPids)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = HostPids)]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>Pids as the guest sees them (ps inside the guest, GuestId).</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = GuestPids)]
    public int[] Id { get; set; } = Array.Empty<int>();

    /// <summary>Host pids (Id of VServer.Process).</summary>
    [Parameter(Mandatory = true, ParameterSetName = HostPids)]
    public int[] HostId { get; set; } = Array.Empty<int>();

    /// <summary>
    /// Processes from Get-VServerProcess, live or as they come back from Export-Csv/Import-Csv,
    /// Export-Clixml or remoting: their Id (host pid), StartTicks and GuestName properties name the
    /// process. Each is signalled only if that very process (same start time) still runs in that guest.
    /// </summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = Piped)]
    public PSObject[] InputObject { get; set; } = Array.Empty<PSObject>();

    /// <summary>A signal name (TERM, SIGKILL, HUP, RTMIN+1) or number; TERM by default.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(SignalCompleter))]
    public string Signal { get; set; } = "TERM";

    /// <summary>Write each process that was signalled.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        try
        {
            _signal = Signals.Parse(Signal);
        }
        catch (VServerException e)
        {
            ThrowTerminatingError(ErrorMapping.ToRecord(e, Signal));
        }
        _table = new ProcessTable(Store.Paths);
    }

    protected override void ProcessRecord()
    {
        var table = _table!;
        if (ParameterSetName == Piped)
        {
            foreach (var o in InputObject)
            {
                var p = PipedProcess.From(o);
                Try(p?.Id ?? (object)o, () =>
                {
                    if (p is null)
                    {
                        throw new VServerException("NotAProcess", ErrorKind.InvalidArgument,
                            $"'{o}' is not a process: give objects of Get-VServerProcess (or rows with its Id, StartTicks and GuestName).", o);
                    }
                    if (string.IsNullOrEmpty(p.GuestName))
                    {
                        throw new VServerException("ProcessNotInGuest", ErrorKind.PermissionDenied,
                            $"Refusing to signal host pid {p.Id} ({p.Name}): it is a host process (context 0), not in a guest.", p.Id);
                    }
                    var g = table.Running(p.GuestName);
                    Send(table, g, p.Id, p.StartTicks, $"process {p.Describe()}", o.BaseObject as ProcessInfo);
                });
            }
            return;
        }
        RunningGuest? guest = null;
        Try(Name, () => guest = table.Running(Name));
        if (guest is null)
        {
            return;
        }
        if (ParameterSetName == GuestPids)
        {
            foreach (var id in Id)
            {
                Try(id, () =>
                {
                    var found = table.FindGuestPid(guest, id) ?? throw new VServerException("ProcessNotFound", ErrorKind.ObjectNotFound,
                        $"Guest '{guest.Name}' has no process {id}.", id);
                    Send(table, guest, found.Pid, found.Stat.StartTicks, $"process {id} (host pid {found.Pid}, {found.Stat.Comm})", null);
                });
            }
            return;
        }
        foreach (var hostPid in HostId)
        {
            Try(hostPid, () => Send(table, guest, hostPid, null, $"host pid {hostPid}", null));
        }
    }

    private void Send(ProcessTable table, RunningGuest guest, int hostPid, ulong? startTicks, string display, ProcessInfo? known)
    {
        if (!ShouldProcess($"{display} in guest '{guest.Name}'", $"Send {Signals.Name(_signal)}"))
        {
            // -WhatIf still refuses what would be refused: every check runs, and signal 0 sends nothing
            table.Signal(guest, hostPid, 0, startTicks, display);
            return;
        }
        var before = PassThru ? known ?? table.Read(hostPid) : null;
        table.Signal(guest, hostPid, _signal, startTicks, display);
        WriteVerbose($"Sent {Signals.Name(_signal)} to {display} in guest '{guest.Name}'.");
        if (before is not null)
        {
            var ps = new PSObject(before);
            ps.TypeNames.Insert(0, "VServer.Process");
            WriteObject(ps);
        }
    }


    /// <summary>What a piped object says about a process (from its properties: live, deserialized or CSV).</summary>
    private sealed record PipedProcess(int Id, ulong? StartTicks, string? GuestName, int? GuestId, string Name)
    {
        public static PipedProcess? From(PSObject o)
        {
            T? Get<T>(string name) where T : struct
            {
                var v = o.Properties[name]?.Value;
                return v is null || (v is string text && text.Length == 0) ? null
                    : LanguagePrimitives.TryConvertTo<T>(v, CultureInfo.InvariantCulture, out var t) ? t : null;
            }
            if (Get<int>("Id") is not int id)
            {
                return null;
            }
            return new PipedProcess(id, Get<ulong>("StartTicks"), o.Properties["GuestName"]?.Value?.ToString(), Get<int>("GuestId"),
                o.Properties["Name"]?.Value?.ToString() ?? "");
        }

        public string Describe() => GuestId is int g
            ? string.Create(CultureInfo.InvariantCulture, $"{g} (host pid {Id}, {Name})")
            : string.Create(CultureInfo.InvariantCulture, $"host pid {Id} ({Name})");
    }
}
