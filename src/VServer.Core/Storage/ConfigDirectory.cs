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
        "cgroup/memory.max", "cgroup/cpu.max", "cgroup/pids.max", "template", "netmode", "netbridge", "publish", "dns",
        "dlimits/root/space_total", "private-users",
    };

    public static GuestConfig Read(string dir, string name, VServerPaths paths)
    {
        if (!Directory.Exists(dir))
        {
            throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{name}' exists (no directory {dir}).", name);
        }
        var c = new GuestConfig(name);
        string? Text(string rel) => T(dir, rel);
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
        // bcapabilities, or the older name capabilities (seed 003's Beispiel 2)
        c.Capabilities = (File.Exists(Path.Combine(dir, "bcapabilities")) ? Lines("bcapabilities") : Lines("capabilities")).Select(l =>
        {
            try { return Capabilities.Normalize(l); }
            catch (VServerException) { return l; } // kept as data; start refuses it with a clear message
        }).ToList();
        c.Interfaces = ReadInterfaces(Path.Combine(dir, "interfaces"), name);
        c.Fstab = File.Exists(Path.Combine(dir, "fstab")) ? File.ReadAllLines(Path.Combine(dir, "fstab")).ToList() : new();
        // util-vserver's ulimits/ (applied with ulimit in the guest's init) and rlimits/ (the context's): both are resource limits here, rlimits/ first
        c.ResourceLimits = ReadRlimits(Path.Combine(dir, "rlimits"), name);
        foreach (var u in ReadRlimits(Path.Combine(dir, "ulimits"), name).Where(u => c.ResourceLimits.All(r => r.Resource != u.Resource)))
        {
            c.ResourceLimits.Add(u);
        }
        if (Text("nice") is string nice && nice.Length > 0)
        {
            c.Nice = int.TryParse(nice, NumberStyles.AllowLeadingSign, Inv, out var n) ? n : throw Bad("nice", nice, "is not a number");
        }
        ReadDiskLimit(c, dir, Bad);
        if (NullIfEmpty(Text("private-users")) is string users)
        {
            c.PrivateUsers = IdRange.ParseMapLine(users)
                ?? throw Bad("private-users", users, "is not '0 FIRST COUNT' (the guest's uid and gid 0 is host id FIRST, for COUNT ids; FIRST above 0)");
        }
        if (Text("apps/init/style") is string style && style.Length > 0)
        {
            var lower = style.ToLowerInvariant();
            c.InitStyle = lower switch
            {
                "sysv" => InitStyle.Sysv,
                "plain" => InitStyle.Plain,
                "command" => InitStyle.Command,
                "auto" => InitStyle.Auto,
                // util-vserver's other styles, run as their nearest equivalent (named in a warning at start)
                "gentoo" or "arch" or "minit" => InitStyle.Plain,
                "fedora" or "redhat" => InitStyle.Sysv,
                _ => throw Bad("apps/init/style", style, "is not an init style VServer knows (sysv, plain, command, auto; util-vserver's gentoo, arch, minit, fedora, redhat)"),
            };
            c.InitStyleAsWritten = lower is "gentoo" or "arch" or "minit" or "fedora" or "redhat" ? lower : null;
        }
        c.Runlevel = NullIfEmpty(Text("apps/init/runlevel"));
        if (c.Runlevel is string level && !level.All(ch => char.IsAsciiLetterOrDigit(ch)))
        {
            throw Bad("apps/init/runlevel", level, "is not a runlevel");
        }
        foreach (var line in Lines("apps/init/environment"))
        {
            var eq = line.IndexOf('=');
            if (eq <= 0 || line.Contains('\0'))
            {
                throw Bad("apps/init/environment", line, "is not a NAME=value line");
            }
            c.InitEnvironment.Add(line);
        }
        c.Shell = NullIfEmpty(Text("shell"));
        if (c.Shell is string shell && !shell.StartsWith('/'))
        {
            throw Bad("shell", shell, "is not an absolute path inside the guest");
        }
        var sysctl = Path.Combine(dir, "sysctl");
        if (Directory.Exists(sysctl))
        {
            foreach (var d in Directory.GetDirectories(sysctl).Order(StringComparer.Ordinal))
            {
                var key = T(d, "setting");
                var value = T(d, "value");
                if (string.IsNullOrEmpty(key) || value is null)
                {
                    throw Bad("sysctl/" + Path.GetFileName(d), key ?? "", "needs both a 'setting' and a 'value' file");
                }
                c.Sysctls[key] = value;
            }
        }
        c.NotApplied.AddRange(NotAppliedIn(dir));
        var start = Lines("apps/init/cmd.start").ToArray();
        c.StartCommand = start.Length > 0 ? start : null;
        var stop = Lines("apps/init/cmd.stop").ToArray();
        c.StopCommand = stop.Length > 0 ? stop : null;
        c.Mark = NullIfEmpty(Text("apps/init/mark"));
        c.OnBoot = string.Equals(c.Mark, "default", StringComparison.Ordinal);
        c.Depends = Lines("apps/init/depends").Distinct(StringComparer.Ordinal).ToList();

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
        if (Text("cgroup/memory.swap.max") is string swap && swap.Length > 0 && swap != "max")
        {
            c.SwapLimit = long.TryParse(swap, NumberStyles.None, Inv, out var sw) ? sw : throw Bad("cgroup/memory.swap.max", swap, "is not a byte count");
        }
        if (Text("cgroup/cpu.weight") is string weight && weight.Length > 0)
        {
            c.CpuWeight = int.TryParse(weight, NumberStyles.None, Inv, out var w) && w is >= 1 and <= 10000 ? w : throw Bad("cgroup/cpu.weight", weight, "is not a weight from 1 to 10000");
        }
        if (Text("cgroup/pids.max") is string pids && pids.Length > 0 && pids != "max")
        {
            c.ProcessLimit = long.TryParse(pids, NumberStyles.None, Inv, out var pl) ? pl : throw Bad("cgroup/pids.max", pids, "is not a number");
        }
        c.Template = NullIfEmpty(Text("template"));
        if (NullIfEmpty(Text("netmode")) is string mode)
        {
            c.NetworkMode = ParseNetworkMode(mode) ?? throw Bad("netmode", mode, "is not a network mode (bridge, ipvlan, macvlan, host, none)");
        }
        c.Bridge = NullIfEmpty(Text("netbridge"));
        c.DnsServers = Lines("dns").ToList();
        foreach (var d in c.DnsServers.Where(d => !d.Equals("none", StringComparison.OrdinalIgnoreCase) && !IPAddress.TryParse(d, out _)))
        {
            throw Bad("dns", d, "is not an IP address of a name server (or none)");
        }
        foreach (var line in Lines("publish"))
        {
            try
            {
                c.Publish.Add(PortMapping.Parse(line));
            }
            catch (VServerException)
            {
                throw Bad("publish", line, "is not [hostaddress:]hostport:guestport[/tcp|udp]");
            }
        }
        c.Root = ReadRoot(dir);
        return c;
    }

    /// <summary>
    /// netmode's word, in any case (what <c>netmode</c> holds as VServer writes it: the member's name in
    /// lower case); null for anything else, numbers included. Spelled out, not Enum.TryParse: on the
    /// native vserver command, parsing an enum by name builds the enum's reflection data at each start.
    /// </summary>
    internal static NetworkMode? ParseNetworkMode(string word) => word.ToLowerInvariant() switch
    {
        "bridge" => NetworkMode.Bridge,
        "ipvlan" => NetworkMode.IPvlan,
        "host" => NetworkMode.Host,
        "none" => NetworkMode.None,
        "macvlan" => NetworkMode.Macvlan,
        _ => null,
    };

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>util-vserver settings VServer reads but cannot apply on today's kernels, with why: each is named in a warning at every start.</summary>
    private static readonly (string Path, string Why)[] NotAppliedSettings =
    {
        ("ccapabilities", "context capabilities have no equivalent without CAP_SYS_ADMIN (SET_UTSNAME: the guest cannot rename itself; use -Hostname)"),
        ("fstab.remote", "mounts in the host's namespace are not made; mount them on the host and bind them with fstab"),
        ("apps/vunify", "vunify's per-guest settings are not read; use Invoke-VServerUnify -Exclude"),
        ("nflags", "network context flags have no equivalent in a network namespace"),
        ("ncapabilities", "network context capabilities have no equivalent in a network namespace"),
        ("schedule", "the token-bucket scheduler is gone; use -CpuLimit"),
        ("cpuset", "not applied: pin the guest's cgroup by hand"),
    };

    private static IEnumerable<string> NotAppliedIn(string dir)
    {
        foreach (var (rel, why) in NotAppliedSettings)
        {
            var p = Path.Combine(dir, rel);
            if (File.Exists(p) ? new FileInfo(p).Length > 0 : Directory.Exists(p) && Directory.EnumerateFileSystemEntries(p).Any())
            {
                yield return rel + ": " + why;
            }
        }
        var itf = Path.Combine(dir, "interfaces");
        if (Directory.Exists(itf))
        {
            foreach (var d in EntryDirectories(itf).Where(d => !File.Exists(Path.Combine(d, "disabled"))))
            {
                foreach (var f in new[] { "bcast", "scope" }.Where(f => File.Exists(Path.Combine(d, f))))
                {
                    yield return $"interfaces/{Path.GetFileName(d)}/{f}: " + (f == "bcast" ? "the broadcast address follows from the prefix" : "addresses get the kernel's scope");
                }
            }
        }
    }

    private static List<InterfaceSpec> ReadInterfaces(string dir, string guest)
    {
        var list = new List<InterfaceSpec>();
        if (!Directory.Exists(dir))
        {
            return list;
        }
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
            var text = SmallFile.ReadText(f).Trim();
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
        if (c.SwapLimit is long swap)
        {
            f["cgroup/memory.swap.max"] = swap.ToString(Inv) + "\n";
        }
        if (c.CpuWeight is int weight)
        {
            f["cgroup/cpu.weight"] = weight.ToString(Inv) + "\n";
        }
        if (c.ProcessLimit is long pids)
        {
            f["cgroup/pids.max"] = pids.ToString(Inv) + "\n";
        }
        if (c.DiskLimit is long disk)
        {
            f["dlimits/root/space_total"] = ((disk + 1023) / 1024).ToString(Inv) + "\n"; // util-vserver's unit: KiB
        }
        if (c.PrivateUsers is { IsPending: false } users)
        {
            f["private-users"] = users.ToMapLine() + "\n";
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
        if (c.DnsServers.Count > 0)
        {
            f["dns"] = string.Concat(c.DnsServers.Select(d => d + "\n"));
        }
        if (c.Publish.Count > 0)
        {
            f["publish"] = string.Concat(c.Publish.Select(p => p + "\n"));
        }
        return f;
    }

    /// <summary>
    /// Brings <paramref name="dir"/> to the configuration, touching only what changed. The
    /// directory's current configuration is read first; a setting whose value is the same is not
    /// written at all, whatever bytes its file holds (util-vserver's <c>flags</c>, a <c>mask</c>
    /// beside no <c>prefix</c>, numbering like <c>interfaces/00</c>). A changed setting replaces
    /// its own files only; interface entries are matched by value, so a kept entry keeps its
    /// number, <c>bcast</c>, <c>scope</c> and any file VServer does not know, and disabled entries
    /// and the <c>interfaces/{dev,prefix,mask}</c> defaults are never touched. Every file VServer
    /// does not model stays byte for byte. The change is all-or-nothing (<see cref="ConfigTransaction"/>).
    /// </summary>
    public static void Write(string dir, GuestConfig c, string rootPath)
    {
        Directory.CreateDirectory(dir);
        GuestConfig? old = null;
        if (Directory.EnumerateFileSystemEntries(dir).Any()) // a new directory gets every file
        {
            try
            {
                old = Read(dir, c.Name, null!);
            }
            catch (VServerException)
            {
                // unreadable: every setting is written out
            }
        }
        var files = Render(c);
        var before = old is null ? null : Render(old);
        var tx = new ConfigTransaction();
        string? OnDisk(string rel) => SmallFile.ReadTextIfExists(Path.Combine(dir, rel));

        var groups = files.Keys.Concat(before?.Keys ?? Enumerable.Empty<string>()).Concat(ManagedFiles).Append("rlimits")
            .Select(GroupOf).Where(g => g != "interfaces").Distinct(StringComparer.Ordinal).ToArray();
        foreach (var g in groups)
        {
            var want = files.Where(f => GroupOf(f.Key) == g).ToArray();
            if (before is not null && want.SequenceEqual(before.Where(f => GroupOf(f.Key) == g)))
            {
                continue; // the same setting: its files stay as they are
            }
            foreach (var rel in FilesOf(dir, g).Where(rel => !files.ContainsKey(rel)))
            {
                tx.Delete(Path.Combine(dir, rel));
            }
            foreach (var (rel, content) in want.Where(f => OnDisk(f.Key) != f.Value))
            {
                tx.Write(Path.Combine(dir, rel), content);
            }
        }
        if (old is null || !old.Interfaces.SequenceEqual(c.Interfaces))
        {
            PlanInterfaces(Path.Combine(dir, "interfaces"), c.Interfaces, tx);
        }
        if (ReadRoot(dir) != rootPath)
        {
            tx.Link(Path.Combine(dir, "vdir"), rootPath);
        }
        tx.Commit();
    }

    /// <summary>
    /// util-vserver's disk limit: <c>dlimits/ID/space_total</c> (KiB) of the entry VServer writes
    /// (<c>dlimits/root</c>), else of the only entry there is. What btrfs cannot bound (an inode
    /// count, a reserve for root) or a second entry is named as not applied.
    /// </summary>
    private static void ReadDiskLimit(GuestConfig c, string dir, Func<string, string, string, VServerException> bad)
    {
        var limits = Path.Combine(dir, "dlimits");
        if (!Directory.Exists(limits))
        {
            return;
        }
        var entries = Directory.GetDirectories(limits).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        var use = entries.Contains("root") ? "root" : entries.Count == 1 ? entries[0] : null;
        foreach (var e in entries.Where(e => e != use))
        {
            c.NotApplied.Add($"dlimits/{e} (one disk limit per guest: its root's)");
        }
        if (use is null)
        {
            return;
        }
        string? Value(string file) => T(Path.Combine(limits, use), file);
        if (Value("space_total") is string space && space.Length > 0)
        {
            c.DiskLimit = long.TryParse(space, NumberStyles.None, Inv, out var kib) && kib > 0 && kib < long.MaxValue / 1024
                ? kib * 1024
                : throw bad($"dlimits/{use}/space_total", space, "is not a size in KiB");
        }
        foreach (var file in new[] { "inodes_total", "reserved" })
        {
            if (Value(file) is string v && v.Length > 0 && v != "-1" && v != "0")
            {
                c.NotApplied.Add($"dlimits/{use}/{file} {v} (btrfs bounds bytes, not {(file == "reserved" ? "a reserve for root" : "inodes")})");
            }
        }
    }

    /// <summary>The setting a file belongs to (util-vserver's other names for it included).</summary>
    private static string GroupOf(string rel) => rel switch
    {
        _ when rel.StartsWith("dlimits/root/", StringComparison.Ordinal) => "dlimits/root",
        "flags" => "cflags",
        "capabilities" => "bcapabilities",
        "cgroup/memory.limit_in_bytes" => "cgroup/memory.max",
        _ when rel.StartsWith("rlimits/", StringComparison.Ordinal) => "rlimits",
        _ when rel.StartsWith("interfaces/", StringComparison.Ordinal) => "interfaces",
        _ => rel,
    };

    /// <summary>The files on disk that hold a setting (what a changed setting may remove).</summary>
    private static IEnumerable<string> FilesOf(string dir, string group)
    {
        var candidates = group switch
        {
            "cflags" => new[] { "cflags", "flags" },
            "bcapabilities" => new[] { "bcapabilities", "capabilities" },
            "cgroup/memory.max" => new[] { "cgroup/memory.max", "cgroup/memory.limit_in_bytes" },
            "dlimits/root" => new[] { "dlimits/root/space_total" },
            "rlimits" => Directory.Exists(Path.Combine(dir, "rlimits"))
                ? Directory.GetFiles(Path.Combine(dir, "rlimits")).Select(f => Path.GetFileName(f)).Where(IsManagedRlimit).Select(f => "rlimits/" + f).ToArray()
                : Array.Empty<string>(),
            _ => new[] { group },
        };
        foreach (var rel in candidates)
        {
            var p = Path.Combine(dir, rel);
            if (!File.Exists(p))
            {
                continue;
            }
            if (rel == "apps/init/mark" && File.ReadAllText(p).Trim() != "default")
            {
                continue; // another mark than the boot one is the administrator's
            }
            yield return rel;
        }
    }

    /// <summary>The enabled interface entries as read: directory and value, in reading order.</summary>
    private static List<(string Dir, InterfaceSpec Spec)> InterfaceEntries(string dir)
    {
        var result = new List<(string, InterfaceSpec)>();
        if (!Directory.Exists(dir))
        {
            return result;
        }
        var specs = ReadInterfaces(dir, "");
        var dirs = EntryDirectories(dir).Where(d => !string.IsNullOrEmpty(T(d, "ip")) && !File.Exists(Path.Combine(d, "disabled"))).ToList();
        for (var i = 0; i < Math.Min(specs.Count, dirs.Count); i++)
        {
            result.Add((dirs[i], specs[i]));
        }
        return result;
    }

    private static string? T(string d, string f) => SmallFile.ReadTextIfExists(Path.Combine(d, f))?.Trim();

    private static IEnumerable<string> EntryDirectories(string dir) =>
        Directory.GetDirectories(dir).OrderBy(d => int.TryParse(Path.GetFileName(d), out var n) ? n : int.MaxValue).ThenBy(d => d, StringComparer.Ordinal);

    /// <summary>
    /// The interface entries to change: entries whose value stays are kept whole; an address whose
    /// prefix, device or name changed is edited file by file; a new address gets the next free
    /// number (after the existing entries); removed ones are deleted.
    /// </summary>
    private static void PlanInterfaces(string dir, IReadOnlyList<InterfaceSpec> wanted, ConfigTransaction tx)
    {
        var entries = InterfaceEntries(dir);
        var defDev = Directory.Exists(dir) ? NullIfEmpty(T(dir, "dev")) : null;
        var kept = new HashSet<int>();
        var pending = new List<InterfaceSpec>();
        foreach (var spec in wanted)
        {
            var i = Enumerable.Range(0, entries.Count).FirstOrDefault(k => !kept.Contains(k) && entries[k].Spec.Equals(spec), -1);
            if (i >= 0)
            {
                kept.Add(i);
            }
            else
            {
                pending.Add(spec);
            }
        }
        var reusable = Enumerable.Range(0, entries.Count).Where(i => !kept.Contains(i)).ToList();
        var used = Directory.Exists(dir)
            ? Directory.GetDirectories(dir).Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, Inv, out var x) ? x : -1).DefaultIfEmpty(-1).Max()
            : -1;
        foreach (var spec in pending)
        {
            // the same address with another prefix, device or name: its entry is edited (and keeps
            // its number and its other files); a new address gets a new entry after the others
            var same = reusable.FindIndex(i => entries[i].Spec.Address.Equals(spec.Address));
            if (same >= 0)
            {
                var (d, old) = entries[reusable[same]];
                reusable.RemoveAt(same);
                EditEntry(d, old, spec, defDev, tx);
            }
            else
            {
                EditEntry(Path.Combine(dir, (++used).ToString(Inv)), null, spec, defDev, tx);
            }
        }
        foreach (var i in reusable)
        {
            foreach (var f in Directory.GetFiles(entries[i].Dir))
            {
                tx.Delete(f);
            }
        }
    }

    private static void EditEntry(string d, InterfaceSpec? old, InterfaceSpec spec, string? defDev, ConfigTransaction tx)
    {
        void Set(string file, string? value) => tx.Set(Path.Combine(d, file), value);
        if (old is null || !old.Address.Equals(spec.Address))
        {
            Set("ip", spec.Address + "\n");
        }
        if (old is null || old.Prefix != spec.Prefix)
        {
            Set("mask", null);
            Set("prefix", spec.Prefix is int p ? p.ToString(Inv) + "\n" : null);
        }
        if (old is null || old.Device != spec.Device)
        {
            Set("dev", spec.Device is null || spec.Device == defDev ? null : spec.Device + "\n");
        }
        if (old is null || old.Name != spec.Name)
        {
            Set("name", spec.Name is null ? null : spec.Name + "\n");
        }
        if (old is null || old.NoDev != spec.NoDev)
        {
            Set("nodev", spec.NoDev ? "" : null);
        }
    }

    /// <summary>
    /// The guest's root from its <c>vdir</c>: a symlink (absolute or relative to the configuration
    /// directory, possibly a chain through <c>.defaults/vdirbase</c>) resolved to the directory it
    /// ends at, the way util-vserver follows it; these links are the host administrator's, never
    /// a guest's. Null when there is no vdir.
    /// </summary>
    internal static string? ReadRoot(string dir) => ReadRootOf(Path.Combine(dir, "vdir"), dir);

    /// <summary>The root a <c>vdir</c> entry at <paramref name="vdir"/> names, a relative link read from <paramref name="dir"/>.</summary>
    internal static string? ReadRootOf(string vdir, string dir)
    {
        var info = new FileInfo(vdir);
        if (info.LinkTarget is string link)
        {
            var full = Path.GetFullPath(link, dir);
            return Native.Sys.RealPath(full) ?? full;
        }
        if (Directory.Exists(vdir))
        {
            return Native.Sys.RealPath(vdir) ?? vdir;
        }
        return SmallFile.ReadTextIfExists(vdir) is string v ? NullIfEmpty(v.Trim()) : null;
    }

    private static bool IsManagedRlimit(string file)
    {
        var dot = file.IndexOf('.');
        var res = dot < 0 ? file : file[..dot];
        var side = dot < 0 ? "" : file[(dot + 1)..];
        return ResourceLimit.Resources.Contains(res) && side is "" or "hard" or "soft";
    }
}
