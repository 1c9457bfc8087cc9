using System.Text;

namespace VServer.Storage;

/// <summary>Reads the mount points of this mount namespace (<c>/proc/self/mountinfo</c>).</summary>
public static class MountTable
{
    /// <summary>
    /// What a reader made of a mount table, kept until the table changes: the table's file
    /// (<c>/proc/self/mountinfo</c>) is kept open and polled, and the kernel raises POLLPRI on it once
    /// for each mount, unmount or propagation in that namespace (proc(5)). A start asks for the cgroup
    /// hierarchies a dozen times, and a context check once for each guest on the host; on a host with
    /// hundreds of guests the table has hundreds of lines.
    /// </summary>
    public sealed class Cached<T>
    {
        private readonly Func<string, T> _reader;
        private readonly string _path;
        private readonly object _gate = new();
        private int _fd = -2; // -2: not yet opened; -1: could not be opened or polled (read each time)
        private T _value = default!;
        private bool _read;

        public Cached(Func<string, T> read, string mountInfoPath = "/proc/self/mountinfo")
        {
            _reader = read;
            _path = mountInfoPath;
        }

        public T Get()
        {
            lock (_gate)
            {
                if (Changed() || !_read)
                {
                    _value = _reader(_path);
                    _read = true;
                }
                return _value;
            }
        }

        private bool Changed()
        {
            if (_fd == -2)
            {
                try
                {
                    _fd = Native.Sys.Open(_path, Native.Sys.O_RDONLY_);
                }
                catch (Native.SyscallException)
                {
                    _fd = -1;
                }
                return true; // opened before the read that follows: a change from here on is reported
            }
            if (_fd < 0)
            {
                return true;
            }
            try
            {
                return Native.Sys.PollPriority(_fd);
            }
            catch (Native.SyscallException)
            {
                return true;
            }
        }
    }

    public static IReadOnlyList<string> MountPoints(string mountInfoPath = "/proc/self/mountinfo")
    {
        var list = new List<string>();
        foreach (var line in File.ReadLines(mountInfoPath))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4)
            {
                list.Add(Unescape(fields[4]));
            }
        }
        return list;
    }

    /// <summary>
    /// The mount point of the mount <paramref name="path"/> (already resolved: no symlinks) is on:
    /// the longest mount point it lies at or below. Two paths on the same mount are on one
    /// filesystem, whatever their device numbers say (btrfs gives each subvolume its own).
    /// </summary>
    public static string MountPointOf(string path)
    {
        var p = Path.GetFullPath(path).TrimEnd('/');
        return MountPoints().Where(m => m == "/" || p == m || p.StartsWith(m + "/", StringComparison.Ordinal))
            .OrderByDescending(m => m.Length).FirstOrDefault() ?? "/";
    }

    /// <summary>Mount points at or below <paramref name="dir"/>.</summary>
    public static IReadOnlyList<string> MountPointsUnder(string dir)
    {
        var d = Path.GetFullPath(dir).TrimEnd('/');
        return MountPoints().Where(m => m == d || m.StartsWith(d + "/", StringComparison.Ordinal)).ToArray();
    }

    /// <summary>
    /// The filesystem type of the topmost mount at <paramref name="mountPoint"/> (e.g. <c>fuse.lxcfs</c>),
    /// or null when nothing is mounted there.
    /// </summary>
    public static string? FilesystemAt(string mountPoint, string mountInfoPath = "/proc/self/mountinfo")
    {
        var target = Path.GetFullPath(mountPoint).TrimEnd('/');
        string? type = null;
        foreach (var line in File.ReadLines(mountInfoPath))
        {
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && dash > 4 && dash + 1 < fields.Length && Unescape(fields[4]) == target)
            {
                type = fields[dash + 1]; // later lines are mounted on top of earlier ones
            }
        }
        return type;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as octal (<c>\040</c>).</summary>
    internal static string Unescape(string s)
    {
        if (!s.Contains('\\'))
        {
            return s;
        }
        var bytes = new List<byte>();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && s.Skip(i + 1).Take(3).All(c => c is >= '0' and <= '7'))
            {
                bytes.Add(Convert.ToByte(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(s[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
