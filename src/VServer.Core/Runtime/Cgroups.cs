using System.Globalization;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// The host's cgroup hierarchies (v1 controllers, the v2 unified tree, or both) and the guest
/// cgroups the runtime makes in them. Process membership comes from the kernel's cgroup files.
/// </summary>
public static class Cgroups
{
    /// <summary>Where VServer's guests live in every hierarchy: <c>/vserver/NAME</c>.</summary>
    public const string Parent = "/vserver";

    public static string PathFor(string guest) => Parent + "/" + guest;

    /// <summary>Mount points of the cgroup hierarchies: v1 by controller ("pids", "memory", …) and "" for v2.</summary>
    public static IReadOnlyDictionary<string, string> Hierarchies()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0)
            {
                continue;
            }
            var pre = line[..sep].Split(' ');
            var post = line[(sep + 3)..].Split(' ');
            if (pre.Length < 5 || post.Length < 3)
            {
                continue;
            }
            var mountPoint = MountTable.Unescape(pre[4]);
            if (post[0] == "cgroup2")
            {
                result.TryAdd("", mountPoint);
            }
            else if (post[0] == "cgroup")
            {
                foreach (var opt in post[2].Split(','))
                {
                    // controllers ("pids", "memory") and named hierarchies ("name=systemd")
                    if (opt is not ("rw" or "ro") && (!opt.Contains('=') || opt.StartsWith("name=", StringComparison.Ordinal)))
                    {
                        result.TryAdd(opt, mountPoint);
                    }
                }
            }
        }
        return result;
    }

    /// <summary>
    /// The hierarchy that says which guest a process belongs to: v1 "pids" where it is mounted,
    /// else the v2 tree (""). Every guest has a cgroup of its own there.
    /// </summary>
    public static string MembershipController(IReadOnlyDictionary<string, string>? hierarchies = null) =>
        (hierarchies ?? Hierarchies()).ContainsKey("pids") ? "pids" : "";

    /// <summary>The directory of the hierarchy that counts processes (v1 pids, else v2) for a cgroup path.</summary>
    public static string? ProcessDirectory(string cgroupPath)
    {
        var h = Hierarchies();
        return h.TryGetValue(MembershipController(h), out var mount) ? mount + cgroupPath : null;
    }

    /// <summary>Host pids in a cgroup and the cgroups below it (empty when it does not exist).</summary>
    public static IReadOnlyList<int> Processes(string cgroupPath)
    {
        var dir = ProcessDirectory(cgroupPath);
        var result = new List<int>();
        if (dir is not null)
        {
            Collect(dir, result, 0);
        }
        return result;
    }

    private static void Collect(string dir, List<int> into, int depth)
    {
        try
        {
            foreach (var l in File.ReadLines(Path.Combine(dir, "cgroup.procs")))
            {
                if (int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0)
                {
                    into.Add(pid);
                }
            }
            if (depth < 32)
            {
                foreach (var sub in Directory.EnumerateDirectories(dir))
                {
                    Collect(sub, into, depth + 1); // a cgroup file system has no symlinks
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the cgroup went away while it was read
        }
    }

    /// <summary>
    /// The kernel's CPU accounting for a cgroup, processes that have ended included: v1
    /// <c>cpuacct.stat</c>, else v2 <c>cpu.stat</c>. Null when neither can be read.
    /// </summary>
    public static (TimeSpan User, TimeSpan System)? CpuTimes(string cgroupPath, IReadOnlyDictionary<string, string>? hierarchies = null)
    {
        var h = hierarchies ?? Hierarchies();
        if (h.TryGetValue("cpuacct", out var v1) && ReadKeyed(Path.Combine(v1 + cgroupPath, "cpuacct.stat")) is { } a &&
            a.TryGetValue("user", out var u1) && a.TryGetValue("system", out var s1))
        {
            return (ProcFs.Ticks((ulong)u1), ProcFs.Ticks((ulong)s1));
        }
        if (h.TryGetValue("", out var v2) && ReadKeyed(Path.Combine(v2 + cgroupPath, "cpu.stat")) is { } b &&
            b.TryGetValue("user_usec", out var u2) && b.TryGetValue("system_usec", out var s2))
        {
            return (TimeSpan.FromTicks(u2 * 10), TimeSpan.FromTicks(s2 * 10));
        }
        return null;
    }

    private static Dictionary<string, long>? ReadKeyed(string file)
    {
        try
        {
            var d = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var line in File.ReadLines(file))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                {
                    d[parts[0]] = v;
                }
            }
            return d;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Every existing directory of a cgroup path, in all hierarchies.</summary>
    public static IReadOnlyList<string> Existing(string cgroupPath) =>
        Hierarchies().Values.Distinct().Select(m => m + cgroupPath).Where(Directory.Exists).ToArray();

    /// <summary>Removes a cgroup (and, when it is then empty, VServer's parent) from every hierarchy; what is still busy stays.</summary>
    public static void RemoveEmpty(string cgroupPath)
    {
        foreach (var path in new[] { cgroupPath, Parent })
        {
            foreach (var dir in Existing(path))
            {
                try
                {
                    Directory.Delete(dir); // rmdir: refused while the cgroup has processes or children
                }
                catch (IOException)
                {
                }
            }
        }
    }

    /// <summary>Whether memory+swap can be limited here (v2, or v1 with memsw accounting).</summary>
    public static bool SwapLimitSupported()
    {
        var h = Hierarchies();
        if (h.TryGetValue("memory", out var mem))
        {
            return File.Exists(Path.Combine(mem, "memory.memsw.limit_in_bytes"));
        }
        return h.ContainsKey("");
    }
}
