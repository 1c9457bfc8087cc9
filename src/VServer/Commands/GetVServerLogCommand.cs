using System.Collections.Concurrent;
using System.Management.Automation;
using VServer.Runtime;

namespace VServer.Commands;

/// <summary>
/// Get-VServerLog: what guests' inits and consoles printed (the console log conmon keeps, at most
/// 4 MiB per guest); -Tail for the last lines, -Wait to follow as Get-Content -Wait does,
/// -Previous for the log of the start before (as kubectl logs --previous).
/// </summary>
[Cmdlet(VerbsCommon.Get, "VServerLog", DefaultParameterSetName = "Current")]
[OutputType(typeof(LogEntry))]
public sealed class GetVServerLogCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>Only the last lines of each guest's log.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Tail { get; set; }

    /// <summary>Keep following: each new line as the guest prints it, until Ctrl+C.</summary>
    [Parameter(ParameterSetName = "Current")]
    public SwitchParameter Wait { get; set; }

    /// <summary>The console log of the start before the last one (each start keeps its predecessor's).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Previous")]
    public SwitchParameter Previous { get; set; }

    private readonly List<string> _names = new();

    protected override void ProcessRecord()
    {
        foreach (var n in ResolveNames(Name))
        {
            Try(n, () =>
            {
                var run = Runtime.Run(n);
                foreach (var e in ConsoleLog.Read(run, MyInvocation.BoundParameters.ContainsKey(nameof(Tail)) ? Tail : null, Previous))
                {
                    WriteObject(e);
                }
                _names.Add(n);
            });
        }
    }

    protected override void EndProcessing()
    {
        if (!Wait || _names.Count == 0)
        {
            return;
        }
        // one follower per guest; their lines come to the pipeline thread
        using var queue = new BlockingCollection<LogEntry>();
        var followers = _names.Select(n => new Thread(() => ConsoleLog.Follow(Runtime.Run(n), queue.Add, Cancel))
        {
            IsBackground = true,
            Name = "vserver-log-" + n,
        }).ToList();
        followers.ForEach(t => t.Start());
        try
        {
            foreach (var e in queue.GetConsumingEnumerable(Cancel))
            {
                WriteObject(e);
            }
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: the followers end with the same token
        }
        followers.ForEach(t => t.Join());
    }
}
