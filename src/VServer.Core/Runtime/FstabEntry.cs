namespace VServer.Runtime;

/// <summary>
/// One line of a guest's <c>fstab</c> (util-vserver: <c>none /tmp tmpfs size=16m,mode=1777 0 0</c>,
/// <c>/srv/data /data none bind,ro 0 0</c>), as an OCI mount. The mount target is a path inside
/// the guest; the runtime resolves it inside the guest root, so a symlinked target cannot point
/// the mount at the host.
/// </summary>
public sealed record FstabEntry(string Source, string Target, string Type, IReadOnlyList<string> Options)
{
    /// <summary>Parses a line; null for blank lines and comments.</summary>
    public static FstabEntry? Parse(string line, string guest)
    {
        var t = line.Trim();
        if (t.Length == 0 || t.StartsWith('#'))
        {
            return null;
        }
        var f = t.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 3)
        {
            throw Bad(line, guest, "it needs at least a source, a target and a type");
        }
        var source = Unescape(f[0]);
        var target = Unescape(f[1]);
        var type = f[2];
        if (!target.StartsWith('/') || target.Split('/').Contains(".."))
        {
            throw Bad(line, guest, $"the target '{target}' must be an absolute path inside the guest without '..'");
        }
        var options = (f.Length > 3 ? f[3].Split(',', StringSplitOptions.RemoveEmptyEntries) : Array.Empty<string>())
            .Where(o => o != "defaults").ToList();
        var bind = options.Contains("bind") || options.Contains("rbind") || type == "bind";
        if (bind)
        {
            if (!source.StartsWith('/'))
            {
                throw Bad(line, guest, $"the bind source '{source}' must be an absolute host path");
            }
            type = "bind";
            if (!options.Contains("bind") && !options.Contains("rbind"))
            {
                options.Insert(0, "rbind");
            }
        }
        else if (type is "none" or "")
        {
            throw Bad(line, guest, "give a filesystem type, or 'bind' in the options");
        }
        return new FstabEntry(source, target.Length > 1 ? target.TrimEnd('/') : target, type, options);
    }

    public static IReadOnlyList<FstabEntry> ParseAll(IEnumerable<string> lines, string guest) =>
        lines.Select(l => Parse(l, guest)).OfType<FstabEntry>().ToList();

    // fstab(5) escapes spaces and tabs as \040 and \011.
    private static string Unescape(string s) => s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\134", "\\");

    private static VServerException Bad(string line, string guest, string why) =>
        new("InvalidFstab", ErrorKind.InvalidData, $"Guest '{guest}': the fstab line '{line.Trim()}' is not valid: {why}.", line);
}
