using System.Management.Automation;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>Checkpoint-VServerGuest: a snapshot of guests' roots and configurations (lxc-snapshot).</summary>
[Cmdlet(VerbsData.Checkpoint, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(Snapshot))]
public sealed class CheckpointVServerGuestCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>The snapshot's name; default the first free snapN.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? SnapshotName { get; set; }

    /// <summary>Where the filesystem shares no extents: a full copy instead of a refusal.</summary>
    [Parameter]
    public SwitchParameter AllowCopy { get; set; }

    protected override void ProcessRecord()
    {
        var snapshots = new GuestSnapshots(Store);
        foreach (var n in ResolveNames(Name))
        {
            Try(n, () =>
            {
                var config = Store.ReadConfig(n);
                var kind = GuestSnapshots.KindFor(n, config, Store.RootOf(config), AllowCopy);
                var snap = SnapshotName is null ? snapshots.NextName(n) : GuestSnapshots.ValidName(SnapshotName);
                if (ShouldProcess(n, $"Take snapshot '{snap}' ({kind}) of the root and configuration"))
                {
                    var s = snapshots.Checkpoint(n, snap, AllowCopy, Reporter, Cancel);
                    snapshots.Measure(s, Cancel);
                    WriteObject(s);
                }
            });
        }
    }
}

/// <summary>Get-VServerSnapshot: guests' snapshots, with the bytes only each holds.</summary>
[Cmdlet(VerbsCommon.Get, "VServerSnapshot")]
[OutputType(typeof(Snapshot))]
public sealed class GetVServerSnapshotCommand : VServerCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(Position = 1)]
    [SupportsWildcards]
    public string[]? SnapshotName { get; set; }

    protected override void ProcessRecord()
    {
        var snapshots = new GuestSnapshots(Store);
        foreach (var n in ResolveNames(Name ?? new[] { "*" }))
        {
            Try(n, () =>
            {
                var all = snapshots.List(n);
                foreach (var pattern in SnapshotName ?? new[] { "*" })
                {
                    var wc = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
                    var found = all.Where(s => wc.IsMatch(s.Name)).ToList();
                    if (found.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
                    {
                        throw new VServerException("SnapshotNotFound", ErrorKind.ObjectNotFound, $"Guest '{n}' has no snapshot named '{pattern}'.", pattern);
                    }
                    foreach (var s in found)
                    {
                        snapshots.Measure(s, Cancel);
                        WriteObject(s);
                    }
                }
            });
        }
    }
}

/// <summary>Restore-VServerGuest: a guest's root and configuration back as a snapshot holds them.</summary>
[Cmdlet(VerbsData.Restore, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "InputObject")]
[OutputType(typeof(Guest))]
public sealed class RestoreVServerGuestCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Name")]
    public string SnapshotName { get; set; } = "";

    /// <summary>A snapshot from Get-VServerSnapshot, piped: its guest is restored from it.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject")]
    public Snapshot? InputObject { get; set; }

    /// <summary>A running guest is stopped, restored and started again (without it, refused).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var (name, snapshot) = InputObject is { } given ? (given.GuestName, given.Name) : (Name, SnapshotName);
        Try(name, () =>
        {
            var snapshots = new GuestSnapshots(Store);
            var snap = snapshots.Get(name, snapshot);
            var running = Store.Get(name).State == GuestState.Running;
            if (running && !Force)
            {
                throw new VServerException("GuestRunning", ErrorKind.InvalidOperation,
                    $"Guest '{name}' is running: stop it first, or give -Force (stop, restore, start).", name);
            }
            if (!ShouldProcess(name, $"Replace the root and configuration with snapshot '{snap.Name}' of {snap.Created.LocalDateTime:yyyy-MM-dd HH:mm:ss}" + (running ? " (stop, restore, start)" : "")))
            {
                return;
            }
            if (running)
            {
                Runtime.Stop(name, TimeSpan.FromSeconds(30), Reporter);
            }
            var guest = snapshots.Restore(name, snapshot, Reporter, Cancel);
            if (running)
            {
                Runtime.Start(name, Reporter, Cancel);
                guest = Store.Get(name);
            }
            if (PassThru)
            {
                WriteObject(guest);
            }
        });
    }
}

/// <summary>Remove-VServerSnapshot: deletes snapshots.</summary>
[Cmdlet(VerbsCommon.Remove, "VServerSnapshot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Name")]
public sealed class RemoveVServerSnapshotCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name")]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Name")]
    [SupportsWildcards]
    public string[] SnapshotName { get; set; } = Array.Empty<string>();

    /// <summary>Snapshots from Get-VServerSnapshot, piped.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject")]
    public Snapshot[] InputObject { get; set; } = Array.Empty<Snapshot>();

    protected override void ProcessRecord()
    {
        var snapshots = new GuestSnapshots(Store);
        IEnumerable<(string Guest, string Snap)> targets = ParameterSetName == "InputObject"
            ? InputObject.Select(s => (s.GuestName, s.Name))
            : Expand(snapshots);
        foreach (var (guest, snap) in targets)
        {
            Try($"{guest}/{snap}", () =>
            {
                if (ShouldProcess($"{guest}/{snap}", "Remove snapshot"))
                {
                    snapshots.Remove(guest, snap, Reporter, Cancel);
                }
            });
        }
    }

    private IEnumerable<(string, string)> Expand(GuestSnapshots snapshots)
    {
        var found = new List<(string, string)>();
        Try(Name, () =>
        {
            var all = snapshots.List(Name);
            foreach (var pattern in SnapshotName)
            {
                if (!WildcardPattern.ContainsWildcardCharacters(pattern))
                {
                    found.Add((Name, snapshots.Get(Name, pattern).Name));
                    continue;
                }
                var wc = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
                found.AddRange(all.Where(s => wc.IsMatch(s.Name)).Select(s => (Name, s.Name)));
            }
        });
        return found;
    }
}
