using System.Management.Automation;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>Get-VServerDiskUsage (vdu): each guest's space, split into shared and exclusive extents.</summary>
[Cmdlet(VerbsCommon.Get, "VServerDiskUsage")]
[OutputType(typeof(DiskUsage))]
public sealed class GetVServerDiskUsageCommand : VServerCmdlet
{
    /// <summary>Guests to measure (wildcards, pipeline); all guests when left out.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var n in ResolveNames(Name ?? new[] { "*" }))
        {
            Try(n, () =>
            {
                WriteProgress(new ProgressRecord(2, "Measuring disk usage", n));
                WriteObject(DiskUsageMeter.MeasureGuest(Store, n, Cancel));
            });
        }
    }
}
