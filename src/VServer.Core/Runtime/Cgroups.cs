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

    /// <summary>The directory of the hierarchy that counts processes (v1 pids, else v2) for a cgroup path.</summary>
    public static string? ProcessDirectory(string cgroupPath)
    {
        var h = Hierarchies();
        var mount = h.TryGetValue("pids", out var p) ? p : h.TryGetValue("", out var u) ? u : null;
        return mount is null ? null : mount + cgroupPath;
    }

    /// <summary>Host pids in a cgroup (empty when it does not exist).</summary>
    public static IReadOnlyList<int> Processes(string cgroupPath)
    {
        var dir = ProcessDirectory(cgroupPath);
        if (dir is null)
        {
            return Array.Empty<int>();
        }
        try
        {
            return File.ReadAllLines(Path.Combine(dir, "cgroup.procs"))
                .Select(l => int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
                .Where(p => p > 0).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<int>();
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

/// <summary>Reads of <c>/proc/PID</c> that tolerate the process vanishing.</summary>
public static class ProcFs
{
    /// <summary>The fields of <c>/proc/PID/stat</c> VServer reads; null when the process is gone.</summary>
    public static ProcStat? Stat(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var open = stat.IndexOf('(');
        var close = stat.LastIndexOf(')'); // the command name may contain spaces and parentheses
        if (open < 0 || close < open)
        {
            return null;
        }
        var fields = stat[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state); start time is field 22
        return fields.Length > 19 && fields[0].Length == 1 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var t)
            ? new ProcStat(stat[(open + 1)..close], fields[0][0], t)
            : null;
    }

    /// <summary>Start time in clock ticks since boot (field 22); null when the process is gone.</summary>
    public static ulong? StartTicks(int pid) => Stat(pid)?.StartTicks;

    /// <summary>Whether the process with this pid is the one that started at <paramref name="startTicks"/> (not a reused pid) and not a zombie.</summary>
    public static bool IsAlive(int pid, ulong startTicks) =>
        pid > 0 && Stat(pid) is { } s && s.StartTicks == startTicks && !s.IsZombie;
}

/// <summary>A process's command name, state letter and start time, from one read of <c>/proc/PID/stat</c>.</summary>
public sealed record ProcStat(string Comm, char State, ulong StartTicks)
{
    /// <summary>A zombie has not been reaped yet but is gone for every purpose here.</summary>
    public bool IsZombie => State == 'Z';
}
