using System.Globalization;
using System.Text;
using VServer.Native;

namespace VServer.Storage;

/// <summary>
/// One step of a walk: an entry of a directory (its lstat, its name, the directory's fd), or with
/// <see cref="Leaving"/> the end of a directory whose entries have all been seen.
/// </summary>
public readonly record struct TreeEntry(string? Path, Tmds.Linux.stat Stat, int DirFd, string Name, int Depth, bool Leaving = false)
{
    public bool IsRegularFile => ((uint)Stat.st_mode & 0xF000) == 0x8000;
    public bool IsDirectory => ((uint)Stat.st_mode & 0xF000) == 0x4000;
    public long Size => (long)Stat.st_size;
    public ulong Device => (ulong)Stat.st_dev;
    public ulong Inode => (ulong)Stat.st_ino;

    /// <summary>
    /// Opens this regular file for reading relative to its directory's fd (O_NOFOLLOW, O_NOATIME; valid
    /// only while the walk is at this entry) and checks it is still the file listed; -1 otherwise.
    /// </summary>
    public int OpenRegular()
    {
        int fd;
        try
        {
            fd = Sys.OpenAt(DirFd, Name, Sys.O_RDONLY_ | Sys.O_NOFOLLOW_ | Sys.O_NOATIME_, 0, Name);
        }
        catch (SyscallException e) when (e.ErrnoValue is Errno.ENOENT or Errno.ELOOP or Errno.ENOTDIR or Errno.EACCES)
        {
            return -1;
        }
        var st = Sys.FStat(fd, Name);
        if (((uint)st.st_mode & 0xF000) != 0x8000 || st.st_ino != Stat.st_ino || st.st_dev != Stat.st_dev)
        {
            Sys.Close(fd);
            return -1;
        }
        return fd;
    }
}

/// <summary>
/// Walks a directory tree the way every host-side reader of a guest tree must, at any depth a
/// guest can make: iteratively (no recursion, so a 100,000-deep chain cannot overflow the stack),
/// each directory opened relative to its parent's fd with O_NOFOLLOW and listed through that fd,
/// entries lstat'ed, symlinks reported and never followed, and mount points below the top not
/// entered. Only the top <see cref="HeldLevels"/> levels keep their fds open; deeper, the way back
/// up opens <c>..</c> and checks that it is the directory it came from (device and inode), so a
/// guest that moves directories around mid-walk cannot lead it anywhere else: the rest of that
/// branch is left out and counted in <see cref="Walker.Abandoned"/>.
/// </summary>
public static class TreeWalk
{
    /// <summary>Levels whose directory fds stay open during the walk.</summary>
    public const int HeldLevels = 64;

    /// <summary>The longest path (in bytes, from the top) an entry is given; deeper entries have a null <see cref="TreeEntry.Path"/>.</summary>
    public const int PathMax = 4000;

    /// <param name="enter">Whether to descend into a directory; null: every one on the top's filesystem.</param>
    /// <param name="leaving">Also report each directory after its entries (for removal, post-order).</param>
    public static IEnumerable<TreeEntry> Walk(string top, Func<TreeEntry, bool>? enter = null, CancellationToken cancel = default, bool leaving = false) =>
        new Walker(top, enter, leaving, cancel).Entries();

    /// <summary>A walk whose count of abandoned branches can be read afterwards.</summary>
    public sealed class Walker
    {
        private readonly string _top;
        private readonly Func<TreeEntry, bool>? _enter;
        private readonly bool _leaving;
        private readonly CancellationToken _cancel;

        public Walker(string top, Func<TreeEntry, bool>? enter, bool leaving, CancellationToken cancel)
        {
            _top = top;
            _enter = enter;
            _leaving = leaving;
            _cancel = cancel;
        }

        /// <summary>Branches left out because a directory was moved while it was walked.</summary>
        public int Abandoned { get; private set; }

        private sealed class Frame
        {
            public int Fd;
            public required List<string> Names;
            public int Next;
            public required string Name;
            public required string? Path;
            public required int PathBytes;
            public required Tmds.Linux.stat Stat;
        }

        public IEnumerable<TreeEntry> Entries()
        {
            var topFd = Sys.Open(_top, Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_);
            var stack = new List<Frame>();
            try
            {
                var topStat = Sys.FStat(topFd, _top);
                var dev = Sys.Dev(topStat);
                stack.Add(new Frame { Fd = topFd, Names = ListNames(topFd), Name = "", Path = "", PathBytes = 0, Stat = topStat });
                while (stack.Count > 0)
                {
                    _cancel.ThrowIfCancellationRequested();
                    var f = stack[^1];
                    if (f.Next < f.Names.Count)
                    {
                        var name = f.Names[f.Next++];
                        Tmds.Linux.stat st;
                        try
                        {
                            st = Sys.FStatAt(f.Fd, name, Sys.AT_SYMLINK_NOFOLLOW, name);
                        }
                        catch (SyscallException e) when (e.ErrnoValue == Errno.ENOENT)
                        {
                            continue;
                        }
                        var bytes = f.Path is null ? int.MaxValue : f.PathBytes + 1 + Encoding.UTF8.GetByteCount(name);
                        var path = bytes <= PathMax ? f.Path + "/" + name : null;
                        var entry = new TreeEntry(path, st, f.Fd, name, stack.Count);
                        yield return entry;
                        if (!entry.IsDirectory || Sys.Dev(st) != dev || (_enter is not null && !_enter(entry)))
                        {
                            continue;
                        }
                        if (Open(f.Fd, name, st) is not (int child, List<string> names))
                        {
                            continue; // replaced (by a symlink, say) since it was listed
                        }
                        if (stack.Count > HeldLevels && stack.Count > 1)
                        {
                            // deep: hold only the current directory; the way back checks '..'
                            Sys.Close(f.Fd);
                            f.Fd = -1;
                        }
                        stack.Add(new Frame { Fd = child, Names = names, Name = name, Path = path, PathBytes = path is null ? int.MaxValue : bytes, Stat = st });
                        continue;
                    }
                    // every entry of f seen: back to its parent
                    stack.RemoveAt(stack.Count - 1);
                    if (stack.Count == 0)
                    {
                        stack.Add(f); // the top: closed below
                        break;
                    }
                    var parent = stack[^1];
                    if (parent.Fd < 0 && !Reopen(f.Fd, parent))
                    {
                        // moved while walked: this branch is left out up to the nearest held directory
                        Sys.Close(f.Fd);
                        Abandoned++;
                        while (stack.Count > 0 && stack[^1].Fd < 0)
                        {
                            stack.RemoveAt(stack.Count - 1);
                        }
                        continue;
                    }
                    Sys.Close(f.Fd);
                    f.Fd = -1;
                    if (_leaving)
                    {
                        yield return new TreeEntry(f.Path, f.Stat, parent.Fd, f.Name, stack.Count, Leaving: true);
                    }
                }
            }
            finally
            {
                foreach (var f in stack)
                {
                    Sys.Close(f.Fd);
                }
            }
        }

        /// <summary>Opens and lists a subdirectory, checking it is the one lstat'ed; null when it is gone or swapped.</summary>
        private static (int, List<string>)? Open(int dirFd, string name, Tmds.Linux.stat expected)
        {
            int fd;
            try
            {
                fd = Sys.OpenAt(dirFd, name, Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_, 0, name);
            }
            catch (SyscallException e) when (e.ErrnoValue is Errno.ENOENT or Errno.ELOOP or Errno.ENOTDIR)
            {
                return null;
            }
            try
            {
                var st = Sys.FStat(fd, name);
                if (st.st_ino == expected.st_ino && st.st_dev == expected.st_dev)
                {
                    return (fd, ListNames(fd));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
            {
            }
            Sys.Close(fd);
            return null;
        }

        /// <summary>Opens <c>..</c> of the directory just finished and keeps it only if it is <paramref name="parent"/>.</summary>
        private static bool Reopen(int childFd, Frame parent)
        {
            int fd;
            try
            {
                fd = Sys.OpenAt(childFd, "..", Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_, 0, "..");
            }
            catch (SyscallException)
            {
                return false;
            }
            var st = Sys.FStat(fd, "..");
            if (st.st_ino != parent.Stat.st_ino || st.st_dev != parent.Stat.st_dev)
            {
                Sys.Close(fd);
                return false;
            }
            parent.Fd = fd;
            return true;
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
