namespace VServer;

/// <summary>How a snapshot keeps its root.</summary>
public enum SnapshotKind
{
    /// <summary>A read-only btrfs snapshot of the guest's root subvolume: made at once, every extent shared.</summary>
    Btrfs,

    /// <summary>A reflink copy (XFS with reflink, btrfs without a subvolume): every file shares its extents with the guest's.</summary>
    Reflink,

    /// <summary>A full copy, where the filesystem cannot share extents (only with -AllowCopy).</summary>
    Copy,
}

/// <summary>A guest's snapshot (Get-VServerSnapshot; type name <c>VServer.Snapshot</c>).</summary>
public sealed class Snapshot
{
    public string GuestName { get; init; } = "";
    public string Name { get; init; } = "";
    public DateTimeOffset Created { get; init; }
    public SnapshotKind Storage { get; init; }

    /// <summary>True when the guest ran while it was taken: its processes were frozen for it (crash-consistent: what they had written, not what they held in memory).</summary>
    public bool TakenRunning { get; init; }

    /// <summary>The snapshot's directory: root/ (the guest's root), config/ (its configuration directory), snapshot.json.</summary>
    public string Path { get; init; } = "";

    /// <summary>Bytes of the snapshot no other file shares (FIEMAP, as Get-VServerDiskUsage counts); null until measured.</summary>
    public long? ExclusiveBytes { get; internal set; }

    /// <summary>Bytes of the snapshot's files in all.</summary>
    public long? TotalBytes { get; internal set; }

    public string RootPath => System.IO.Path.Combine(Path, "root");
}
