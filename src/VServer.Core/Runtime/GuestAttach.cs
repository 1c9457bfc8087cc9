using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using VServer.Config;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// The description <c>vserver-ns attach</c> runs a command in a running guest by (src/native/vserver-ns.c):
/// the guest's init (pid and start time), its cgroups, the seccomp filter crun compiled for it at
/// create, and the process the runtime's exec would start — user, groups, capabilities, resource
/// limits, directory, environment, command — as NUL-terminated <c>key=value</c> records. Made from
/// the same process JSON the runtime's exec is given, so the two start the same process; null
/// where vserver-ns cannot start it as the runtime would (the runtime is not crun, a process field
/// it does not know, a filter crun did not leave), and the runtime's exec is used.
/// </summary>
public static class GuestAttach
{
    /// <summary>The process fields vserver-ns carries out; any other field leaves the exec to the runtime.</summary>
    private static readonly HashSet<string> KnownFields = new(StringComparer.Ordinal)
    {
        "terminal", "user", "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges",
    };

    /// <summary>Each capability's number (its place in <see cref="Capabilities.All"/>, capability.h's order).</summary>
    private static readonly Dictionary<string, int> CapabilityNumbers =
        Capabilities.All.Select((name, number) => (name, number)).ToDictionary(c => c.name, c => c.number, StringComparer.Ordinal);

    /// <summary>Resource numbers of <c>RLIMIT_*</c> (asm-generic/resource.h, x86-64 and arm64 alike).</summary>
    private static readonly string[] Rlimits =
    {
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
        "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    };

    /// <summary>
    /// The records of a plain command (the guest's default user, directory and environment) without
    /// the command, in the run directory while the guest runs, after a first record naming vserver-ns:
    /// the vserver command's native entry (src/native/vserver-main.c) runs <c>vserver NAME exec</c>
    /// from it without starting .NET. Only the start and a live change write it (they hold the guest's
    /// lock); the run directory's clearing at the stop removes it.
    /// </summary>
    public static string ExecRecordsFile(RunDirectory run) => Path.Combine(run.Dir, "exec.records");

    /// <summary>
    /// Writes (or removes) <see cref="ExecRecordsFile"/> for the running guest of <paramref name="state"/>.
    /// A guest whose commands vserver-ns cannot run, or with the private flag (no command from the
    /// host), has none, and the vserver command takes its .NET path. Never throws: without the file
    /// the command is only slower.
    /// </summary>
    /// <param name="bundleProcess">The bundle's process as just generated; null: read from the bundle.</param>
    public static void WriteExecRecords(RunDirectory run, RunState state, GuestConfig config, JsonObject? bundleProcess = null)
    {
        var file = ExecRecordsFile(run);
        try
        {
            if (!config.Flags.Contains("private") && GuestRuntime.CompanionProgram(OciRuntime.NamespaceHelper) is string helper
                && (bundleProcess ?? JsonNode.Parse(File.ReadAllText(run.ConfigJson))?["process"]) is JsonObject bundle)
            {
                var process = OciBundle.ExecProcess(bundle, Array.Empty<string>());
                if (Records(process, state, new OciRuntime(state.Runtime, state.RuntimeRoot), run.Id, LiveSettings.AppliedNice(state)) is byte[] records)
                {
                    AtomicFile.WriteAllBytes(file, Encoding.UTF8.GetBytes("helper=" + RuntimeBinary.For(helper) + "\0").Concat(records).ToArray(), durable: false);
                    return;
                }
            }
            File.Delete(file);
        }
        catch (Exception)
        {
            // never fails a start or a change: without the file the vserver command takes its .NET path
            try
            {
                File.Delete(file);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>crun's compiled seccomp filter of a container, kept in its state directory for its execs.</summary>
    public static string SeccompFilter(OciRuntime runtime, string id) => Path.Combine(runtime.StateRoot, id, "seccomp.bpf");

    /// <summary>The records for <paramref name="process"/> in the guest of <paramref name="state"/> (its running start); null to leave it to the runtime.</summary>
    /// <param name="nice">The guest's nice value as applied; null: the command keeps the caller's.</param>
    public static byte[]? Records(JsonObject process, RunState state, OciRuntime runtime, string id, int? nice)
    {
        if (runtime.Name != "crun" || process.Any(kv => !KnownFields.Contains(kv.Key)) || (bool?)process["terminal"] == true)
        {
            return null;
        }
        var r = new StringBuilder();
        void Add(string key, string value)
        {
            if (value.Contains('\0'))
            {
                throw new VServerException("InvalidArgument", ErrorKind.InvalidArgument, $"'{value.Replace("\0", "\\0", StringComparison.Ordinal)}' holds a NUL character.", value);
            }
            r.Append(key).Append('=').Append(value).Append('\0');
        }
        string N(ulong n) => n.ToString(CultureInfo.InvariantCulture);

        Add("pid", state.InitPid.ToString(CultureInfo.InvariantCulture));
        Add("ticks", N(state.InitStartTicks));
        // the bundle's cgroup, where the runtime put init and puts its execs (the guest's cgroup namespace's root)
        foreach (var dir in Cgroups.Existing(Cgroups.PayloadOf(state.CgroupsPath)))
        {
            Add("cgroup", Path.Combine(dir, "cgroup.procs"));
        }
        var filter = SeccompFilter(runtime, id);
        if (File.Exists(filter))
        {
            Add("seccomp", filter);
        }
        else
        {
            return null; // every guest has a filter: crun keeps it there, or this crun does not
        }
        if (nice is int n)
        {
            Add("nice", n.ToString(CultureInfo.InvariantCulture));
        }
        foreach (var limit in process["rlimits"] as JsonArray ?? new JsonArray())
        {
            var index = Array.IndexOf(Rlimits, (string?)limit?["type"]);
            if (index < 0)
            {
                return null;
            }
            Add("rlimit", $"{index},{N(Number(limit!["soft"]))},{N(Number(limit["hard"]))}");
        }
        var user = process["user"] as JsonObject;
        if (user is not null && user.Any(kv => kv.Key is not ("uid" or "gid" or "additionalGids")))
        {
            return null; // umask, username: the runtime's
        }
        Add("uid", N(Number(user?["uid"])));
        Add("gid", N(Number(user?["gid"])));
        foreach (var g in user?["additionalGids"] as JsonArray ?? new JsonArray())
        {
            Add("group", N(Number(g)));
        }
        var caps = process["capabilities"] as JsonObject ?? new JsonObject();
        foreach (var set in new[] { "bounding", "effective", "permitted", "inheritable", "ambient" })
        {
            if (Mask(caps[set] as JsonArray) is not ulong mask)
            {
                return null;
            }
            Add(set, "0x" + mask.ToString("x", CultureInfo.InvariantCulture));
        }
        if ((bool?)process["noNewPrivileges"] == true)
        {
            Add("no_new_privs", "1");
        }
        Add("cwd", (string?)process["cwd"] ?? "/");
        foreach (var e in process["env"] as JsonArray ?? new JsonArray())
        {
            Add("env", (string)e!);
        }
        foreach (var a in process["args"] as JsonArray ?? new JsonArray())
        {
            Add("arg", (string)a!);
        }
        return Encoding.UTF8.GetBytes(r.ToString());
    }

    /// <summary>A non-negative number of the process JSON, parsed or just built (whose values keep their C# type); 0 when absent.</summary>
    private static ulong Number(JsonNode? node)
    {
        if (node is null)
        {
            return 0;
        }
        var v = node.AsValue();
        if (v.TryGetValue<ulong>(out var u))
        {
            return u;
        }
        if (v.TryGetValue<long>(out var l) && l >= 0)
        {
            return (ulong)l;
        }
        if (v.TryGetValue<uint>(out var ui))
        {
            return ui;
        }
        if (v.TryGetValue<int>(out var i) && i >= 0)
        {
            return (ulong)i;
        }
        throw new VServerException("InvalidArgument", ErrorKind.InvalidArgument, $"'{node.ToJsonString()}' is not a number the exec can use.", node.ToJsonString());
    }

    /// <summary>A capability set as a bit mask (bit N: capability N); null for a name this kernel's list lacks.</summary>
    private static ulong? Mask(JsonArray? names)
    {
        ulong mask = 0;
        foreach (var name in names ?? new JsonArray())
        {
            if (!CapabilityNumbers.TryGetValue((string?)name ?? "", out var number))
            {
                return null;
            }
            mask |= 1UL << number;
        }
        return mask;
    }
}
