using System.Globalization;
using VServer.Native;

namespace VServer.Storage;

/// <summary>One entry of a walked tree: its path from the tree's top ("/usr/bin/env") and its lstat.</summary>
public readonly record struct TreeEntry(string Path, Tmds.Linux.stat Stat)
{
    public bool IsRegularFile => ((uint)Stat.st_mode & 0xF000) == 0x8000;
    public bool IsDirectory => ((uint)Stat.st_mode & 0xF000) == 0x4000;
    public long Size => (long)Stat.st_size;
    public ulong Device => (ulong)Stat.st_dev;
    public ulong Inode => (ulong)Stat.st_ino;
}

/// <summary>
/// Walks a directory tree the way every host-side reader of a guest tree must: each directory is
/// opened relative to its parent's fd with O_NOFOLLOW and listed through that fd, entries are
/// lstat'ed, symlinks are reported and never followed, and mount points below the top are not
/// entered. Entries that vanish or change kind mid-walk are skipped.
/// </summary>
public static class TreeWalk
{
    /// <param name="enter">Whether to descend into a directory (its path from the top); null: every one.</param>
    public static IEnumerable<TreeEntry> Walk(string top, Func<string, bool>? enter = null, CancellationToken cancel = default)
    {
        var fd = Sys.Open(top, Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_);
        try
        {
            var dev = Sys.Dev(Sys.FStat(fd, top));
            foreach (var e in WalkDirectory(fd, "", dev, enter, cancel))
            {
                yield return e;
            }
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    private static IEnumerable<TreeEntry> WalkDirectory(int fd, string dir, ulong dev, Func<string, bool>? enter, CancellationToken cancel)
    {
        foreach (var name in ListNames(fd))
        {
            cancel.ThrowIfCancellationRequested();
            var path = dir + "/" + name;
            Tmds.Linux.stat st;
            try
            {
                st = Sys.FStatAt(fd, name, Sys.AT_SYMLINK_NOFOLLOW, path);
            }
            catch (SyscallException e) when (e.ErrnoValue == Errno.ENOENT)
            {
                continue;
            }
            var entry = new TreeEntry(path, st);
            yield return entry;
            if (!entry.IsDirectory || Sys.Dev(st) != dev || (enter is not null && !enter(path)))
            {
                continue;
            }
            int child;
            try
            {
                child = Sys.OpenAt(fd, name, Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_, 0, path);
            }
            catch (SyscallException e) when (e.ErrnoValue is Errno.ENOENT or Errno.ELOOP or Errno.ENOTDIR)
            {
                continue; // replaced (by a symlink, say) since it was listed
            }
            try
            {
                foreach (var e in WalkDirectory(child, path, dev, enter, cancel))
                {
                    yield return e;
                }
            }
            finally
            {
                Sys.Close(child);
            }
        }
    }

    /// <summary>The names in the directory an fd holds, listed through /proc/self/fd (which cannot be redirected).</summary>
    internal static List<string> ListNames(int dirFd)
    {
        var names = new List<string>();
        var procPath = "/proc/self/fd/" + dirFd.ToString(CultureInfo.InvariantCulture);
        foreach (var e in new DirectoryInfo(procPath).EnumerateFileSystemInfos("*", new EnumerationOptions
                 {
                     RecurseSubdirectories = false,
                     AttributesToSkip = 0,
                     IgnoreInaccessible = false,
                     ReturnSpecialDirectories = false,
                 }))
        {
            names.Add(e.Name);
        }
        return names;
    }
}
