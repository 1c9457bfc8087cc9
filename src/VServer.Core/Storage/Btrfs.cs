using VServer.Native;
using VServer.Runtime;

namespace VServer.Storage;

/// <summary>How a guest's root is kept: a plain directory, or a btrfs subvolume of its own.</summary>
public enum StorageKind
{
    /// <summary>A plain directory, on any filesystem.</summary>
    Directory,

    /// <summary>A btrfs subvolume: a Clone of it is a snapshot, a remove deletes the subvolume.</summary>
    Btrfs,
}

/// <summary>
/// The btrfs side of the guest store, through btrfs-progs' <c>btrfs</c> (argument lists, never a
/// shell): on a vdir root on btrfs each guest's root is a subvolume of its own; a Clone of such a
/// guest is a snapshot (instant, every extent shared from birth, copy-on-write afterwards); a
/// remove deletes the subvolume. Only host-side paths VServer made are given to the tool; a
/// guest's tree is never walked for it.
/// </summary>
public static class Btrfs
{
    private const long Magic = 0x9123683E;

    /// <summary>The inode number of every subvolume's root directory.</summary>
    private const ulong SubvolumeRootInode = 256;

    /// <summary>Whether <paramref name="path"/> is on btrfs (false when it does not exist).</summary>
    public static bool IsBtrfs(string path) => FileSystems.MagicOf(path) == Magic;

    /// <summary>Whether <paramref name="path"/> (never followed when a symlink) is the root of a btrfs subvolume.</summary>
    public static bool IsSubvolume(string path)
    {
        try
        {
            var st = Sys.FStatAt(Sys.AT_FDCWD, path, Sys.AT_SYMLINK_NOFOLLOW);
            return Sys.IsDir(st) && (ulong)st.st_ino == SubvolumeRootInode && IsBtrfs(path);
        }
        catch (SyscallException)
        {
            return false;
        }
    }

    /// <summary>
    /// Whether the directory <paramref name="name"/> in <paramref name="dirfd"/>, whose stat is
    /// <paramref name="st"/>, is a btrfs subvolume's root that is not a mount point (one made inside
    /// the tree, which belongs to it, unlike a mount).
    /// </summary>
    internal static bool IsNestedSubvolume(int dirfd, string name, in Tmds.Linux.stat st, string display)
    {
        if (!Sys.IsDir(st) || (ulong)st.st_ino != SubvolumeRootInode || MountTable.MountPoints().Contains(display))
        {
            return false;
        }
        var fd = Sys.OpenAt(dirfd, name, Sys.O_PATH_ | Sys.O_NOFOLLOW_ | Sys.O_DIRECTORY_, 0, display);
        try
        {
            return Sys.FStatFs(fd, display).Type == Magic;
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    /// <summary>
    /// The kind of storage a new guest root under <paramref name="parent"/> gets: Btrfs when the
    /// nearest existing directory on its path is on btrfs and btrfs-progs is installed.
    /// </summary>
    public static StorageKind KindFor(string parent)
    {
        return IsBtrfs(FileSystems.NearestExisting(parent)) && HostProcess.Find("btrfs") is not null ? StorageKind.Btrfs : StorageKind.Directory;
    }

    /// <summary>The kind of storage of an existing guest root.</summary>
    public static StorageKind KindOf(string root) => IsSubvolume(root) ? StorageKind.Btrfs : StorageKind.Directory;

    /// <summary>A new, empty subvolume at <paramref name="path"/> (which must not exist).</summary>
    public static void CreateSubvolume(string path) => Tool(path, "subvolume", "create", path);

    /// <summary>A writable snapshot of the subvolume <paramref name="source"/> at <paramref name="path"/> (on the same filesystem).</summary>
    public static void Snapshot(string source, string path) => Tool(path, "subvolume", "snapshot", source, path);

    /// <summary>Makes <paramref name="path"/> a snapshot of the subvolume <paramref name="source"/>, read-only when asked (a guest's snapshot).</summary>
    public static void Snapshot(string source, string path, bool readOnly)
    {
        if (readOnly)
        {
            Tool(path, "subvolume", "snapshot", "-r", source, path);
        }
        else
        {
            Snapshot(source, path);
        }
    }

    /// <summary>
    /// Deletes the subvolume <paramref name="path"/> with everything in it. A subvolume that holds
    /// another (a guest may make one inside its root) cannot be deleted whole: its tree is removed
    /// file by file (<see cref="SafeRemove"/>, which takes nested subvolumes with it), then the subvolume.
    /// </summary>
    public static void DeleteSubvolume(string path, CancellationToken cancel = default)
    {
        if (Run("subvolume", "delete", path).ExitCode == 0)
        {
            return;
        }
        SafeRemove.RemoveTree(path, cancel); // rmdir of an emptied subvolume deletes it
    }

    /// <summary>The subvolume's id (its qgroup is 0/ID).</summary>
    public static ulong SubvolumeId(string path)
    {
        var r = Run("inspect-internal", "rootid", path);
        return r.ExitCode == 0 && ulong.TryParse(r.StandardOutput.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
            ? id
            : throw new VServerException("BtrfsFailed", ErrorKind.InvalidOperation, $"'btrfs inspect-internal rootid {path}' failed: {OciRuntime.FirstLine(r.StandardError, "no id")}", path);
    }

    /// <summary>
    /// Quota accounting on the filesystem holding <paramref name="path"/>, turned on (and its
    /// numbers made exact by a rescan, waited for) when it is off.
    /// </summary>
    public static void EnsureQuota(string path)
    {
        if (Run("qgroup", "show", "--raw", path).ExitCode == 0)
        {
            return; // on already
        }
        Tool(path, "quota", "enable", path);
        Tool(path, "quota", "rescan", "-w", path);
    }

    /// <summary>The limit on the bytes the subvolume <paramref name="path"/> refers to (its qgroup's max_rfer); null lifts it.</summary>
    public static void SetLimit(string path, long? bytes)
    {
        EnsureQuota(path);
        // named by its qgroup id, from the parent directory: the ioctl starts a transaction in the
        // subvolume it is called in, which a guest at its limit would fail with EDQUOT
        var qgroup = "0/" + SubvolumeId(path).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Tool(path, "qgroup", "limit", bytes is long b ? b.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none", qgroup, Path.GetDirectoryName(path)!);
    }

    /// <summary>The subvolume's qgroup: bytes it refers to, bytes only it refers to, and its limit; null when quotas are off.</summary>
    public static (long Referenced, long Exclusive, long? Limit)? Qgroup(string path)
    {
        var r = Run("qgroup", "show", "-reF", "--raw", path);
        if (r.ExitCode != 0)
        {
            return null;
        }
        var id = "0/" + SubvolumeId(path).ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var line in r.StandardOutput.Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 5 && f[0] == id && long.TryParse(f[1], out var rfer) && long.TryParse(f[2], out var excl))
            {
                return (rfer, excl, long.TryParse(f[3], out var max) ? max : null);
            }
        }
        return null;
    }

    /// <summary>
    /// After the subvolume whose id is <paramref name="id"/> was deleted: waits until btrfs has
    /// dropped it, then destroys its qgroup if it is still there (recent kernels remove it themselves).
    /// </summary>
    public static void ForgetQgroup(string onFilesystem, ulong id)
    {
        var n = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // a commit wakes btrfs's cleaner, which otherwise drops a deleted subvolume at its next
        // periodic commit (up to 30 s: every removal waited that long)
        Run("filesystem", "sync", onFilesystem);
        Run("subvolume", "sync", onFilesystem, n);
        Run("qgroup", "destroy", "0/" + n, onFilesystem); // gone already: an error, which changes nothing
    }

    private static ProcessResult Run(params string[] args)
    {
        var btrfs = HostProcess.Find("btrfs") ?? throw new VServerException("BtrfsToolNotFound", ErrorKind.NotInstalled,
            "btrfs (Debian package 'btrfs-progs') is needed for guests on a btrfs guest store.", "btrfs");
        return HostProcess.Run(btrfs, args);
    }

    private static void Tool(string path, params string[] args)
    {
        var r = Run(args);
        if (r.ExitCode != 0)
        {
            throw new VServerException("BtrfsFailed", ErrorKind.WriteError,
                $"'btrfs {string.Join(' ', args)}' failed ({r.ExitCode}): {OciRuntime.FirstLine(r.StandardError, "no message")}", path);
        }
    }
}
