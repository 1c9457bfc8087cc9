using System.Management.Automation;

namespace VServer.Commands;

/// <summary>Get-VServerGuest: the guests of this host.</summary>
[Cmdlet(VerbsCommon.Get, "VServerGuest", DefaultParameterSetName = ByName)]
[OutputType(typeof(Guest))]
public sealed class GetVServerGuestCommand : VServerCmdlet
{
    public const string ByName = "ByName";
    public const string ByContext = "ByContext";

    [Parameter(ParameterSetName = ByName, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(ParameterSetName = ByContext, Mandatory = true, ValueFromPipelineByPropertyName = true)]
    public int[]? Context { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ByContext)
        {
            var used = Store.ContextsInUse();
            foreach (var xid in Context!)
            {
                if (used.TryGetValue(xid, out var n))
                {
                    Try(n, () => WriteObject(Store.Get(n)));
                }
                else
                {
                    WriteError(ErrorMapping.ToRecord(new VServerException("GuestNotFound", ErrorKind.ObjectNotFound,
                        $"No guest has context {xid}.", xid), xid));
                }
            }
            return;
        }
        foreach (var n in ResolveNames(Name ?? new[] { "*" }))
        {
            if (Config.Validate.LegacyNameNote(n) is string note)
            {
                WriteWarning(note);
            }
            Try(n, () => WriteObject(Store.Get(n)));
        }
    }
}
