namespace VServer;

/// <summary>What one <c>Invoke-VServerUnify</c> run did (PowerShell type name <c>VServer.UnifyResult</c>).</summary>
public sealed class UnifyResult
{
    public string[] Guests { get; internal set; } = Array.Empty<string>();

    /// <summary>Regular files looked at (after the excludes and the minimum size).</summary>
    public long FilesScanned { get; internal set; }

    public long BytesScanned { get; internal set; }

    /// <summary>Files whose data this run made share another file's extents.</summary>
    public long FilesDeduplicated { get; internal set; }

    /// <summary>Bytes newly shared by this run (files that already shared their extents are not counted again).</summary>
    public long BytesDeduplicated { get; internal set; }

    /// <summary>Identical files that already shared all their extents.</summary>
    public long FilesAlreadyShared { get; internal set; }

    /// <summary>Candidates left alone because they changed (or became a symlink) between scan and dedupe, or the kernel refused them.</summary>
    public long FilesSkipped { get; internal set; }

    public TimeSpan Duration { get; internal set; }

    /// <summary>Per-guest figures (with -Detailed): files deduplicated are counted for the guest whose file was made to share.</summary>
    public UnifyGuestResult[]? Details { get; internal set; }
}

/// <summary>One guest's part of a unification.</summary>
public sealed class UnifyGuestResult
{
    public string Name { get; internal init; } = "";
    public long FilesScanned { get; internal set; }
    public long BytesScanned { get; internal set; }
    public long FilesDeduplicated { get; internal set; }
    public long BytesDeduplicated { get; internal set; }
}
