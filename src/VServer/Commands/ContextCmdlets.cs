using System.Management.Automation;
using VServer.Processes;

namespace VServer.Commands;

/// <summary>
/// Shared selection of Get-VServerContext and Get-VServerProcess: running guests by name
/// (wildcards) or context number, 0 for the host; nothing given means the host and every
/// running guest. Names and contexts also bind from piped guests.
/// </summary>
public abstract class ContextSelectionCmdlet : VServerCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Context numbers: 0 is the host (root server), others are running guests.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, Config.Validate.MaxContext)]
    public int[]? Context { get; set; }

    /// <summary>Whether the host's context is wanted and which running guests, in name order; errors for what is not running.</summary>
    protected (bool Host, IReadOnlyCollection<RunningGuest> Guests) Select(ProcessTable table)
    {
        if (Name is null && Context is null)
        {
            return (true, table.Guests);
        }
        var host = false;
        var chosen = new HashSet<RunningGuest>();
        foreach (var pattern in Name ?? Array.Empty<string>())
        {
            if (WildcardPattern.ContainsWildcardCharacters(pattern))
            {
                var wc = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
                chosen.UnionWith(table.Guests.Where(g => wc.IsMatch(g.Name)));
                continue;
            }
            Try(pattern, () => chosen.Add(table.Running(pattern)));
        }
        foreach (var xid in Context ?? Array.Empty<int>())
        {
            if (xid == 0)
            {
                host = true;
                continue;
            }
            var g = table.Guests.FirstOrDefault(g => g.Context == xid);
            if (g is null)
            {
                WriteError(ErrorMapping.ToRecord(new VServerException("GuestNotRunning", ErrorKind.ObjectNotFound,
                    $"No running guest has context {xid}.", xid), xid));
                continue;
            }
            chosen.Add(g);
        }
        return (host, table.Guests.Where(chosen.Contains).ToArray());
    }

    /// <summary>The VServer type name the objects are written under (the views and Get-Member show it).</summary>
    protected abstract string TypeName { get; }

    /// <summary>The objects for the selected contexts.</summary>
    protected abstract IEnumerable<object> Read(ProcessTable table, bool host, IReadOnlyCollection<RunningGuest> guests);

    protected override void ProcessRecord()
    {
        // the host's row of Get-VServerContext piped on (live, or deserialized from remoting)
        if (MyInvocation.ExpectingInput && Context is [0] && (Name is null || Name.All(n => n == ContextInfo.RootServerName)))
        {
            WriteWarning($"Context 0 is the host ({ContextInfo.RootServerName}), not a guest; it is left alone. Use -Context 0 to name the host's context.");
            return;
        }
        var table = new ProcessTable(Store.Paths);
        var (host, guests) = Select(table);
        if (!host && guests.Count == 0)
        {
            return;
        }
        foreach (var o in Read(table, host, guests))
        {
            var ps = new PSObject(o);
            ps.TypeNames.Insert(0, TypeName);
            WriteObject(ps);
        }
    }
}

/// <summary>Get-VServerContext: vserver-stat, one object per context.</summary>
[Cmdlet(VerbsCommon.Get, "VServerContext")]
[OutputType("VServer.Context")]
public sealed class GetVServerContextCommand : ContextSelectionCmdlet
{
    protected override string TypeName => "VServer.Context";

    protected override IEnumerable<object> Read(ProcessTable table, bool host, IReadOnlyCollection<RunningGuest> guests) =>
        table.Contexts(host, guests);
}

/// <summary>Get-VServerProcess: vps, every process tagged with its context.</summary>
[Cmdlet(VerbsCommon.Get, "VServerProcess")]
[OutputType("VServer.Process")]
public sealed class GetVServerProcessCommand : ContextSelectionCmdlet
{
    protected override string TypeName => "VServer.Process";

    protected override IEnumerable<object> Read(ProcessTable table, bool host, IReadOnlyCollection<RunningGuest> guests) =>
        table.Processes(host, guests);
}
