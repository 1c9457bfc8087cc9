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

    [ThreadStatic]
    private static byte[]? t_table;

    /// <summary>The largest mount table read whole into memory; a larger one is read line by line.</summary>
    private const int TableLimit = 64 << 20;

    /// <summary>
    /// The lines of a mount table that hold <paramref name="needle"/> (as bytes), as strings. A host with
    /// hundreds of guests has hundreds of mounts, and a start asks for the cgroup mounts or one mount
    /// point a few times: the table is read into one buffer per thread and only the lines asked for are
    /// made into strings (reading it as strings took a fifth of <c>vserver NAME status</c> on a host with
    /// 200 guests running). Callers still check each line's fields: the needle only rules lines out.
    /// </summary>
    internal static List<string> LinesWith(string mountInfoPath, ReadOnlySpan<byte> needle)
    {
        var buffer = t_table ??= GC.AllocateUninitializedArray<byte>(64 * 1024); // read into, never read unwritten: its pages are touched only as far as the table reaches
        var length = Native.Sys.TryReadSmallFile(mountInfoPath, ref buffer, TableLimit);
        t_table = buffer;
        var lines = new List<string>();
        if (length < 0 || length == TableLimit)
        {
            var text = Encoding.UTF8.GetString(needle);
            lines.AddRange(File.ReadLines(mountInfoPath).Where(l => l.Contains(text, StringComparison.Ordinal)));
            return lines;
        }
        var rest = buffer.AsSpan(0, length);
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf((byte)'\n');
            var line = end < 0 ? rest : rest[..end];
            if (line.IndexOf(needle) >= 0)
            {
                lines.Add(Encoding.UTF8.GetString(line));
            }
            rest = end < 0 ? default : rest[(end + 1)..];
        }
        return lines;
    }

    /// <summary>mountinfo's escaped form of a path (space, tab, newline and backslash as octal), as its fields hold it.</summary>
    internal static string Escape(string path)
    {
        var sb = new StringBuilder(path.Length);
        foreach (var c in path)
        {
            _ = c switch
            {
                ' ' => sb.Append("\\040"),
                '\t' => sb.Append("\\011"),
                '\n' => sb.Append("\\012"),
                '\\' => sb.Append("\\134"),
                _ => sb.Append(c),
            };
        }
        return sb.ToString();
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
        // only lines that name the mount point as a field can be its mounts
        foreach (var line in LinesWith(mountInfoPath, Encoding.UTF8.GetBytes(" " + Escape(target) + " ")))
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
