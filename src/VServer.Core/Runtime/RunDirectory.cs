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

    /// <summary>The network namespace VServer made for this start (vs-NAME); deleted when it ends. Null in Host mode.</summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>Whether the init this start made still runs (same pid and start time, not a zombie).</summary>
    [JsonIgnore]
    public bool InitAlive => ProcFs.IsAlive(InitPid, InitStartTicks);
}

/// <summary>A guest's run-time state as Get-VServerGuest reports it.</summary>
public sealed record GuestStatus(GuestState State, int? InitPid, DateTimeOffset? StartTime, int ProcessCount)
{
    public static readonly GuestStatus Stopped = new(GuestState.Stopped, null, null, 0);
}

/// <summary>
/// The run directory of one guest, <c>$RUN_ROOT/NAME/</c>: the generated bundle, conmon's and the
/// init's pid files, the console log, the exit status conmon records, VServer's state file and the
/// stop marker. The per-guest lock lives beside it (<c>$RUN_ROOT/.NAME.lock</c>) so it outlives the directory.
/// </summary>
public sealed class RunDirectory
{
    public RunDirectory(VServerPaths paths, string name)
    {
        Name = name;
        Dir = Path.Combine(paths.RunRoot, name);
        LockFile = Path.Combine(paths.RunRoot, "." + name + ".lock");
    }

    public string Name { get; }
    public string Dir { get; }
    public string LockFile { get; }
    public string Bundle => Path.Combine(Dir, "bundle");
    public string ConfigJson => Path.Combine(Bundle, "config.json");
    public string InitPidFile => Path.Combine(Dir, "init.pid");
    public string ConmonPidFile => Path.Combine(Dir, "conmon.pid");
    public string ConsoleLog => Path.Combine(Dir, "console.log");
    public string ExitDir => Path.Combine(Dir, "exit");
    public string ExitFile => Path.Combine(ExitDir, Name);
    public string AttachDir => Path.Combine(Dir, "attach");
    public string StateFile => Path.Combine(Dir, "state.json");
    public string StoppingFile => Path.Combine(Dir, "stopping");
    public string HookLog => Path.Combine(Dir, "hook.log");

    /// <summary>
    /// The guests whose init is alive now, from the run directories alone (no config is read):
    /// what the process views need on a host with a hundred guests.
    /// </summary>
    public static IReadOnlyList<(string Name, RunState State)> Running(VServerPaths paths)
    {
        var result = new List<(string, RunState)>();
        if (!Directory.Exists(paths.RunRoot))
        {
            return result;
        }
        foreach (var dir in Directory.EnumerateDirectories(paths.RunRoot))
        {
            var name = Path.GetFileName(dir);
            if (!Config.Validate.IsValidGuestName(name) || name.StartsWith('.'))
            {
                continue;
            }
            if (new RunDirectory(paths, name).ReadState() is { InitAlive: true } state)
            {
                result.Add((name, state));
            }
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return result;
    }

    public HostLock Lock() => HostLock.Acquire(LockFile);

    public RunState? ReadState()
    {
        try
        {
            return JsonSerializer.Deserialize<RunState>(File.ReadAllText(StateFile));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return null;
        }
    }

    public void WriteState(RunState s) => AtomicFile.WriteAllText(StateFile, JsonSerializer.Serialize(s));

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

    /// <summary>Removes everything but the console and hook logs, which stay for a look after the guest ended.</summary>
    public void Clear()
    {
        if (!Directory.Exists(Dir))
        {
            return;
        }
        foreach (var e in new DirectoryInfo(Dir).EnumerateFileSystemInfos())
        {
            if (e.FullName == ConsoleLog || e.FullName == HookLog)
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
            Directory.Delete(Dir, recursive: true);
        }
        if (File.Exists(LockFile))
        {
            File.Delete(LockFile);
        }
    }
}
