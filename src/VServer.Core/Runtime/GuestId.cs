using System.Text;
using VServer.Config;

namespace VServer.Runtime;

/// <summary>
/// A guest's name in host-wide places: its run directory and lock, its cgroup, its network
/// namespace, its runtime container id and conmon's exit file. For a name VServer would give a new
/// guest this is the name itself. A name only util-vserver allows (a space, a colon, non-ASCII
/// letters, more than 64 characters) cannot be a runtime id (runc takes <c>[A-Za-z0-9_+.-]</c>),
/// so it becomes <c>+READABLE.HASH</c>: '+' never starts a name VServer gives, so no id of this
/// kind is ever another guest's name, and the hash keeps two such names apart.
/// </summary>
public static class GuestId
{
    public const char Marker = '+';

    public static string Of(string name)
    {
        if (Validate.IsValidGuestName(name))
        {
            return name;
        }
        var readable = new StringBuilder(32);
        foreach (var r in name.EnumerateRunes())
        {
            if (readable.Length >= 24)
            {
                break;
            }
            readable.Append(r.IsAscii && (Rune.IsLetterOrDigit(r) || r.Value is '_' or '.' or '-') ? (char)r.Value : '_');
        }
        var hash = Convert.ToHexString(System.IO.Hashing.XxHash64.Hash(Encoding.UTF8.GetBytes(name))).ToLowerInvariant();
        return Marker + readable.ToString() + "." + hash;
    }

    /// <summary>Whether a run directory or cgroup name is an id of either kind (and so a guest's, not VServer's own '.' files).</summary>
    public static bool IsId(string? id) =>
        !string.IsNullOrEmpty(id) && (Validate.IsValidGuestName(id) || (id[0] == Marker && id.Length > 1 && id.Skip(1).All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')));

    /// <summary>
    /// The guest names behind ids: a plain id is its own name; a '+' id is looked up among the
    /// guests of the config root (what util-vserver lets an administrator name a directory).
    /// </summary>
    public sealed class Resolver
    {
        private readonly VServerPaths _paths;
        private Dictionary<string, string>? _marked;

        public Resolver(VServerPaths paths) => _paths = paths;

        public string? NameOf(string id)
        {
            if (Validate.IsValidGuestName(id))
            {
                return id;
            }
            if (!IsId(id))
            {
                return null;
            }
            _marked ??= MarkedNames();
            return _marked.GetValueOrDefault(id);
        }

        private Dictionary<string, string> MarkedNames()
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            if (Directory.Exists(_paths.ConfigRoot))
            {
                foreach (var n in Directory.EnumerateDirectories(_paths.ConfigRoot).Select(Path.GetFileName))
                {
                    if (n is not null && !Validate.IsValidGuestName(n) && Validate.IsExistingGuestName(n))
                    {
                        map[Of(n)] = n;
                    }
                }
            }
            return map;
        }
    }
}
