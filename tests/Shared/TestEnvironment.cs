using Xunit;

namespace VServer.Tests.Shared;

/// <summary>Test environment facts: strict mode (CI) and why a test that needs the host cannot run.</summary>
public static class TestEnvironment
{
    /// <summary>VSERVER_TEST_STRICT=1 (CI): a test whose requirement is missing runs and fails instead of skipping.</summary>
    public static bool Strict => Environment.GetEnvironmentVariable("VSERVER_TEST_STRICT") == "1";

    public static bool IsRoot => VServer.Native.Sys.GetEuid() == 0;

    public static string? BusyboxPath => new[] { "/bin/busybox", "/usr/bin/busybox" }.FirstOrDefault(File.Exists);

    /// <summary>The staged vserver command that conmon calls back (output/VServer/vserver).</summary>
    public static string CliPath => Path.Combine(RepoRoot, "output", "VServer", "vserver");

    /// <summary>Polls <paramref name="condition"/> every 50 ms for up to <paramref name="seconds"/>.</summary>
    public static bool WaitFor(Func<bool> condition, double seconds)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            if (condition())
            {
                return true;
            }
            Thread.Sleep(50);
        }
        return condition();
    }

    /// <summary>Points Core at the staged vserver command (conmon's exit hook) for guests started by tests.</summary>
    public static void UseStagedCli() => Environment.SetEnvironmentVariable("VSERVER_CLI", CliPath);

    /// <summary>
    /// Runs the staged vserver command as a user types it, for the installation at <paramref name="paths"/>
    /// (its roots, and the command itself for conmon's exit hook, in its environment); <paramref name="input"/>
    /// is its standard input (null: an empty one).
    /// </summary>
    public static VServer.Runtime.ProcessResult Vserver(VServerPaths paths, string? input, params string[] args) =>
        VServer.Runtime.HostProcess.Run(CliPath, args, environment: new Dictionary<string, string>
        {
            ["VSERVER_CONFIG_ROOT"] = paths.ConfigRoot, ["VSERVER_VDIR_ROOT"] = paths.VdirRoot, ["VSERVER_RUN_ROOT"] = paths.RunRoot,
            ["VSERVER_CLI"] = CliPath,
        }, input: input);

    public static string RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "VServer.psd1")) && Directory.Exists(Path.Combine(d.FullName, "src")))
                {
                    return d.FullName;
                }
            }
            throw new InvalidOperationException("Cannot find the repository root above " + AppContext.BaseDirectory);
        }
    }
}

/// <summary>A fact that needs root (uid 0): skipped with the reason locally, run (and failing) in strict mode.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!TestEnvironment.IsRoot && !TestEnvironment.Strict)
        {
            Skip = $"needs root (uid 0) to create device nodes and mounts; running as '{Environment.UserName}'. Run as root or set VSERVER_TEST_STRICT=1 to fail instead.";
        }
    }
}

/// <summary>A fact that needs the host's busybox-static.</summary>
public sealed class BusyboxFactAttribute : FactAttribute
{
    public BusyboxFactAttribute()
    {
        if (TestEnvironment.BusyboxPath is null && !TestEnvironment.Strict)
        {
            Skip = "needs busybox-static (/bin/busybox); install it with 'apt-get install busybox-static'.";
        }
    }
}

/// <summary>Per-test roots under a fresh temporary directory; removed on dispose, even after a failure.</summary>
public sealed class TempRoots : IDisposable
{
    /// <param name="vdirRoot">Where the guests' roots go (a loop filesystem's directory, say); default: under the base.</param>
    public TempRoots(string? vdirRoot = null)
    {
        Base = Path.Combine(Path.GetTempPath(), "vserver-test-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Base);
        Paths = new VServerPaths(Path.Combine(Base, "etc-vservers"), vdirRoot ?? Path.Combine(Base, "vservers"), Path.Combine(Base, "run-vservers"));
        Directory.CreateDirectory(Paths.ConfigRoot);
        Directory.CreateDirectory(Paths.VdirRoot);
    }

    public string Base { get; }

    public VServerPaths Paths { get; }

    /// <summary>Every path below the base with its kind, size and link target: to prove a refusal changed nothing.</summary>
    public string Snapshot()
    {
        var entries = new DirectoryInfo(Base).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(i => Path.GetRelativePath(Base, i.FullName) + (i is FileInfo f ? $" {f.Length}" : "/") + (i.LinkTarget is null ? "" : " -> " + i.LinkTarget))
            .Order(StringComparer.Ordinal);
        return string.Join("\n", entries);
    }

    public void Dispose()
    {
        // the installation's lxcfs serves until its guests are removed: a test that leaves a stopped guest ends it here
        VServer.Runtime.GuestProcView.Release(Paths, VServer.NullReporter.Instance);
        try
        {
            VServer.Storage.SafeRemove.RemoveTree(Base);
        }
        catch (Exception)
        {
            // Fall back to the framework for anything our own remover refuses (e.g. a test's mount was left).
            if (Directory.Exists(Base))
            {
                Directory.Delete(Base, true);
            }
        }
    }
}

/// <summary>
/// A fact that starts real guests: needs root, an OCI runtime (runc or crun), conmon, busybox-static
/// and the staged <c>vserver</c> command (conmon's exit hook). Skipped with the reason locally, run
/// (and failing) in strict mode.
/// </summary>
public sealed class GuestFactAttribute : FactAttribute
{
    public GuestFactAttribute()
    {
        if (TestEnvironment.Strict)
        {
            return;
        }
        var missing = new List<string>();
        if (!TestEnvironment.IsRoot)
        {
            missing.Add($"root (running as '{Environment.UserName}')");
        }
        if (VServer.Runtime.HostProcess.Find("runc") is null && VServer.Runtime.HostProcess.Find("crun") is null)
        {
            missing.Add("runc or crun (apt-get install runc)");
        }
        if (VServer.Runtime.HostProcess.Find("conmon") is null)
        {
            missing.Add("conmon (apt-get install conmon)");
        }
        if (TestEnvironment.BusyboxPath is null)
        {
            missing.Add("busybox-static");
        }
        if (!File.Exists(TestEnvironment.CliPath))
        {
            missing.Add($"the staged vserver command ({TestEnvironment.CliPath}; run 'dotnet build VServer.sln')");
        }
        if (missing.Count > 0)
        {
            base.Skip = "starts real guests and needs " + string.Join(", ", missing) + ". Set VSERVER_TEST_STRICT=1 to fail instead.";
        }
    }

    /// <summary>The test needs lxcfs (the guests' own /proc/meminfo, uptime and CPUs).</summary>
    public bool Lxcfs { get; set; }

    public override string? Skip
    {
        get => base.Skip ?? (Lxcfs && !TestEnvironment.Strict && VServer.Runtime.HostProcess.Find("lxcfs") is null
            ? "needs lxcfs (apt-get install lxcfs). Set VSERVER_TEST_STRICT=1 to fail instead."
            : null);
        set => base.Skip = value;
    }
}
