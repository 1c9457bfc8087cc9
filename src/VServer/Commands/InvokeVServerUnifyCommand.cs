using System.Management.Automation;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>
/// Invoke-VServerUnify (vunify): identical files of several guests come to share their extents
/// (FIDEDUPERANGE on XFS with reflink or btrfs); a later write in one guest copies, so no guest
/// ever sees another's change. Never hard links.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "VServerUnify", SupportsShouldProcess = true)]
[OutputType(typeof(UnifyResult))]
public sealed class InvokeVServerUnifyCommand : VServerCmdlet
{
    private readonly List<string> _names = new();
    private bool _named;

    /// <summary>Guests to unify (wildcards, pipeline); all guests when left out.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>A guest whose files the others are made to share; the others are then not merged with each other.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string? Reference { get; set; }

    /// <summary>More guest paths (a directory and all below it) or globs to leave alone, besides the defaults.</summary>
    [Parameter]
    public string[] Exclude { get; set; } = Array.Empty<string>();

    /// <summary>Files smaller than this many bytes are not looked at (default 64 KiB; 1: every file).</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long MinimumSize { get; set; } = UnifyOptions.DefaultMinimumSize;

    /// <summary>Adds per-guest figures (Details) to the result.</summary>
    [Parameter]
    public SwitchParameter Detailed { get; set; }

    protected override void ProcessRecord()
    {
        if (Name is null)
        {
            return;
        }
        _named = true;
        foreach (var n in ResolveNames(Name))
        {
            if (!_names.Contains(n))
            {
                _names.Add(n);
            }
        }
    }

    protected override void EndProcessing()
    {
        if (!_named)
        {
            _names.AddRange(Store.ListNames());
        }
        if (Reference is not null)
        {
            var found = false;
            Try(Reference, () =>
            {
                Config.Validate.ExistingGuestName(Reference);
                found = Store.Exists(Reference) ? true : throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{Reference}' exists (-Reference).", Reference);
            });
            if (!found)
            {
                return;
            }
        }
        var all = _names.Union(Reference is null ? Array.Empty<string>() : new[] { Reference }).ToList();
        if (all.Count < 2)
        {
            WriteWarning(all.Count == 0 ? "No guests to unify." : $"Only one guest ('{all[0]}'): there is nothing to share its files with.");
            return;
        }
        var target = string.Join(", ", all);
        if (!ShouldProcess(target, Reference is null ? "Share identical files' extents" : $"Share identical files' extents with reference guest '{Reference}'"))
        {
            return;
        }
        Try(target, () =>
        {
            var result = new Unifier(Store).Run(_names, new UnifyOptions { Exclude = Exclude, MinimumSize = MinimumSize, Reference = Reference }, Reporter, Cancel);
            if (!Detailed)
            {
                result.Details = null;
            }
            WriteObject(result);
        });
    }
}
