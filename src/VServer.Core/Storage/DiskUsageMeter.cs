using VServer.Native;

namespace VServer.Storage;

/// <summary>
/// util-vserver's vdu on shared extents: walks a guest root (never following a symlink or
/// crossing a mount) and asks FIEMAP which of each file's extents are shared with other files.
/// Where the filesystem cannot map extents (tmpfs), a file's blocks count as its own.
/// </summary>
public static class DiskUsageMeter
{
    /// <summary>
    /// A guest's usage. For a Template guest, its own files are the overlay's upper layer and the
    /// template's files count as shared (every guest made from the template shares them).
    /// </summary>
    public static DiskUsage MeasureGuest(GuestStore store, string name, CancellationToken cancel = default)
    {
        var config = store.ReadConfig(name);
        var root = store.RootOf(config);
        if (config.Template is not string template)
        {
            var usage = Measure(name, root, cancel);
            usage.Limit = config.DiskLimit;
            if (Btrfs.IsSubvolume(root) && Btrfs.Qgroup(root) is var (referenced, exclusive, _))
            {
                usage.QuotaReferencedBytes = referenced;
                usage.QuotaExclusiveBytes = exclusive;
            }
            return usage;
        }
        var own = Measure(name, TemplateLayers.UpperOf(root), cancel);
        var shared = Measure(name, template, cancel);
        return new DiskUsage
        {
            Name = name,
            Root = root,
            TotalBytes = own.TotalBytes + shared.TotalBytes,
            SharedBytes = own.SharedBytes + shared.TotalBytes,
            FileCount = own.FileCount + shared.FileCount,
        };
    }

    public static DiskUsage Measure(string name, string root, CancellationToken cancel = default)
    {
        var usage = new DiskUsage { Name = name, Root = root };
        var seen = new HashSet<(ulong, ulong)>();
        foreach (var e in TreeWalk.Walk(root, null, cancel))
        {
            if (!e.IsRegularFile || !seen.Add((e.Device, e.Inode)))
            {
                continue;
            }
            usage.FileCount++;
            var fd = e.OpenRegular(); // relative to its directory: any depth
            if (fd < 0)
            {
                continue; // gone or replaced since it was listed
            }
            try
            {
                var st = Sys.FStat(fd);
                var extents = Sys.Fiemap(fd);
                if (extents is null)
                {
                    usage.TotalBytes += (long)st.st_blocks * 512;
                    continue;
                }
                foreach (var x in extents)
                {
                    usage.TotalBytes += x.Length;
                    if (x.Shared)
                    {
                        usage.SharedBytes += x.Length;
                    }
                }
            }
            finally
            {
                Sys.Close(fd);
            }
        }
        return usage;
    }
}
