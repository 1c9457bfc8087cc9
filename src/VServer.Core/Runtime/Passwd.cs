using System.Globalization;
using System.Text;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// An <c>/etc/passwd</c> read as data: a guest's copy is hostile (read in-root, size-capped,
/// never executed), and names from it are shown with control characters replaced.
/// </summary>
public sealed class Passwd
{
    private readonly List<(string Name, uint Uid, uint Gid)> _entries = new();

    public static readonly Passwd Empty = new("");

    public Passwd(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0].Length > 0 &&
                uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid) &&
                uint.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
            {
                _entries.Add((f[0], uid, gid));
            }
        }
    }

    /// <summary>The host's own <c>/etc/passwd</c> (empty when it cannot be read).</summary>
    public static Passwd Host()
    {
        try
        {
            return new Passwd(File.ReadAllText("/etc/passwd"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Empty;
        }
    }

    /// <summary>A guest's <c>/etc/passwd</c>, opened inside its root (never through a guest's symlink).</summary>
    public static Passwd OfGuest(string root)
    {
        using var fs = GuestRootFs.Open(root);
        return new Passwd(Encoding.UTF8.GetString(fs.ReadFile("etc/passwd", 1 << 20)));
    }

    /// <summary>(uid, gid) of a user name; null when there is none.</summary>
    public (uint Uid, uint Gid)? Find(string name)
    {
        foreach (var e in _entries)
        {
            if (e.Name == name)
            {
                return (e.Uid, e.Gid);
            }
        }
        return null;
    }

    /// <summary>The first name for a uid, made printable; the number when there is none.</summary>
    public string NameOf(uint uid)
    {
        foreach (var e in _entries)
        {
            if (e.Uid == uid)
            {
                return ProcFs.Printable(e.Name);
            }
        }
        return uid.ToString(CultureInfo.InvariantCulture);
    }
}
