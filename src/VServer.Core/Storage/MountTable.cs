using System.Text;

namespace VServer.Storage;

/// <summary>Reads the mount points of this mount namespace (<c>/proc/self/mountinfo</c>).</summary>
public static class MountTable
{
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
