using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>What VServer records about a started guest (<c>$RUN_ROOT/NAME/state.json</c>).</summary>
public sealed record RunState
{
    /// <summary>A new value at every start: the exit hook of an earlier start never acts on a later one.</summary>
    public required string Instance { get; init; }
    public required int InitPid { get; init; }
    public required ulong InitStartTicks { get; init; }
    public int ConmonPid { get; init; }
    public required DateTimeOffset StartTime { get; init; }
    public required string Runtime { get; init; }
    public required string RuntimeRoot { get; init; }
    public required string CgroupsPath { get; init; }

    /// <summary>The guest's context number when it was started (a later Set-VServerGuest -Context applies at the next start).</summary>
    public int? Context { get; init; }

    /// <summary>The overlay VServer mounted on a Template guest's root for this start; unmounted when it ends.</summary>
    public string? RootMount { get; init; }

    /// <summary>A private-users guest's host ids for this start (its root is uid First on the host); null: host root.</summary>
    public IdRange? Users { get; init; }

    /// <summary>The network namespace VServer made for this start (vs-NAME); deleted when it ends. Null in Host mode.</summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>The init style this start ran (Auto decided); null in states of older starts.</summary>
    public InitStyle? InitStyle { get; init; }

    /// <summary>What the guest's /sbin/init was at this start (systemd, busybox, another); null in states of older starts and for Sysv and Command guests.</summary>
    public InitKind? InitKind { get; init; }

    /// <summary>The signal a stop sends to this start's init (SIGRTMIN+3 for systemd); null in states of older starts.</summary>
    public int? StopSignal { get; init; }

    /// <summary>
    /// What this start applied, setting by setting (<see cref="LiveSettings.Of"/>), and what a live change
    /// has applied since: a setting configured otherwise is pending until the next start. Null in states of older starts.
    /// </summary>
    public Dictionary<string, string>? Applied { get; init; }

    /// <summary>True when this state was rebuilt from the kernel because the run directory had been lost.</summary>
    public bool Recovered { get; init; }

    /// <summary>Whether the init this start made still runs (same pid and start time, not a zombie).</summary>
    [JsonIgnore]
    public bool InitAlive => ProcFs.IsAlive(InitPid, InitStartTicks);
}

/// <summary>
/// state.json, written and read by hand with System.Text.Json's writer and reader, in the form its
/// serializer gives a <see cref="RunState"/> (members in order, enums as numbers, nulls written; read
/// as it reads: names as written, unknown members passed over, the last of a repeated member kept, a
/// required member missing or a value of the wrong kind makes the file unreadable). Not the serializer:
/// its metadata for each type reads the types' attributes through reflection, which on the native
/// vserver command cost every start and status about 30 fresh pages and 1.5 ms.
/// </summary>
internal static class RunStateJson
{
    public static byte[] Write(RunState s)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("Instance", s.Instance);
            w.WriteNumber("InitPid", s.InitPid);
            w.WriteNumber("InitStartTicks", s.InitStartTicks);
            w.WriteNumber("ConmonPid", s.ConmonPid);
            w.WriteString("StartTime", s.StartTime);
            w.WriteString("Runtime", s.Runtime);
            w.WriteString("RuntimeRoot", s.RuntimeRoot);
            w.WriteString("CgroupsPath", s.CgroupsPath);
            Number(w, "Context", s.Context);
            w.WriteString("RootMount", s.RootMount);
            if (s.Users is IdRange u)
            {
                w.WriteStartObject("Users");
                w.WriteNumber("First", u.First);
                w.WriteNumber("Count", u.Count);
                w.WriteBoolean("IsPending", u.IsPending);
                w.WriteNumber("Last", u.Last);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("Users");
            }
            w.WriteString("NetworkNamespace", s.NetworkNamespace);
            Number(w, "InitStyle", s.InitStyle is InitStyle style ? (int)style : null);
            Number(w, "InitKind", s.InitKind is InitKind kind ? (int)kind : null);
            Number(w, "StopSignal", s.StopSignal);
            if (s.Applied is { } applied)
            {
                w.WriteStartObject("Applied");
                foreach (var (k, v) in applied)
                {
                    w.WriteString(k, v);
                }
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("Applied");
            }
            w.WriteBoolean("Recovered", s.Recovered);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void Number(Utf8JsonWriter w, string name, int? value)
    {
        if (value is int v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    /// <summary>The state the bytes hold; null when they are not a whole state (see the class).</summary>
    public static RunState? Read(ReadOnlySpan<byte> json)
    {
        try
        {
            var r = new Utf8JsonReader(json);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            string? instance = null, runtime = null, runtimeRoot = null, cgroupsPath = null, rootMount = null, netns = null;
            int? initPid = null, context = null, stopSignal = null, style = null, kind = null;
            ulong? ticks = null;
            DateTimeOffset? startTime = null;
            var conmonPid = 0;
            var recovered = false;
            IdRange? users = null;
            Dictionary<string, string>? applied = null;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var name = r.GetString();
                r.Read();
                switch (name)
                {
                    case "Instance": instance = Text(ref r); break;
                    case "InitPid": initPid = r.GetInt32(); break;
                    case "InitStartTicks": ticks = r.GetUInt64(); break;
                    case "ConmonPid": conmonPid = r.GetInt32(); break;
                    case "StartTime": startTime = r.GetDateTimeOffset(); break;
                    case "Runtime": runtime = Text(ref r); break;
                    case "RuntimeRoot": runtimeRoot = Text(ref r); break;
                    case "CgroupsPath": cgroupsPath = Text(ref r); break;
                    case "Context": context = Int(ref r); break;
                    case "RootMount": rootMount = Text(ref r); break;
                    case "Users": users = Range(ref r); break;
                    case "NetworkNamespace": netns = Text(ref r); break;
                    case "InitStyle": style = Int(ref r); break;
                    case "InitKind": kind = Int(ref r); break;
                    case "StopSignal": stopSignal = Int(ref r); break;
                    case "Applied": applied = Map(ref r); break;
                    case "Recovered": recovered = r.GetBoolean(); break;
                    default: r.Skip(); break;
                }
            }
            if (r.TokenType != JsonTokenType.EndObject || r.Read() ||
                instance is null || initPid is null || ticks is null || startTime is null || runtime is null || runtimeRoot is null || cgroupsPath is null)
            {
                return null;
            }
            return new RunState
            {
                Instance = instance, InitPid = initPid.Value, InitStartTicks = ticks.Value, ConmonPid = conmonPid, StartTime = startTime.Value,
                Runtime = runtime, RuntimeRoot = runtimeRoot, CgroupsPath = cgroupsPath, Context = context, RootMount = rootMount, Users = users,
                NetworkNamespace = netns, InitStyle = (InitStyle?)style, InitKind = (InitKind?)kind, StopSignal = stopSignal, Applied = applied, Recovered = recovered,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return null; // not JSON, or a value of another kind (GetInt32 on a string, a number out of range)
        }
    }

    private static string? Text(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : r.GetString();

    private static int? Int(ref Utf8JsonReader r) => r.TokenType == JsonTokenType.Null ? null : r.GetInt32();

    private static IdRange? Range(ref Utf8JsonReader r)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (r.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("Users is not an object");
        }
        long? first = null, count = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var name = r.GetString();
            r.Read();
            switch (name)
            {
                case "First": first = r.GetInt64(); break;
                case "Count": count = r.GetInt64(); break;
                default: r.Skip(); break; // IsPending and Last follow from the two
            }
        }
        return new IdRange(first ?? 0, count ?? 0);
    }

    private static Dictionary<string, string>? Map(ref Utf8JsonReader r)
    {
        if (r.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (r.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("Applied is not an object");
        }
        var map = new Dictionary<string, string>();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var key = r.GetString()!;
            r.Read();
            map[key] = Text(ref r)!;
        }
        return map;
    }
}

/// <summary>A guest's run-time state as Get-VServerGuest reports it.</summary>
public sealed record GuestStatus(GuestState State, int? InitPid, DateTimeOffset? StartTime, int ProcessCount)
{
    public static readonly GuestStatus Stopped = new(GuestState.Stopped, null, null, 0);
}

/// <summary>
/// The run directory of one guest, <c>$RUN_ROOT/ID/</c> (ID is the guest's <see cref="GuestId"/>,
/// its name unless only util-vserver allows that name): the generated bundle, conmon's and the
/// init's pid files, the console log, the exit status conmon records, VServer's state file and the
/// stop marker. The per-guest lock lives beside it (<c>$RUN_ROOT/.ID.lock</c>) so it outlives the directory.
/// </summary>
public sealed class RunDirectory
{
    public RunDirectory(VServerPaths paths, string name)
    {
        Name = name;
        Id = GuestId.Of(name);
        Paths = paths;
        RunRoot = paths.RunRoot;
        Dir = Path.Combine(paths.RunRoot, Id);
        LockFile = Path.Combine(paths.RunRoot, "." + Id + ".lock");
    }

    public string Name { get; }

    /// <summary>The guest's name in host-wide places: the runtime's container id, conmon's exit file, this directory's name.</summary>
    public string Id { get; }
    public VServerPaths Paths { get; }
    public string RunRoot { get; }
    public string Dir { get; }
    public string LockFile { get; }
    public string Bundle => Path.Combine(Dir, "bundle");
    public string ConfigJson => Path.Combine(Bundle, "config.json");
    public string InitPidFile => Path.Combine(Dir, "init.pid");
    public string ConmonPidFile => Path.Combine(Dir, "conmon.pid");
    public string ConsoleLog => Path.Combine(Dir, "console.log");

    /// <summary>The console log of the start before this one (console.log renamed at each start): one older generation.</summary>
    public string PreviousConsoleLog => Path.Combine(Dir, "console.log.1");
    public string ExitDir => Path.Combine(Dir, "exit");
    public string ExitFile => Path.Combine(ExitDir, Id);
    public string AttachDir => Path.Combine(Dir, "attach");
    public string StateFile => Path.Combine(Dir, "state.json");
    public string StoppingFile => Path.Combine(Dir, "stopping");
    public string HookLog => Path.Combine(Dir, "hook.log");

    /// <summary>The guest's context while it runs: what util-vserver's <c>run</c> link names.</summary>
    public string ContextFile => Path.Combine(Dir, "context");

    /// <summary>Where private-users guests' roots are mounted for their runtimes, host-wide: under /run, whose parents anyone may pass.</summary>
    public const string UsersDirectory = "/run/vserver-users";

    /// <summary>
    /// A private-users guest's root as its runtime sees it: an idmapped mount of the guest's root,
    /// there while it runs. The runtime reaches it as the guest's root (inside its user namespace),
    /// so it is neither in the run directory (host root's alone) nor anywhere below the run root
    /// (whose parents an administrator may close), but in
    /// <c>/run/vserver-users/INSTALLATION/ID/</c>, a directory only the guest's root uid may enter
    /// (as Incus keeps its containers' roots). INSTALLATION is <c>default</c> or the installation's key.
    /// </summary>
    public string IdmappedRoot => Path.Combine(UsersDirectory, Paths.InstallationKey.Length == 0 ? "default" : Paths.InstallationKey, Id, "root");

    /// <summary>A private-users guest's user namespace, pinned (a bind of its descriptor) for the runtime to join by path.</summary>
    public string UserNamespaceFile => Path.Combine(Dir, "userns");

    /// <summary>
    /// Takes away the mounts a private-users start made (the pinned user namespace here; the
    /// idmapped root, and a Template guest's idmapped template and layers, in <see cref="UsersDirectory"/>),
    /// detached: the guest's own mount namespace keeps its root. Each mount point is then an empty
    /// directory, removed without recursion, so a mount that could not go never lets a delete reach
    /// the guest's files.
    /// </summary>
    private void UnmountOwn()
    {
        Native.Sys.Unmount(UserNamespaceFile);
        var (lower, layers) = GuestUsers.OverlayLayersBeside(IdmappedRoot);
        foreach (var mountPoint in new[] { IdmappedRoot, lower, layers }.Where(Directory.Exists))
        {
            Native.Sys.Unmount(mountPoint);
            Directory.Delete(mountPoint, recursive: false);
        }
        var own = Path.GetDirectoryName(IdmappedRoot)!;
        if (Directory.Exists(own))
        {
            Directory.Delete(own, recursive: false);
            try
            {
                Directory.Delete(Path.GetDirectoryName(own)!, recursive: false); // the installation's, when no other guest of it runs so
            }
            catch (IOException)
            {
                // another guest's root is there
            }
        }
    }

    /// <summary>
    /// The guests whose init is alive now, from the run directories alone (no config is read):
    /// what the process views need on a host with a hundred guests.
    /// </summary>
    /// <param name="context">Only the guests whose state names this context: a start's check that its
    /// context is free then parses no other guest's state (on a host with 200 guests that check was more
    /// than half of a start's own CPU time).</param>
    public static IReadOnlyList<(string Name, RunState State)> Running(VServerPaths paths, int? context = null)
    {
        var result = new List<(string, RunState)>();
        if (!Directory.Exists(paths.RunRoot))
        {
            return result;
        }
        // the run directories, and the guest cgroups of guests whose run directory was lost (the
        // kernel's word wins: a recovered guest is one whose monitor belongs to this run root)
        var ids = Directory.EnumerateDirectories(paths.RunRoot).Select(Path.GetFileName)
            .Concat(Cgroups.ProcessDirectory(Cgroups.ParentFor(paths)) is string counting ? ListDirectories(counting) : Array.Empty<string?>()) // each guest has one in the counting hierarchy
            .Where(GuestId.IsId)
            .Distinct(StringComparer.Ordinal);
        var names = new GuestId.Resolver(paths);
        foreach (var id in ids)
        {
            // a '+' id whose guest directory is gone (removed or renamed while it ran) cannot be named: its state says nothing of a name either
            if (names.NameOf(id!) is string name && new RunDirectory(paths, name).ReadLiveState(context) is { } state && (context is null || state.Context == context))
            {
                result.Add((name, state));
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return result;
    }

    public HostLock Lock() => HostLock.Acquire(LockFile);

    private static IEnumerable<string?> ListDirectories(string dir)
    {
        try
        {
            return Directory.EnumerateDirectories(dir).Select(Path.GetFileName).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<string?>();
        }
    }

    /// <summary>
    /// The guest's run state. <c>state.json</c> is a cache: when it is missing, unreadable or names an
    /// init that has ended while the guest's cgroup still holds processes (an administrator or
    /// <c>systemd-tmpfiles</c> removed the run directory), the state is rebuilt from what the kernel
    /// holds and written back. Null when the guest has no processes.
    /// </summary>
    public RunState? ReadState()
    {
        var cached = ReadStateFile();
        if (cached is { InitAlive: true })
        {
            return cached;
        }
        return Recover() ?? cached;
    }

    /// <summary>The state while the guest's init is alive (looked at once), else null: what a scan of every guest on the host asks.</summary>
    /// <param name="context">When given, a state file that names another context is taken at its word
    /// (it is written at every start) and neither parsed nor looked at further: null.</param>
    public RunState? ReadLiveState(int? context = null)
    {
        if (ReadStateFile(context, out var otherContext) is { InitAlive: true } cached)
        {
            return cached;
        }
        if (otherContext)
        {
            return null;
        }
        return Recover() is { InitAlive: true } recovered ? recovered : null;
    }

    /// <summary>
    /// Whether a state file's bytes name <paramref name="context"/>, found without parsing the rest:
    /// null when they do not say it plainly once, and the caller parses them. The member is
    /// <c>"Context":N</c> or <c>"Context":null</c>; <see cref="RunState.Applied"/> may hold a
    /// <c>"Context":"N"</c> of its own (a string), which is passed over.
    /// </summary>
    internal static bool? NamesContext(ReadOnlySpan<byte> json, int context)
    {
        var key = "\"Context\":"u8;
        bool? answer = null;
        var found = 0;
        for (var at = json.IndexOf(key); at >= 0;)
        {
            var rest = json[(at + key.Length)..];
            if (rest.StartsWith("\""u8))
            {
                // Applied's string value
            }
            else if (rest.StartsWith("null"u8))
            {
                answer = false;
                found++;
            }
            else
            {
                var digits = 0;
                while (digits < rest.Length && digits < 11 && rest[digits] is >= (byte)'0' and <= (byte)'9')
                {
                    digits++;
                }
                if (digits == 0 || digits == rest.Length || rest[digits] is not ((byte)',' or (byte)'}') ||
                    !int.TryParse(rest[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out var named))
                {
                    return null;
                }
                answer = named == context;
                found++;
            }
            var next = rest.IndexOf(key);
            at = next < 0 ? -1 : at + key.Length + next;
        }
        return found == 1 ? answer : null;
    }

    private RunState? ReadStateFile() => ReadStateFile(null, out _);

    private RunState? ReadStateFile(int? context, out bool otherContext)
    {
        otherContext = false;
        // read without a FileStream (whose open takes a shared flock) and without an exception for a
        // stopped guest's missing file: a context check reads this for every guest on the host
        var buffer = new byte[2048];
        var length = Native.Sys.TryReadSmallFile(StateFile, ref buffer);
        if (length < 0)
        {
            if (!File.Exists(StateFile))
            {
                return null;
            }
            try
            {
                buffer = File.ReadAllBytes(StateFile); // there but unreadable (a user who is not root): the error as it is
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return null; // removed meanwhile: the guest stopped
            }
            length = buffer.Length;
        }
        if (context is int c && NamesContext(buffer.AsSpan(0, length), c) == false)
        {
            otherContext = true;
            return null;
        }
        try
        {
            return RunStateJson.Read(buffer.AsSpan(0, length));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Rebuilds the state of a running guest from the kernel: its init is the process of its cgroup
    /// that is pid 1 of its PID namespace; conmon, the init's parent, carries the instance, the runtime
    /// and this run root on its command line (a monitor of another installation is not ours); the
    /// runtime's own state gives the context and the root mount. Null when nothing runs.
    /// </summary>
    private RunState? Recover()
    {
        var cgroup = Cgroups.PathFor(Paths, Name);
        int? init = null;
        foreach (var pid in Cgroups.Processes(cgroup))
        {
            if (ProcFs.Status(pid) is { NsPids: { Length: >= 2 } ns } && ns[^1] == 1)
            {
                init = pid;
                break;
            }
        }
        if (init is not int initPid || ProcFs.Stat(initPid) is not { IsZombie: false } initStat ||
            ProcFs.Stat(initStat.ParentId) is not { Comm: "conmon", IsZombie: false } ||
            ProcFs.Arguments(initStat.ParentId) is not { } args)
        {
            return null;
        }
        string? Arg(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        var root = args.FirstOrDefault(a => a.StartsWith("--root=", StringComparison.Ordinal))?["--root=".Length..];
        if (Arg("--exit-dir") != ExitDir || Arg("-u") is not string instance || Arg("-r") is not string runtimePath || root is null)
        {
            return null; // another installation's guest of the same name
        }
        var runtimeArgs = args.Select((a, i) => (a, i)).Where(x => x.a == "--runtime-arg" && x.i + 1 < args.Length).Select(x => args[x.i + 1]).ToArray();
        runtimePath = OciRuntime.RuntimeOfCreateCommand(runtimePath, runtimeArgs); // crun behind its hybrid-host wrapper
        var runtime = new OciRuntime(runtimePath, root);
        System.Text.Json.Nodes.JsonNode? annotations = null;
        try
        {
            var r = runtime.Invoke(new[] { "state", Id });
            annotations = r.ExitCode == 0 ? System.Text.Json.Nodes.JsonNode.Parse(r.StandardOutput)?["annotations"] : null;
        }
        catch (Exception e) when (e is VServerException or JsonException)
        {
        }
        var state = new RunState
        {
            Instance = instance,
            InitPid = initPid,
            InitStartTicks = initStat.StartTicks,
            ConmonPid = initStat.ParentId,
            StartTime = ProcFs.BootTime() + ProcFs.Ticks(initStat.StartTicks),
            Runtime = runtimePath,
            RuntimeRoot = root,
            CgroupsPath = cgroup,
            Context = int.TryParse((string?)annotations?["org.vserver.context"], NumberStyles.None, CultureInfo.InvariantCulture, out var ctx) ? ctx : null,
            RootMount = (string?)annotations?["org.vserver.rootmount"] is { Length: > 0 } mount ? mount : null,
            NetworkNamespace = File.Exists(GuestNetwork.NamespacePath(Paths, Name)) ? GuestNetwork.NamespaceOf(Paths, Name) : null,
            InitStyle = Enum.TryParse<InitStyle>((string?)annotations?["org.vserver.initstyle"], out var style) ? style : null,
            StopSignal = int.TryParse((string?)annotations?["org.vserver.stopsignal"], NumberStyles.None, CultureInfo.InvariantCulture, out var signal) ? signal : null,
            Recovered = true,
        };
        try
        {
            Directory.CreateDirectory(ExitDir); // conmon records the exit status here when the guest ends
            Directory.CreateDirectory(Bundle); // the runtime's exec works from the bundle directory
            File.SetUnixFileMode(Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            WriteState(state);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a read-only view (not root): the rebuilt state is still right
        }
        return state;
    }

    public void WriteState(RunState s) => AtomicFile.WriteAllBytes(StateFile, RunStateJson.Write(s), durable: false);

    /// <summary>The exit status conmon recorded (128+N when init died of signal N); null when there is none.</summary>
    public int? ReadExitCode() => ReadNumber(ExitFile);

    /// <summary>The pid conmon wrote for itself; null when there is none.</summary>
    public int? ReadConmonPid() => ReadNumber(ConmonPidFile);

    private static int? ReadNumber(string file)
    {
        try
        {
            return int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public GuestStatus Status()
    {
        var s = ReadState();
        if (s is not { InitAlive: true })
        {
            return GuestStatus.Stopped;
        }
        return new GuestStatus(GuestState.Running, s.InitPid, s.StartTime, Math.Max(1, Cgroups.Processes(s.CgroupsPath).Count));
    }

    /// <summary>Removes everything but the console logs (this start's and the one before) and the hook log, which stay for a look after the guest ended.</summary>
    public void Clear()
    {
        if (!Directory.Exists(Dir))
        {
            return;
        }
        UnmountOwn();
        foreach (var e in new DirectoryInfo(Dir).EnumerateFileSystemInfos())
        {
            if (e.FullName == ConsoleLog || e.FullName == PreviousConsoleLog || e.FullName == HookLog)
            {
                continue;
            }
            if (e is DirectoryInfo d && (d.Attributes & FileAttributes.ReparsePoint) == 0)
            {
                d.Delete(recursive: true);
            }
            else
            {
                e.Delete();
            }
        }
    }

    /// <summary>Removes the whole run directory and the lock (when the guest is removed).</summary>
    public void Delete()
    {
        if (Directory.Exists(Dir))
        {
            UnmountOwn();
        }
        // the exit hook may still be appending its last line to hook.log (after it let the lock go)
        for (var attempt = 0; Directory.Exists(Dir); attempt++)
        {
            try
            {
                Directory.Delete(Dir, recursive: true);
            }
            catch (IOException) when (attempt < 20)
            {
                Thread.Sleep(10);
            }
        }
        if (File.Exists(LockFile))
        {
            File.Delete(LockFile);
        }
    }
}
