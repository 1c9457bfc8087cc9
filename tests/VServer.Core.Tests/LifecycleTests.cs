using System.Diagnostics;
using System.Globalization;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>A started Busybox guest in throw-away roots; stopped and removed on dispose.</summary>
internal sealed class LiveGuest : IDisposable
{
    private readonly bool _ownsRoots;

    /// <param name="sharing">Another live guest whose roots this one joins (one host view of both); it owns them.</param>
    /// <param name="configureAfter">Changes made after the guest was created (settings Create would refuse together).</param>
    /// <param name="builder">How the root is built (default: Busybox).</param>
    /// <param name="roots">Roots of the test's own (owned by the guest from here on), instead of new ones.</param>
    public LiveGuest(Action<GuestConfig>? configure = null, bool start = true, LiveGuest? sharing = null, Action<GuestConfig>? configureAfter = null, IRootBuilder? builder = null, TempRoots? roots = null)
    {
        TestEnvironment.UseStagedCli();
        _ownsRoots = sharing is null;
        Roots = sharing?.Roots ?? roots ?? new TempRoots();
        Store = new GuestStore(Roots.Paths);
        Runtime = new GuestRuntime(Store);
        Name = "t" + Guid.NewGuid().ToString("N")[..8]; // cgroup paths are host-wide: a name of its own
        var c = new GuestConfig(Name) { InitStyle = InitStyle.Plain };
        configure?.Invoke(c);
        Store.Create(c, builder ?? RootBuilders.For(BuildMethod.Busybox));
        if (configureAfter is not null)
        {
            var after = Store.ReadConfig(Name);
            configureAfter(after);
            ConfigDirectory.Write(Roots.Paths.ConfigDir(Name), after, Store.RootOf(after));
        }
        if (start)
        {
            Runtime.Start(Name);
        }
    }

    public TempRoots Roots { get; }
    public GuestStore Store { get; }
    public GuestRuntime Runtime { get; }
    public string Name { get; }
    public string Root => Store.RootOf(Store.ReadConfig(Name));

    /// <summary>Runs a command in the guest; (exit code, stdout, stderr).</summary>
    public (int Code, string Out, string Err) Exec(params string[] command)
    {
        var o = new List<string>();
        var e = new List<string>();
        var code = Runtime.Exec(Name, new ExecRequest(command), l => { lock (o) o.Add(l); }, l => { lock (e) e.Add(l); });
        return (code, string.Join("\n", o), string.Join("\n", e));
    }

    public string Sh(string script)
    {
        var (code, output, err) = Exec("/bin/sh", "-c", script);
        Assert.True(code == 0, $"'{script}' exited {code}: {err}");
        return output;
    }

    public RunState State => Runtime.Run(Name).ReadState() ?? throw new InvalidOperationException("not running");

    /// <summary>The guest's cgroup (host-wide names are keyed by the test's installation).</summary>
    public string Cgroup => Cgroups.PathFor(Roots.Paths, Name);

    /// <summary>The guest's network namespace file.</summary>
    public string Netns => GuestNetwork.NamespacePath(Roots.Paths, Name);

    public static bool WaitFor(Func<bool> condition, double seconds) => TestEnvironment.WaitFor(condition, seconds);

    public void Dispose()
    {
        try
        {
            if (Runtime.Status(Name).State == GuestState.Running)
            {
                Runtime.Stop(Name, TimeSpan.Zero); // KILL at once: the tests that stop gracefully do so themselves
            }
            if (Store.Exists(Name))
            {
                Store.Remove(Name);
            }
        }
        finally
        {
            if (_ownsRoots)
            {
                Roots.Dispose();
            }
        }
    }
}

/// <summary>What an operation said: its warnings and its verbose lines.</summary>
internal sealed class SaidList : IOperationReporter
{
    public List<string> Warnings { get; } = new();
    public List<string> Verbose { get; } = new();
    public void Progress(string activity, string status, int percent) { }
    public void Warning(string message) { lock (Warnings) Warnings.Add(message); }
    void IOperationReporter.Verbose(string message) { lock (Verbose) Verbose.Add(message); }
}

/// <summary>
/// What one guest could leave behind on the host: this process's descriptors, mounts mentioning
/// the test's roots, conmon monitors of this guest, and its cgroups. Scoped to the guest, since
/// other test processes start guests of their own at the same time.
/// </summary>
internal sealed record HostFootprint(int Fds, int Mounts, int Monitors, int GuestCgroups)
{
    public static HostFootprint Take(LiveGuest g)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return new(
            Directory.GetFiles("/proc/self/fd").Length,
            File.ReadAllLines("/proc/self/mountinfo").Count(l => l.Contains(g.Roots.Base, StringComparison.Ordinal)),
            CountMonitors(g.Name, g.Roots.Paths.RunRoot),
            Cgroups.Existing(g.Cgroup).Count);
    }

    /// <summary>Live (not zombie) conmon processes monitoring this guest.</summary>
    private static int CountMonitors(string name, string runRoot) => Directory.GetDirectories("/proc")
        .Where(d => int.TryParse(Path.GetFileName(d), out _))
        .Count(d =>
        {
            if (ProcFs.Stat(int.Parse(Path.GetFileName(d), CultureInfo.InvariantCulture)) is not { Comm: "conmon", IsZombie: false })
            {
                return false;
            }
            try
            {
                var args = File.ReadAllText(Path.Combine(d, "cmdline")).Split('\0');
                return args.Contains(name) && args.Any(a => a.StartsWith(runRoot, StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return false;
            }
        });
}

/// <summary>Guest tests run alone: they count this process's descriptors.</summary>
[CollectionDefinition("guests", DisableParallelization = true)]
public sealed class GuestCollection
{
}

[Collection("guests")]
public class LifecycleTests
{
    /// <remarks>
    /// Two guests on one context by a hand edit of the second's configuration (the configuration's
    /// own checks refuse it otherwise): the start finds the running holder among the running guests.
    /// </remarks>
    [GuestFact]
    public void AGuestDoesNotStartOnAContextARunningGuestHolds()
    {
        using var a = new LiveGuest(c => c.Context = 4711);
        using var other = new LiveGuest(c => c.Context = 4712, sharing: a); // running, on another context
        using var b = new LiveGuest(c => c.Context = 4713, start: false, sharing: a);
        File.WriteAllText(Path.Combine(b.Roots.Paths.ConfigDir(b.Name), "context"), "4711\n");
        var e = Assert.Throws<VServerException>(() => b.Runtime.Start(b.Name));
        Assert.Equal("ContextInUse", e.ErrorId);
        Assert.Contains($"'{a.Name}'", e.Message);
        Assert.Equal(GuestState.Stopped, b.Runtime.Status(b.Name).State);
        a.Runtime.Stop(a.Name, TimeSpan.Zero);
        b.Runtime.Start(b.Name); // the context is free once its holder stopped
        Assert.Equal(GuestState.Running, b.Runtime.Status(b.Name).State);
    }

    [GuestFact]
    public void AStartedGuestIsIsolated()
    {
        using var g = new LiveGuest(c => c.Hostname = "iso.example");
        Assert.Equal(GuestState.Running, g.Runtime.Status(g.Name).State);
        Assert.Equal("iso.example", g.Sh("hostname"));

        // ps: only the guest's processes, its init as pid 1
        var ps = g.Sh("ps -o pid,comm").Split('\n').Skip(1).Select(l => l.Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries)).ToArray();
        Assert.Contains(ps, p => p[0] == "1" && p[1] == "init");
        Assert.DoesNotContain(ps, p => p[1].Contains("dotnet") || p[1].Contains("conmon"));
        Assert.True(ps.Length <= 4, "unexpected processes: " + string.Join(", ", ps.Select(p => string.Join(' ', p))));

        // the host's mounts and IPC objects are invisible
        var mounts = g.Sh("cat /proc/mounts");
        Assert.DoesNotContain(g.Roots.Base, mounts);
        var key = "0x" + Random.Shared.Next(0x100000, 0x7fffffff).ToString("x", CultureInfo.InvariantCulture);
        var id = GuestStoreTests.Run("ipcmk", "-M", "4096", "-p", "0600").Trim().Split(' ').Last();
        try
        {
            Assert.Contains(id, File.ReadAllText("/proc/sysvipc/shm"));
            Assert.DoesNotContain(" " + id + " ", " " + g.Sh("cat /proc/sysvipc/shm").Replace('\n', ' ') + " ");
        }
        finally
        {
            GuestStoreTests.Run("ipcrm", "-m", id);
        }
        _ = key;
    }

    [GuestFact]
    public void CrunRunsOnThisHybridHostWithoutTouchingTheHostsCgroupMounts()
    {
        Assert.True(HostProcess.Find("crun") is not null, "crun is not installed (apt-get install crun)");
        var hybrid = Cgroups.HybridWithControllers();
        var crun = new OciRuntime(HostProcess.Find("crun")!, "/nonexistent");
        var (program, args, _) = crun.CreateCommand();
        // on a hybrid host whose cgroup2 mount holds controllers (this one: hugetlb) crun's create runs in a mount namespace without it
        // (made by vserver-ns, shipped beside the vserver command; by unshare, sh and umount where it is missing)
        Assert.Equal(hybrid, Path.GetFileName(program) == OciRuntime.NamespaceHelper);
        Assert.Equal(crun.Path, OciRuntime.RuntimeOfCreateCommand(program, args));
        Assert.Equal(crun.Path, OciRuntime.RuntimeOfCreateCommand("/usr/bin/unshare",
            new[] { "--mount", "--propagation", "slave", "/bin/sh", "-c", "umount -l /sys/fs/cgroup/unified && exec \"$0\" \"$@\"", crun.Path, "--root=/x" }));
        Assert.Empty(new OciRuntime(HostProcess.Find("runc") ?? "/usr/sbin/runc", "/nonexistent").CreateCommand().Args);
        string UnifiedMounts() => string.Join("\n", File.ReadLines("/proc/self/mountinfo").Where(l => l.Contains(" - cgroup2 ", StringComparison.Ordinal)));
        var before = UnifiedMounts();

        using var g = new LiveGuest(c => c.ResourceLimits.Add(ResourceLimit.Parse("nofile", "1234")));
        Assert.EndsWith("/crun", g.State.Runtime); // probed first, and it works here
        // the limits VServer set are the guest's: its processes are in its v1 cgroups, an exec gets the guest's rlimits
        Assert.Contains(Cgroups.PathFor(g.Roots.Paths, g.Name) + "/payload", File.ReadAllText($"/proc/{g.State.InitPid}/cgroup"));
        Assert.Equal("1234", g.Sh("ulimit -n"));
        Assert.Equal(before, UnifiedMounts()); // the host keeps its cgroup2 mount
        // a lost run directory is rebuilt with crun itself, not its wrapper, and exec still works
        Directory.Delete(g.Runtime.Run(g.Name).Dir, recursive: true);
        Assert.EndsWith("/crun", g.State.Runtime);
        Assert.Equal("1234", g.Sh("ulimit -n"));
    }

    [GuestFact]
    public void TheRuntimeProbeIsRecordedAndOnlyTrustedForTheSameCandidates()
    {
        var crun = HostProcess.Find("crun");
        var runc = HostProcess.Find("runc");
        Assert.True(crun is not null && runc is not null, "crun and runc are both needed");
        using var roots = new TempRoots();
        var record = Path.Combine(roots.Paths.RunRoot, ".runtime.probed");
        Directory.CreateDirectory(roots.Paths.RunRoot);
        // a record from other candidates (runc alone, say, before crun was installed) is probed again
        File.WriteAllText(record, runc + "\t-;" + runc + "@0\n");
        Assert.Equal(crun, OciRuntime.Resolve(roots.Paths).Path);
        var written = File.ReadAllText(record).Trim().Split('\t');
        Assert.Equal(crun, written[0]);
        Assert.Contains(crun + "@", written[1]);
        Assert.Contains(runc + "@", written[1]);

        // a record for these candidates is taken as it is: runc, though crun would win a probe (a new run root: a key of its own in this process's cache)
        using var other = new TempRoots();
        Directory.CreateDirectory(other.Paths.RunRoot);
        File.WriteAllText(Path.Combine(other.Paths.RunRoot, ".runtime.probed"), runc + "\t" + written[1] + "\n");
        Assert.Equal(runc, OciRuntime.Resolve(other.Paths).Path);
    }

    private static ulong CapMask(IEnumerable<string> caps) =>
        caps.Aggregate(0UL, (m, c) => m | (1UL << Capabilities.All.ToList().IndexOf(c)));

    [GuestFact]
    public void CapBndIsTheConfiguredSetAndNetRawChangesIt()
    {
        using var g = new LiveGuest();
        string CapBnd() => g.Sh("grep CapBnd /proc/self/status").Split('\t', ':').Last().Trim();
        Assert.Equal(CapMask(Capabilities.SecureDefault).ToString("x16", CultureInfo.InvariantCulture), CapBnd());

        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(10));
        g.Store.Update(g.Name, new GuestSettings { Capabilities = new[] { "NET_RAW" } });
        g.Runtime.Start(g.Name);
        var expected = CapMask(Capabilities.SecureDefault.Append("CAP_NET_RAW"));
        Assert.Equal(expected.ToString("x16", CultureInfo.InvariantCulture), CapBnd());
    }

    [GuestFact]
    public void MemoryAndPidsLimitsHold()
    {
        using var g = new LiveGuest(c => { c.MemoryLimit = 32L << 20; c.ProcessLimit = 24; });
        // one process fills a 100 MB buffer: the guest's memory cgroup kills it, the guest and the host go on.
        // (A pipeline would not do: a writer still filling its pipe after the reader is killed makes the
        // kernel pick a second victim in the cgroup, which may be the guest's init, as under LXC or nspawn.)
        var (code, _, _) = g.Exec("/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=100000000", "count=1");
        Assert.Equal(128 + 9, code); // SIGKILL from the cgroup's OOM killer
        Assert.Equal(GuestState.Running, g.Runtime.Status(g.Name).State);

        // a fork bomb of sleeps stops at the pids limit
        var bomb = g.Exec("/bin/sh", "-c", "for i in $(seq 1 60); do sleep 30 >/dev/null 2>&1 & done");
        Assert.Contains("fork", bomb.Err, StringComparison.OrdinalIgnoreCase);
        var inGroup = Cgroups.Processes(g.State.CgroupsPath).Count;
        Assert.InRange(inGroup, 1, 24);
        g.Exec("/bin/sh", "-c", "killall sleep");
    }

    [GuestFact]
    public void KernelInterfacesAndDisksAreRefused()
    {
        using var g = new LiveGuest();
        Assert.Equal("0", g.Sh("cat /proc/kcore | wc -c").Trim());
        var sysrq = g.Exec("/bin/sh", "-c", "echo h > /proc/sysrq-trigger");
        Assert.NotEqual(0, sysrq.Code);
        if (File.Exists("/proc/sysrq-trigger")) // kernels without CONFIG_MAGIC_SYSRQ have none to protect
        {
            Assert.True(sysrq.Err.Contains("Read-only"), "sysrq: " + sysrq.Err);
        }
        var mknod = g.Exec("/bin/mknod", "/tmp/sda", "b", "8", "0");
        Assert.NotEqual(0, mknod.Code);
        Assert.True(mknod.Err.Contains("not permitted"), "mknod said: " + mknod.Err + mknod.Out);
        var kexec = g.Exec("/bin/sh", "-c", "cat /proc/self/status | grep Seccomp:");
        Assert.Contains("2", kexec.Out);
    }

    [GuestFact]
    public void RebootInsideRestartsHaltInsideStops()
    {
        using var g = new LiveGuest();
        var first = g.State;
        g.Exec("/sbin/reboot");
        var hookLog = g.Runtime.Run(g.Name).HookLog;
        string Log() => File.Exists(hookLog) ? File.ReadAllText(hookLog) : "(no hook log)";
        if (!LiveGuest.WaitFor(() => g.Runtime.Run(g.Name).ReadState() is { } s && s.Instance != first.Instance
            && g.Runtime.Status(g.Name).State == GuestState.Running, 20))
        {
            Assert.Fail("the guest did not come back after reboot: " + Log());
        }
        Assert.NotEqual(first.InitPid, g.State.InitPid);
        Assert.Equal("1", g.Sh("pidof init"));

        g.Exec("/sbin/halt");
        Assert.True(LiveGuest.WaitFor(() => g.Runtime.Status(g.Name).State == GuestState.Stopped && g.Runtime.Run(g.Name).ReadState() is null, 20));
        Thread.Sleep(1000);
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.True(LiveGuest.WaitFor(() => Log().Contains("stopped (exit status 130)"), 10), Log());
        Assert.Contains("restarted", Log());
    }

    [GuestFact]
    public void StopRemovesEveryProcessCgroupMountAndMonitor()
    {
        using var g = new LiveGuest(start: false);
        var before = HostFootprint.Take(g);
        g.Runtime.Start(g.Name);
        var s = g.State;
        Assert.Equal(1, HostFootprint.Take(g).Monitors);
        Assert.NotEmpty(Cgroups.Existing(s.CgroupsPath));
        var sw = Stopwatch.StartNew();
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(30));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"busybox init should halt on SIGUSR1, took {sw.Elapsed}");
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.False(ProcFs.IsAlive(s.InitPid, s.InitStartTicks));
        Assert.Empty(Cgroups.Existing(s.CgroupsPath));
        Assert.Null(new OciRuntime(s.Runtime, s.RuntimeRoot).Status(g.Name));
        Assert.Empty(MountTable.MountPointsUnder(g.Root));
        var after = HostFootprint.Take(g);
        // lxcfs serves the installation until its guests are removed (when it is installed): its one mount stays
        var lxcfs = GuestProcView.Program() is null ? 0 : 1;
        Assert.True(before with { Fds = 0, Mounts = before.Mounts + lxcfs } == after with { Fds = 0 } && after.Fds <= before.Fds + 10, $"before {before}, after {after}");
        var e = Assert.Throws<VServerException>(() => g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(1)));
        Assert.Equal("GuestNotRunning", e.ErrorId);
        // the remove of the installation's last guest takes lxcfs with it: nothing of the guest is left
        g.Store.Remove(g.Name);
        Assert.Equal(before with { Fds = 0 }, HostFootprint.Take(g) with { Fds = 0 });
        Assert.Null(GuestProcView.DaemonPid(g.Roots.Paths));
    }

    [GuestFact]
    public void AStartThatFailsOnceConmonRunsNeverRunsTheRuntimeAndLeavesNothing()
    {
        using var g = new LiveGuest(start: false);
        g.Runtime.Start(g.Name); // lxcfs up, the runtime probed: the footprint below is the running installation's
        g.Runtime.Stop(g.Name, TimeSpan.Zero);
        var before = HostFootprint.Take(g);
        // conmon starts before the bundle is written, its runtime's create held at a gate (vserver-ns gate);
        // util-vserver's pre-start script runs after that, and a failing one fails the start
        var scripts = Path.Combine(g.Roots.Paths.ConfigDir(g.Name), "scripts");
        Directory.CreateDirectory(scripts);
        File.WriteAllText(Path.Combine(scripts, "pre-start"), "exit 3\n");
        var said = new SaidList();
        var e = Assert.Throws<VServerException>(() => g.Runtime.Start(g.Name, said));
        Assert.Contains("pre-start", e.Message);
        // conmon's report: the create was called off at its gate (a runtime that ran would have reported its init)
        Assert.Contains(said.Verbose, v => v.Contains("conmon ended without running the runtime", StringComparison.Ordinal) && v.Contains("called off", StringComparison.Ordinal));
        Assert.DoesNotContain(said.Warnings, w => w.Contains("called off", StringComparison.Ordinal));
        var runtime = OciRuntime.Resolve(g.Roots.Paths);
        Assert.Null(runtime.Status(g.Runtime.Run(g.Name).Id)); // the runtime's create never ran
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        // conmon said so and ended (its exit hook found no start to act on), and nothing waits at the gate
        string[] Waiting() => Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)).Select(d =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(d, "cmdline")).Replace('\0', ' ');
            }
            catch (IOException)
            {
                return "";
            }
        }).Where(c => c.Contains(" gate ", StringComparison.Ordinal) && c.Contains(g.Roots.Paths.RunRoot, StringComparison.Ordinal)).ToArray();
        Assert.True(LiveGuest.WaitFor(() => HostFootprint.Take(g) with { Fds = 0 } == before with { Fds = 0 } && Waiting().Length == 0, 10),
            $"before {before}, after {HostFootprint.Take(g)}; waiting: {string.Join("; ", Waiting())}");
        Assert.False(Directory.Exists(g.Runtime.Run(g.Name).Bundle));
        // and the next start is not held up by anything the failed one left
        File.Delete(Path.Combine(scripts, "pre-start"));
        g.Runtime.Start(g.Name);
        Assert.Equal("ok", g.Sh("echo ok"));
    }

    [GuestFact]
    public void StopKillsWhatIgnoresItsSignal()
    {
        // sh as pid 1 ignores SIGTERM: the timeout passes, then the kill sequence ends it
        using var g = new LiveGuest(c => { c.InitStyle = InitStyle.Command; c.StartCommand = new[] { "/bin/sh", "-c", "while :; do sleep 1; done" }; });
        var sw = Stopwatch.StartNew();
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(1));
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.InRange(sw.Elapsed.TotalSeconds, 1, 1 + GuestRuntime.KillGrace.TotalSeconds + 5);
    }

    [GuestFact]
    public void AZeroTimeoutKillsAtOnceWithoutTheStopCommand()
    {
        // a Sysv guest whose stop command would leave a mark: with no grace it is not run, and init dies of SIGKILL
        using var g = new LiveGuest(c =>
        {
            c.InitStyle = InitStyle.Sysv;
            c.StartCommand = new[] { "/bin/sh", "-c", "trap '' TERM INT; while :; do sleep 1; done" };
            c.StopCommand = new[] { "/bin/sh", "-c", "echo ran > /tmp/stop.log" };
        });
        g.Runtime.Stop(g.Name, TimeSpan.Zero);
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.False(File.Exists(Path.Combine(g.Root, "tmp/stop.log")));
        Assert.Contains("exit status 137", File.ReadAllText(g.Runtime.Run(g.Name).HookLog)); // 128 + SIGKILL
        Assert.Empty(Cgroups.Existing(g.Cgroup));
    }

    [GuestFact]
    public void SysvStyleRunsTheRcCommandUnderAMinimalInit()
    {
        using var g = new LiveGuest(c =>
        {
            c.InitStyle = InitStyle.Sysv;
            c.StartCommand = new[] { "/etc/init.d/rcS" };
            c.StopCommand = new[] { "/etc/init.d/rcK" };
        }, start: false);
        File.WriteAllText(Path.Combine(g.Root, "etc/init.d/S10mark"), "#!/bin/sh\necho \"$1\" >> /tmp/rc.log\n");
        File.SetUnixFileMode(Path.Combine(g.Root, "etc/init.d/S10mark"), (UnixFileMode)0x1ED);
        g.Runtime.Start(g.Name);
        Assert.True(LiveGuest.WaitFor(() => g.Exec("/bin/cat", "/tmp/rc.log").Out == "start", 10));
        Assert.Contains(OciBundle.InitHelperTarget, g.Sh("cat /proc/1/cmdline | tr '\\0' ' '"));
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(10));
        Assert.Equal("start\nstop\n", File.ReadAllText(Path.Combine(g.Root, "tmp/rc.log")));
    }

    [GuestFact]
    public void ClearRefusals()
    {
        using var g = new LiveGuest(c => c.Flags.Add("private"));
        Assert.Equal("GuestAlreadyRunning", Assert.Throws<VServerException>(() => g.Runtime.Start(g.Name)).ErrorId);
        Assert.Equal("GuestPrivate", Assert.Throws<VServerException>(() => g.Exec("/bin/true")).ErrorId);
        Assert.Equal("GuestRunning", Assert.Throws<VServerException>(() => g.Store.Remove(g.Name)).ErrorId);
    }

    [GuestFact]
    public void SeedThreeAttackChangesNothingOnTheHost()
    {
        using var g = new LiveGuest(start: false);
        var hostDir = Path.Combine(g.Roots.Base, "host-lib");
        var hostFile = Path.Combine(g.Roots.Base, "host-nologin");
        Directory.CreateDirectory(hostDir);
        File.WriteAllText(hostFile, "unchanged");
        var root = g.Root;
        Directory.CreateDirectory(Path.Combine(root, "var/lock"));
        File.CreateSymbolicLink(Path.Combine(root, "var/lock/subsys"), hostDir);
        if (File.Exists(Path.Combine(root, "var/run/utmp")))
        {
            File.Delete(Path.Combine(root, "var/run/utmp"));
        }
        File.CreateSymbolicLink(Path.Combine(root, "var/run/utmp"), hostFile);
        // a mount target that is a symlink out of the guest
        Directory.CreateDirectory(Path.Combine(root, "mnt"));
        File.CreateSymbolicLink(Path.Combine(root, "mnt/evil"), hostDir);
        File.AppendAllText(Path.Combine(g.Store.Paths.ConfigDir(g.Name), "fstab"), "none /mnt/evil tmpfs size=1m 0 0\n");

        // runc resolves the mount target in the root and mounts there; crun resolves it in the root
        // too, finds nothing there and refuses the start: either way nothing is mounted on the host
        try
        {
            g.Runtime.Start(g.Name);
        }
        catch (VServerException e) when (e.ErrorId == "GuestStartFailed" && e.Message.Contains("mnt/evil", StringComparison.Ordinal))
        {
            Assert.Empty(MountTable.MountPointsUnder(hostDir));
            Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
            File.WriteAllText(Path.Combine(g.Store.Paths.ConfigDir(g.Name), "fstab"),
                string.Join("", File.ReadAllLines(Path.Combine(g.Store.Paths.ConfigDir(g.Name), "fstab")).Where(l => !l.Contains("/mnt/evil", StringComparison.Ordinal)).Select(l => l + "\n")));
            g.Runtime.Start(g.Name);
        }
        g.Sh("touch /mnt/evil/x /var/lock/subsys/y 2>/dev/null; echo pwned > /var/run/utmp; true");
        Assert.Empty(MountTable.MountPointsUnder(hostDir));
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(10));
        // the guest's own writes through its own symlinks stayed inside its root
        Assert.Empty(Directory.GetFileSystemEntries(hostDir));
        Assert.Equal("unchanged", File.ReadAllText(hostFile));
    }

    private static int Cycles => int.TryParse(Environment.GetEnvironmentVariable("VSERVER_TEST_CYCLES"), out var n) ? n : 100;

    [GuestFact]
    public void AHundredStartStopCyclesLeakNothing()
    {
        using var g = new LiveGuest(c =>
        {
            c.InitStyle = InitStyle.Command;
            c.StartCommand = new[] { "/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done" };
        }, start: false);
        g.Runtime.Start(g.Name);
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5)); // warm: the runtime is probed, the process has its threads
        var before = HostFootprint.Take(g);
        var times = new List<string>();
        for (var i = 0; i < Cycles; i++)
        {
            var sw = Stopwatch.StartNew();
            g.Runtime.Start(g.Name);
            var started = sw.Elapsed.TotalMilliseconds;
            // a SIGTERM before the shell has set its trap would be ignored by pid 1: wait for its loop
            Assert.True(LiveGuest.WaitFor(() => Cgroups.Processes(g.State.CgroupsPath).Count >= 2, 5));
            g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));
            times.Add($"{started:F0}/{sw.Elapsed.TotalMilliseconds - started:F0}");
        }
        var after = HostFootprint.Take(g);
        // descriptors: the runtime's own come and go with the GC; a leak per cycle would show as 100
        Assert.True(before with { Fds = 0 } == after with { Fds = 0 } && after.Fds <= before.Fds + 10,
            $"before {before}, after {after}; start/stop ms: {string.Join(' ', times.Take(10))}");
        Assert.Empty(Cgroups.Existing(g.Cgroup));
    }
}
