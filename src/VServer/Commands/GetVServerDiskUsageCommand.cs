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

    private bool _progressShown;

    protected override void ProcessRecord()
    {
        foreach (var n in ResolveNames(Name ?? new[] { "*" }))
        {
            Try(n, () =>
            {
                WriteProgress(new ProgressRecord(2, "Measuring disk usage", n));
                _progressShown = true;
                WriteObject(DiskUsageMeter.MeasureGuest(Store, n, Cancel));
            });
        }
    }

    /// <summary>The bar is completed, so it does not stay on the screen (a remoting client's included).</summary>
    protected override void EndProcessing()
    {
        if (_progressShown)
        {
            WriteProgress(new ProgressRecord(2, "Measuring disk usage", "Done") { RecordType = ProgressRecordType.Completed });
        }
    }
}
