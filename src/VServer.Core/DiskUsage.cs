namespace VServer;

/// <summary>A guest's disk usage as <c>Get-VServerDiskUsage</c> (vdu) shows it (type name <c>VServer.DiskUsage</c>).</summary>
public sealed class DiskUsage
{
    public string Name { get; internal init; } = "";

    /// <summary>Space the guest's files occupy (allocated extents; a hard-linked file counts once).</summary>
    public long TotalBytes { get; internal set; }

    /// <summary>The part of <see cref="TotalBytes"/> in extents shared with other files (unified, cloned, or a template's lower layer).</summary>
    public long SharedBytes { get; internal set; }

    /// <summary>The part that is this guest's alone.</summary>
    public long ExclusiveBytes => TotalBytes - SharedBytes;

    /// <summary>Regular files (a hard-linked file counts once).</summary>
    public long FileCount { get; internal set; }

    public string Root { get; internal init; } = "";

    /// <summary>The guest's disk limit in bytes (null: none).</summary>
    public long? Limit { get; internal set; }

    /// <summary>On a btrfs subvolume with quotas on: the bytes its qgroup refers to (what the limit bounds); else null.</summary>
    public long? QuotaReferencedBytes { get; internal set; }

    /// <summary>On a btrfs subvolume with quotas on: the bytes only it refers to (freed if it were deleted); else null.</summary>
    public long? QuotaExclusiveBytes { get; internal set; }
}
