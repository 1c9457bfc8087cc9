using VServer.Native;
using System.Text.Json.Nodes;

namespace VServer.Runtime;

/// <summary>
/// The OCI runtime (crun or runc) as VServer uses it: its own state directory under the run root,
/// so guests of one VServer installation are kept apart from other containers on the host.
/// </summary>
public sealed class OciRuntime
{
    private static readonly Dictionary<string, OciRuntime> Probed = new();
    private bool? _timeNamespace;

    public OciRuntime(string path, string stateRoot)
    {
        Path = RuntimeBinary.Installed(path);
        StateRoot = stateRoot;
    }

    /// <summary>The runtime binary, as installed.</summary>
    public string Path { get; }

    private string? _program;

    /// <summary>What VServer runs: the read-only mount of <see cref="Path"/> (<see cref="RuntimeBinary"/>), or Path itself where that mount cannot be made.</summary>
    public string Program => _program ??= RuntimeBinary.For(Path);

    /// <summary><c>crun</c> or <c>runc</c>.</summary>
    public string Name => System.IO.Path.GetFileName(Path);

    /// <summary>The runtime's <c>--root</c>: where it keeps the state of our guests.</summary>
    public string StateRoot { get; }

    /// <summary>Whether the runtime supports the time namespace (from <c>features</c>; false when it cannot say).</summary>
    public bool TimeNamespace => _timeNamespace ??= ProbeTimeNamespace();

    public static string StateRootFor(VServerPaths paths) => System.IO.Path.Combine(paths.RunRoot, ".runtime");

    /// <summary>
    /// The runtime to start guests with: <c>VSERVER_RUNTIME</c> (a name or a path) when set, else the
    /// first of crun and runc that can create a container on this host — probed once per process.
    /// </summary>
    public static OciRuntime Resolve(VServerPaths paths)
    {
        var stateRoot = StateRootFor(paths);
        var wanted = Environment.GetEnvironmentVariable("VSERVER_RUNTIME");
        if (!string.IsNullOrWhiteSpace(wanted))
        {
            var p = HostProcess.Find(wanted.Trim()) ?? throw new VServerException("RuntimeNotFound", ErrorKind.NotInstalled,
                $"VSERVER_RUNTIME names '{wanted}', which is not an installed program.", wanted);
            return new OciRuntime(p, stateRoot);
        }
        lock (Probed)
        {
            if (Probed.TryGetValue(stateRoot, out var known))
            {
                return known;
            }
            // what an earlier process of this installation found, while the candidates are the same
            // programs (none installed, removed or replaced since): a probe creates a container,
            // which the vserver command would pay at every start
            var record = System.IO.Path.Combine(paths.RunRoot, ".runtime.probed");
            var candidates = Candidates.Select(HostProcess.Find).ToArray();
            var fingerprint = string.Join(";", candidates.Select(p => p is null ? "-" : p + "@" + File.GetLastWriteTimeUtc(p).Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (ReadProbeRecord(record, fingerprint) is string found && candidates.Contains(found))
            {
                return Probed[stateRoot] = new OciRuntime(found, stateRoot);
            }
            var reasons = new List<string>();
            for (var i = 0; i < Candidates.Length; i++)
            {
                if (candidates[i] is not string p)
                {
                    reasons.Add($"{Candidates[i]}: not installed");
                    continue;
                }
                var rt = new OciRuntime(p, stateRoot);
                var why = rt.Probe(paths.RunRoot);
                if (why is null)
                {
                    WriteProbeRecord(record, p + "\t" + fingerprint);
                    Probed[stateRoot] = rt;
                    return rt;
                }
                reasons.Add($"{Candidates[i]}: {why}");
            }
            throw new VServerException("RuntimeNotFound", ErrorKind.NotInstalled,
                $"No working OCI runtime: {string.Join("; ", reasons)}. Install runc or crun (Debian packages 'runc', 'crun').", "runtime");
        }
    }

    /// <summary>The runtimes tried, in order of preference.</summary>
    private static readonly string[] Candidates = { "crun", "runc" };

    /// <summary>The runtime a probe record names, when it was written for these candidates (<paramref name="fingerprint"/>).</summary>
    private static string? ReadProbeRecord(string record, string fingerprint)
    {
        try
        {
            var parts = File.ReadAllText(record).Trim().Split('\t');
            return parts.Length == 2 && parts[1] == fingerprint ? parts[0] : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void WriteProbeRecord(string record, string content)
    {
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(record)!);
            Storage.AtomicFile.WriteAllText(record, content + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a read-only run root: the next process probes again
        }
    }

    /// <summary>Creates (and deletes) a container that never runs anything; null when that works, else why not.</summary>
    private string? Probe(string runRoot)
    {
        var dir = System.IO.Path.Combine(runRoot, ".probe-" + Guid.NewGuid().ToString("N")[..12]);
        var id = "vserver-probe-" + Environment.ProcessId;
        try
        {
            Directory.CreateDirectory(System.IO.Path.Combine(dir, "rootfs", "proc"));
            Directory.CreateDirectory(System.IO.Path.Combine(dir, "rootfs", "dev")); // crun opens the rootfs's /dev at create
            var probe = System.IO.Path.Combine(dir, "rootfs", "probe"); // never run: create only checks that it could be
            File.WriteAllText(probe, "");
            File.SetUnixFileMode(probe, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            var config = new JsonObject
            {
                ["ociVersion"] = "1.0.2",
                ["process"] = new JsonObject { ["args"] = new JsonArray("/probe"), ["cwd"] = "/", ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 } },
                ["root"] = new JsonObject { ["path"] = "rootfs" },
                ["mounts"] = new JsonArray(new JsonObject { ["destination"] = "/proc", ["type"] = "proc", ["source"] = "proc" }),
                ["linux"] = new JsonObject
                {
                    ["namespaces"] = new JsonArray(new JsonObject { ["type"] = "pid" }, new JsonObject { ["type"] = "mount" }),
                    ["cgroupsPath"] = "/vserver/" + id,
                },
            };
            File.WriteAllText(System.IO.Path.Combine(dir, "config.json"), config.ToJsonString());
            var state = System.IO.Path.Combine(dir, "state");
            var (program, prefix, _) = CreateCommand();
            var r = HostProcess.Run(program, prefix.Concat(new[] { "--root", state, "create", "--bundle", dir, id }), leavesChildren: true);
            HostProcess.Run(Program, new[] { "--root", state, "delete", "--force", id });
            Cgroups.RemoveEmpty("/vserver/" + id);
            return r.ExitCode == 0 ? null : FirstLine(r.StandardError, $"create exited with {r.ExitCode}");
        }
        catch (VServerException e)
        {
            return e.Message;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The program that makes a start's namespaces (src/native/vserver-ns.c), shipped beside the vserver command.</summary>
    public const string NamespaceHelper = "vserver-ns";

    /// <summary>
    /// The program (and its arguments, before the runtime's own) that creates a container: the
    /// runtime itself, or on a hybrid host whose cgroup2 mount holds controllers (where crun
    /// refuses: "cgroups in hybrid mode not supported") crun in a mount namespace of its own
    /// without that mount, so it sees the v1 hierarchies alone and uses them as on a legacy host.
    /// The namespace is a slave copy of the host's: nothing done in it reaches the host, and the
    /// guest's own mount namespace is made from it. Only create needs it: start, exec, kill,
    /// state and delete work on the container crun recorded, with crun called directly. The
    /// namespace is made by <c>vserver-ns create-without</c>, a small static program shipped beside the
    /// vserver command (about 3 ms); where it is missing, by util-linux's unshare, a shell and
    /// umount (about 14 ms).
    /// <paramref name="gateFd"/> (a pipe's read end; -1: none): the create waits for one byte on it
    /// (<c>vserver-ns gate</c>), so conmon can be started before the bundle is written. Gated is false
    /// when vserver-ns is missing: then the create cannot wait and conmon must start after the bundle.
    /// </summary>
    public (string Program, IReadOnlyList<string> Args, bool Gated) CreateCommand(int gateFd = -1)
    {
        var helper = GuestRuntime.CompanionProgram(NamespaceHelper);
        string[] Gate(params string[] command) => gateFd >= 0
            ? new[] { "gate", gateFd.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(command).ToArray()
            : command;
        if (Name != "crun" || !Cgroups.HybridWithControllers())
        {
            return helper is not null && gateFd >= 0 ? (helper, Gate(Program), true) : (Program, Array.Empty<string>(), false);
        }
        if (helper is not null)
        {
            return (helper, Gate("create-without", Cgroups.HybridUnifiedMount, Program), gateFd >= 0);
        }
        var unshare = HostProcess.Find("unshare") ?? throw new VServerException("RuntimeNotFound", ErrorKind.NotInstalled,
            "crun needs unshare (Debian package 'util-linux') on this hybrid cgroup host.", "unshare");
        var umount = HostProcess.Find("umount") ?? throw new VServerException("RuntimeNotFound", ErrorKind.NotInstalled,
            "crun needs umount (Debian package 'mount') on this hybrid cgroup host.", "umount");
        return (unshare, new[] { "--mount", "--propagation", "slave", "/bin/sh", "-c", umount + " -l " + Cgroups.HybridUnifiedMount + " && exec \"$0\" \"$@\"", Program }, false);
    }

    /// <summary>
    /// The runtime behind conmon's <c>-r</c> program and runtime arguments: the program itself, or
    /// for <see cref="CreateCommand"/>'s wrapper its last argument, the one before the runtime's own <c>--root=</c>.
    /// </summary>
    public static string RuntimeOfCreateCommand(string program, IReadOnlyList<string> runtimeArgs) =>
        RuntimeBinary.Installed(System.IO.Path.GetFileName(program) is "unshare" or NamespaceHelper && runtimeArgs.TakeWhile(a => !a.StartsWith("--root=", StringComparison.Ordinal)).LastOrDefault() is string runtime
            ? runtime : program);

    private bool ProbeTimeNamespace()
    {
        try
        {
            var r = HostProcess.Run(Program, new[] { "features" });
            if (r.ExitCode != 0)
            {
                return false;
            }
            var ns = JsonNode.Parse(r.StandardOutput)?["linux"]?["namespaces"]?.AsArray();
            return ns is not null && ns.Any(n => (string?)n == "time");
        }
        catch (Exception e) when (e is VServerException or System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Arguments that come before every subcommand.</summary>
    public IReadOnlyList<string> GlobalArgs => new[] { "--root", StateRoot };

    public ProcessResult Invoke(IEnumerable<string> args, CancellationToken cancel = default,
        Action<string>? onOutput = null, Action<string>? onError = null) =>
        HostProcess.Run(Program, GlobalArgs.Concat(args), cancel, onOutput, onError);

    /// <summary>Runs a subcommand and turns a failure into an error naming the runtime and what it said.</summary>
    public ProcessResult Check(string guest, params string[] args)
    {
        var r = Invoke(args);
        if (r.ExitCode != 0)
        {
            throw new VServerException("RuntimeFailed", ErrorKind.InvalidOperation,
                $"Guest '{guest}': '{Name} {string.Join(' ', args)}' failed ({r.ExitCode}): {FirstLine(r.StandardError, "no message")}", guest);
        }
        return r;
    }

    /// <summary>
    /// Starts a created container: lets its init run the guest's program. For crun that is what
    /// <c>crun start</c> does on a bundle without poststart hooks or a notify socket (VServer's never
    /// have either): open the container's <c>exec.fifo</c> for writing, remove it (crun's state then
    /// says running) and write one byte, which the waiting init reads. Done here, it saves the
    /// runtime's process start (10-14 ms on this path); the fifo opened without blocking, so an init
    /// gone meanwhile is ENXIO at once. Anything else — runc, no fifo, no reader — is the runtime's
    /// own <c>start</c>, which says what is wrong.
    /// </summary>
    public void Start(string guest, string id)
    {
        if (Name == "crun")
        {
            var fifo = System.IO.Path.Combine(StateRoot, id, "exec.fifo");
            int fd;
            try
            {
                fd = Sys.Open(fifo, Sys.O_WRONLY_ | Sys.O_NONBLOCK_ | Sys.O_NOFOLLOW_);
            }
            catch (SyscallException)
            {
                fd = -1;
            }
            if (fd >= 0)
            {
                try
                {
                    File.Delete(fifo);
                    Sys.WriteAll(fd, new byte[] { 0 }, fifo);
                    return;
                }
                finally
                {
                    Sys.Close(fd);
                }
            }
        }
        Check(guest, "start", id);
    }

    /// <summary>The runtime's view of a container: its status (<c>created</c>, <c>running</c>, <c>stopped</c>), or null when it knows no such container.</summary>
    public string? Status(string id)
    {
        var r = Invoke(new[] { "state", id });
        return r.ExitCode != 0 ? null : (string?)JsonNode.Parse(r.StandardOutput)?["status"];
    }

    /// <summary>The error text of a runtime or conmon, reduced to its message (runc logs as <c>time=… level=error msg="…"</c>).</summary>
    public static string FirstLine(string text, string fallback)
    {
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        if (line is null)
        {
            return fallback;
        }
        var msg = line.IndexOf("msg=\"", StringComparison.Ordinal);
        if (msg >= 0)
        {
            var rest = line[(msg + 5)..];
            var end = rest.LastIndexOf('"');
            line = end > 0 ? rest[..end].Replace("\\\"", "\"") : rest;
        }
        return line;
    }
}
