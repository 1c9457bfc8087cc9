using System.Globalization;
using System.Net;
using VServer.Config;

namespace VServer.Storage;

/// <summary>
/// Reads and writes util-vserver configuration directories (<c>/etc/vservers/NAME/</c>): one
/// value per file, one entry per line. Reading accepts what util-vserver writes (<c>flags</c> as
/// well as <c>cflags</c>, <c>interfaces/{dev,prefix,mask}</c> defaults, <c>mask</c> beside
/// <c>prefix</c>, v1 cgroup file names); writing replaces each changed file atomically.
/// </summary>
public static class ConfigDirectory
{
    private const long CpuPeriod = 100_000;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Files this module owns: a write removes those no longer set.</summary>
    private static readonly string[] ManagedFiles =
    {
        "context", "name", "uts/nodename", "uts/domainname", "cflags", "flags", "bcapabilities", "nice", "fstab",
        "apps/init/style", "apps/init/cmd.start", "apps/init/cmd.stop",
        "cgroup/memory.max", "cgroup/cpu.max", "cgroup/pids.max", "template", "netmode", "netbridge",
    };

    public static GuestConfig Read(string dir, string name, VServerPaths paths)
    {
        if (!Directory.Exists(dir))
        {
            throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{name}' exists (no directory {dir}).", name);
        }
        var c = new GuestConfig(name);
        string? Text(string rel)
        {
            var p = Path.Combine(dir, rel);
            return File.Exists(p) ? File.ReadAllText(p).Trim() : null;
        }
        IEnumerable<string> Lines(string rel)
        {
            var p = Path.Combine(dir, rel);
            return File.Exists(p)
                ? File.ReadAllLines(p).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
                : Array.Empty<string>();
        }
        VServerException Bad(string rel, string value, string why) => new("InvalidConfiguration", ErrorKind.InvalidData,
            $"Guest '{name}': {Path.Combine(dir, rel)} holds '{value}', which {why}.", name);

        if (Text("context") is string ctx && ctx.Length > 0)
        {
            c.Context = int.TryParse(ctx, NumberStyles.None, Inv, out var x) ? x : throw Bad("context", ctx, "is not a context number");
        }
        // names the guest is shown and started with: checked as when they are set (they reach terminals and the runtime)
        string? Name(string rel) => NullIfEmpty(Text(rel)) is string v
            ? (Validate.IsValidHostname(v) ? v : throw Bad(rel, v, "is not a valid host or domain name"))
            : null;
        c.Hostname = Name("uts/nodename");
        c.Domainname = Name("uts/domainname");
        var flags = File.Exists(Path.Combine(dir, "cflags")) ? Lines("cflags") : Lines("flags");
        c.Flags = flags.Select(f => f.ToLowerInvariant()).Distinct().ToList();
        c.Capabilities = Lines("bcapabilities").Select(l =>
        {
            try { return Capabilities.Normalize(l); }
            catch (VServerException) { return l; } // kept as data; start refuses it with a clear message
        }).ToList();
        c.Interfaces = ReadInterfaces(Path.Combine(dir, "interfaces"), name);
        c.Fstab = File.Exists(Path.Combine(dir, "fstab")) ? File.ReadAllLines(Path.Combine(dir, "fstab")).ToList() : new();
        c.ResourceLimits = ReadRlimits(Path.Combine(dir, "rlimits"), name);
        if (Text("nice") is string nice && nice.Length > 0)
        {
            c.Nice = int.TryParse(nice, NumberStyles.AllowLeadingSign, Inv, out var n) ? n : throw Bad("nice", nice, "is not a number");
        }
        if (Text("apps/init/style") is string style && style.Length > 0)
        {
            c.InitStyle = style.ToLowerInvariant() switch
            {
                "sysv" => InitStyle.Sysv,
                "plain" => InitStyle.Plain,
                "command" => InitStyle.Command,
                "auto" => InitStyle.Auto,
                _ => throw Bad("apps/init/style", style, "is not an init style VServer supports (sysv, plain, command, auto)"),
            };
        }
        var start = Lines("apps/init/cmd.start").ToArray();
        c.StartCommand = start.Length > 0 ? start : null;
        var stop = Lines("apps/init/cmd.stop").ToArray();
        c.StopCommand = stop.Length > 0 ? stop : null;
        c.OnBoot = string.Equals(Text("apps/init/mark"), "default", StringComparison.Ordinal);

        if ((Text("cgroup/memory.max") ?? Text("cgroup/memory.limit_in_bytes")) is string mem && mem.Length > 0 && mem != "max")
        {
            c.MemoryLimit = long.TryParse(mem, NumberStyles.None, Inv, out var m) ? m : throw Bad("cgroup/memory.max", mem, "is not a byte count");
        }
        if (Text("cgroup/cpu.max") is string cpu && cpu.Length > 0 && !cpu.StartsWith("max", StringComparison.Ordinal))
        {
            var parts = cpu.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length is < 1 or > 2 || !long.TryParse(parts[0], NumberStyles.None, Inv, out var quota))
            {
                throw Bad("cgroup/cpu.max", cpu, "is not '<quota> <period>'");
            }
            var period = parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, Inv, out var p) && p > 0 ? p : CpuPeriod;
            c.CpuLimit = Math.Round((double)quota / period, 4);
        }
        if (Text("cgroup/pids.max") is string pids && pids.Length > 0 && pids != "max")
        {
            c.ProcessLimit = long.TryParse(pids, NumberStyles.None, Inv, out var pl) ? pl : throw Bad("cgroup/pids.max", pids, "is not a number");
        }
        c.Template = NullIfEmpty(Text("template"));
        if (NullIfEmpty(Text("netmode")) is string mode)
        {
            c.NetworkMode = Enum.TryParse<NetworkMode>(mode, ignoreCase: true, out var m) && Enum.IsDefined(m) && !int.TryParse(mode, out _)
                ? m : throw Bad("netmode", mode, "is not a network mode (bridge, ipvlan, host, none)");
        }
        c.Bridge = NullIfEmpty(Text("netbridge"));
        var vdir = Path.Combine(dir, "vdir");
        var link = new FileInfo(vdir).LinkTarget;
        if (link is not null)
        {
            c.Root = Path.GetFullPath(link, dir);
        }
        else if (File.Exists(vdir))
        {
            c.Root = NullIfEmpty(File.ReadAllText(vdir).Trim());
        }
        return c;
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static List<InterfaceSpec> ReadInterfaces(string dir, string guest)
    {
        var list = new List<InterfaceSpec>();
        if (!Directory.Exists(dir))
        {
            return list;
        }
        string? T(string d, string f) => File.Exists(Path.Combine(d, f)) ? File.ReadAllText(Path.Combine(d, f)).Trim() : null;
        var defDev = T(dir, "dev");
        var defPrefix = T(dir, "prefix");
        var defMask = T(dir, "mask");
        var subdirs = Directory.GetDirectories(dir).OrderBy(d => int.TryParse(Path.GetFileName(d), out var n) ? n : int.MaxValue)
            .ThenBy(d => d, StringComparer.Ordinal);
        foreach (var d in subdirs)
        {
            var ip = T(d, "ip");
            if (string.IsNullOrEmpty(ip) || File.Exists(Path.Combine(d, "disabled")))
            {
                continue;
            }
            if (!IPAddress.TryParse(ip, out var addr))
            {
                throw new VServerException("InvalidConfiguration", ErrorKind.InvalidData,
                    $"Guest '{guest}': {Path.Combine(d, "ip")} holds '{ip}', which is not an IP address.", guest);
            }
            var prefixText = T(d, "prefix") ?? T(d, "mask") ?? defPrefix ?? defMask;
            int? prefix = null;
            if (!string.IsNullOrEmpty(prefixText))
            {
                prefix = InterfaceSpec.ParsePrefix(prefixText, addr.AddressFamily) ?? throw new VServerException("InvalidConfiguration",
                    ErrorKind.InvalidData, $"Guest '{guest}': interface {Path.GetFileName(d)} has prefix or mask '{prefixText}', which is not valid.", guest);
            }
            var dev = T(d, "dev") ?? defDev;
            list.Add(new InterfaceSpec(addr, prefix, string.IsNullOrEmpty(dev) ? null : dev, NullIfEmpty(T(d, "name")),
                File.Exists(Path.Combine(d, "nodev"))));
        }
        return list;
    }

    private static List<ResourceLimit> ReadRlimits(string dir, string guest)
    {
        var result = new Dictionary<string, ResourceLimit>();
        if (!Directory.Exists(dir))
        {
            return new();
        }
        foreach (var f in Directory.GetFiles(dir).OrderBy(f => f, StringComparer.Ordinal))
        {
            var file = Path.GetFileName(f);
            var dot = file.IndexOf('.');
            var res = dot < 0 ? file : file[..dot];
            var side = dot < 0 ? "" : file[(dot + 1)..];
            if (!ResourceLimit.Resources.Contains(res) || side is not ("" or "hard" or "soft"))
            {
                continue; // .min and unknown resources are util-vserver features we do not apply
            }
            var text = File.ReadAllText(f).Trim();
            ulong v;
            try
            {
                v = ResourceLimit.ParseValue(text, res);
            }
            catch (VServerException)
            {
                throw new VServerException("InvalidConfiguration", ErrorKind.InvalidData,
                    $"Guest '{guest}': {f} holds '{text}', which is not a number or 'inf'.", guest);
            }
            var cur = result.TryGetValue(res, out var r) ? r : new ResourceLimit(res, null, null);
            result[res] = side switch
            {
                "hard" => cur with { Hard = v },
                "soft" => cur with { Soft = v },
                _ => new ResourceLimit(res, cur.Soft ?? v, cur.Hard ?? v),
            };
        }
        return result.Values.OrderBy(r => r.Resource, StringComparer.Ordinal).ToList();
    }

    /// <summary>The files a configuration consists of, relative path → content.</summary>
    public static SortedDictionary<string, string> Render(GuestConfig c)
    {
        var f = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (c.Context is int ctx)
        {
            f["context"] = ctx.ToString(Inv) + "\n";
        }
        f["name"] = c.Name + "\n";
        if (c.Hostname is not null)
        {
            f["uts/nodename"] = c.Hostname + "\n";
        }
        if (c.Domainname is not null)
        {
            f["uts/domainname"] = c.Domainname + "\n";
        }
        if (c.Flags.Count > 0)
        {
            f["cflags"] = string.Concat(c.Flags.Select(x => x + "\n"));
        }
        if (c.Capabilities.Count > 0)
        {
            f["bcapabilities"] = string.Concat(c.Capabilities.Select(x => x + "\n"));
        }
        for (var i = 0; i < c.Interfaces.Count; i++)
        {
            var itf = c.Interfaces[i];
            var d = "interfaces/" + i.ToString(Inv) + "/";
            f[d + "ip"] = itf.Address + "\n";
            if (itf.Prefix is int p)
            {
                f[d + "prefix"] = p.ToString(Inv) + "\n";
            }
            if (itf.Device is not null)
            {
                f[d + "dev"] = itf.Device + "\n";
            }
            if (itf.Name is not null)
            {
                f[d + "name"] = itf.Name + "\n";
            }
            if (itf.NoDev)
            {
                f[d + "nodev"] = "";
            }
        }
        if (c.Fstab.Count > 0)
        {
            f["fstab"] = string.Concat(c.Fstab.Select(x => x + "\n"));
        }
        foreach (var r in c.ResourceLimits)
        {
            if (r.Soft == r.Hard && r.Soft is ulong both)
            {
                f["rlimits/" + r.Resource] = ResourceLimit.Format(both) + "\n";
                continue;
            }
            if (r.Soft is ulong s)
            {
                f["rlimits/" + r.Resource + ".soft"] = ResourceLimit.Format(s) + "\n";
            }
            if (r.Hard is ulong h)
            {
                f["rlimits/" + r.Resource + ".hard"] = ResourceLimit.Format(h) + "\n";
            }
        }
        if (c.Nice is int nice)
        {
            f["nice"] = nice.ToString(Inv) + "\n";
        }
        f["apps/init/style"] = c.InitStyle.ToString().ToLowerInvariant() + "\n";
        if (c.StartCommand is { Count: > 0 })
        {
            f["apps/init/cmd.start"] = string.Concat(c.StartCommand.Select(a => a + "\n"));
        }
        if (c.StopCommand is { Count: > 0 })
        {
            f["apps/init/cmd.stop"] = string.Concat(c.StopCommand.Select(a => a + "\n"));
        }
        if (c.OnBoot)
        {
            f["apps/init/mark"] = "default\n";
        }
        if (c.MemoryLimit is long mem)
        {
            f["cgroup/memory.max"] = mem.ToString(Inv) + "\n";
        }
        if (c.CpuLimit is double cpu)
        {
            f["cgroup/cpu.max"] = ((long)Math.Round(cpu * CpuPeriod)).ToString(Inv) + " " + CpuPeriod.ToString(Inv) + "\n";
        }
        if (c.ProcessLimit is long pids)
        {
            f["cgroup/pids.max"] = pids.ToString(Inv) + "\n";
        }
        if (c.Template is not null)
        {
            f["template"] = c.Template + "\n";
        }
        if (c.NetworkMode is NetworkMode mode)
        {
            f["netmode"] = mode.ToString().ToLowerInvariant() + "\n";
        }
        if (c.Bridge is not null)
        {
            f["netbridge"] = c.Bridge + "\n";
        }
        return f;
    }

    /// <summary>
    /// Brings <paramref name="dir"/> to the rendered configuration: changed files are replaced
    /// atomically, files this module owns that are no longer set are removed, others are left alone.
    /// </summary>
    public static void Write(string dir, GuestConfig c, string rootPath)
    {
        Directory.CreateDirectory(dir);
        var files = Render(c);
        foreach (var (rel, content) in files)
        {
            var p = Path.Combine(dir, rel);
            if (!File.Exists(p) || File.ReadAllText(p) != content)
            {
                AtomicFile.WriteAllText(p, content);
            }
        }
        foreach (var rel in ManagedFiles.Where(m => !files.ContainsKey(m)))
        {
            var p = Path.Combine(dir, rel);
            if (File.Exists(p))
            {
                File.Delete(p);
            }
        }
        var mark = Path.Combine(dir, "apps/init/mark");
        if (!c.OnBoot && File.Exists(mark) && File.ReadAllText(mark).Trim() == "default")
        {
            File.Delete(mark);
        }
        SyncTree(Path.Combine(dir, "interfaces"), files, "interfaces/", keepTopLevel: false);
        SyncTree(Path.Combine(dir, "rlimits"), files, "rlimits/", keepTopLevel: false);

        var vdir = Path.Combine(dir, "vdir");
        var current = new FileInfo(vdir).LinkTarget;
        if (current != rootPath)
        {
            var tmp = vdir + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
            File.CreateSymbolicLink(tmp, rootPath);
            File.Move(tmp, vdir, overwrite: true);
        }
    }

    /// <summary>Removes files under a managed subtree that the rendering no longer contains.</summary>
    private static void SyncTree(string treeDir, SortedDictionary<string, string> files, string prefix, bool keepTopLevel)
    {
        if (!Directory.Exists(treeDir))
        {
            return;
        }
        var root = Path.GetDirectoryName(treeDir)!;
        foreach (var file in Directory.GetFiles(treeDir, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(root, file).Replace('\\', '/');
            var isTop = Path.GetDirectoryName(file) == treeDir;
            if (!files.ContainsKey(rel) && rel.StartsWith(prefix, StringComparison.Ordinal) && !(keepTopLevel && isTop))
            {
                if (prefix == "rlimits/" && !IsManagedRlimit(Path.GetFileName(file)))
                {
                    continue;
                }
                File.Delete(file);
            }
        }
        foreach (var d in Directory.GetDirectories(treeDir).Where(d => !Directory.EnumerateFileSystemEntries(d).Any()))
        {
            Directory.Delete(d);
        }
    }

    private static bool IsManagedRlimit(string file)
    {
        var dot = file.IndexOf('.');
        var res = dot < 0 ? file : file[..dot];
        var side = dot < 0 ? "" : file[(dot + 1)..];
        return ResourceLimit.Resources.Contains(res) && side is "" or "hard" or "soft";
    }
}
