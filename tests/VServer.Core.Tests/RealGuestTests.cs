using System.Globalization;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// Debian trees made by -Method Debootstrap, built once per machine into a test cache (packages
/// and trees under /var/tmp/vserver-test-cache, behind a lock the test processes share) and cloned
/// by each test: the reference guests beside Busybox.
/// </summary>
internal static class DebianTrees
{
    public const string CacheDir = "/var/tmp/vserver-test-cache";

    public static string Systemd => Tree("bookworm-systemd", "systemd-sysv", "openssh-server", "iproute2", "procps");

    public static string Sysvinit => Tree("bookworm-sysvinit", "sysvinit-core", "procps");

    private static string Tree(string name, params string[] include)
    {
        Directory.CreateDirectory(CacheDir);
        var paths = new VServerPaths(Path.Combine(CacheDir, "etc"), Path.Combine(CacheDir, "trees"), Path.Combine(CacheDir, "run"));
        using var cacheLock = HostLock.Acquire(Path.Combine(CacheDir, ".lock"));
        var store = new GuestStore(paths);
        if (!store.Exists(name))
        {
            store.Create(new GuestConfig(name) { InitStyle = InitStyle.Auto }, new DebootstrapBuilder(new DebootstrapOptions
            {
                Distribution = "bookworm",
                Include = include,
                CacheRoot = Path.Combine(CacheDir, "packages"),
            }));
        }
        return store.RootOf(store.ReadConfig(name));
    }
}

/// <summary>Real distribution guests: systemd and sysvinit Debian guests boot, reboot, power off and stop; a start that fails says why.</summary>
[Collection("guests")]
public class RealGuestTests
{
    /// <summary>A clone of a cached Debian tree in a live guest's roots (Auto init style, as New-VServerGuest makes).</summary>
    private static LiveGuest Clone(string tree, Action<GuestConfig>? configure = null) =>
        new(c => { c.InitStyle = InitStyle.Auto; configure?.Invoke(c); }, start: false, builder: RootBuilders.For(BuildMethod.Clone, source: tree));

    private static string SystemState(LiveGuest g)
    {
        // the bus appears a moment after the start; then --wait returns when boot is done
        string state = "";
        Assert.True(LiveGuest.WaitFor(() =>
        {
            var r = g.Exec("systemctl", "is-system-running", "--wait");
            state = r.Out.Trim();
            return state is "running" or "degraded" or "maintenance";
        }, 90), "systemd did not finish booting: " + state);
        return state;
    }

    [GuestFact]
    public void ASystemdGuestBootsRebootsPowersOffAndStops()
    {
        using var g = Clone(DebianTrees.Systemd, c =>
        {
            c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.252.0.2/24"));
            c.MemoryLimit = ProcViewTests.Limit;
            c.CpuLimit = 1;
        });
        g.Runtime.Start(g.Name);
        var state = SystemState(g);
        var failed = g.Exec("systemctl", "--failed", "--no-legend", "--plain").Out.Trim();
        Assert.True(state == "running", $"systemd is {state}; failed units: {failed}");
        Assert.Equal("systemd", g.Sh("cat /proc/1/comm").Trim());
        Assert.Matches(@"10\.252\.0\.2:22\b|0\.0\.0\.0:22\b", g.Sh("ss -ltn")); // sshd listens
        Assert.Equal(g.Name, g.Sh("cat /etc/hostname").Trim());
        Assert.Contains($"10.252.0.2\t{g.Name}", g.Sh("cat /etc/hosts"));
        Assert.Matches("^[0-9a-f]{32}$", g.Sh("cat /etc/machine-id").Trim());
        // procps's free, nproc-free top and uptime: the guest's limits and its own age (lxcfs)
        Assert.Matches(@"^Mem:\s+256\s", g.Sh("free -m | grep ^Mem:"));
        Assert.Matches(@"up\s+[0-2] min", g.Sh("uptime"));
        Assert.Contains("%Cpu", g.Sh("top -bn1 | head -5"));
        ProcViewTests.AssertOwnView(g);
        // systemd has a /dev/console (a terminal conmon holds): its status lines reach console.log
        var console = File.ReadAllText(g.Runtime.Run(g.Name).ConsoleLog);
        Assert.Contains("running in system mode", console);
        Assert.Matches("Reached target .*Multi-User System", console);

        // reboot inside: a new init, booted again
        var first = g.State;
        g.Exec("systemctl", "reboot");
        Assert.True(LiveGuest.WaitFor(() => g.Runtime.Run(g.Name).ReadState() is { InitAlive: true } s && s.InitPid != first.InitPid, 30), "the guest did not come back after reboot");
        SystemState(g);

        // poweroff inside: stopped, nothing left
        g.Exec("systemctl", "poweroff");
        Assert.True(LiveGuest.WaitFor(() => g.Runtime.Status(g.Name).State == GuestState.Stopped, 30), "poweroff left the guest running");
        Assert.True(LiveGuest.WaitFor(() => !File.Exists(g.Netns) && Cgroups.Existing(g.Cgroup).Count == 0, 15), "poweroff left the network or the cgroup behind");

        // Stop-VServerGuest: a clean shutdown (SIGRTMIN+3) well within 10 s
        g.Runtime.Start(g.Name);
        SystemState(g);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(10));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"stop took {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.Empty(Cgroups.Existing(g.Cgroup));
        Assert.False(File.Exists(g.Netns));
    }

    [GuestFact]
    public void ASysvinitGuestBootsRebootsAndStops()
    {
        using var g = Clone(DebianTrees.Sysvinit);
        g.Runtime.Start(g.Name);
        Assert.Equal("init", g.Sh("cat /proc/1/comm").Trim());
        Assert.True(LiveGuest.WaitFor(() => g.Exec("pgrep", "-x", "startpar").Code != 0, 30)); // the rc scripts are done
        var first = g.State;
        Assert.Equal(2, first.StopSignal); // SIGINT to sysvinit, as util-vserver sends
        g.Exec("reboot", "-f");
        Assert.True(LiveGuest.WaitFor(() => g.Runtime.Run(g.Name).ReadState() is { InitAlive: true } s && s.InitPid != first.InitPid, 30), "the guest did not come back after reboot");
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(10));
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
    }

    [GuestFact]
    public void AStartWhoseInitExitsAtOnceSaysWhy()
    {
        using var g = new LiveGuest(c => c.InitStyle = InitStyle.Auto, start: false);
        using (var fs = GuestRootFs.Open(g.Root))
        {
            File.Delete(Path.Combine(g.Root, "sbin", "init"));
            fs.WriteText("sbin/init", "#!/bin/sh\necho 'init: cannot find my disks' >&2\nexit 3\n", 0x1ED);
        }
        var e = Assert.Throws<VServerException>(() => g.Runtime.Start(g.Name));
        Assert.Equal("GuestInitFailed", e.ErrorId);
        Assert.Contains("exited with status 3", e.Message);
        Assert.Contains("cannot find my disks", e.Message); // what init printed, from the console log
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.True(LiveGuest.WaitFor(() => Cgroups.Existing(g.Cgroup).Count == 0 && !File.Exists(g.Netns), 10));

        // the vserver command exits non-zero with the same message
        var r = TestEnvironment.Vserver(g.Roots.Paths, null, g.Name, "start");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("GuestInitFailed", r.StandardError);
    }

    [GuestFact]
    public void SetVServerGuestKeepsHostnameAndHostsInStepAndNeverWritesThroughALink()
    {
        using var g = new LiveGuest(c => c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.253.0.2/24")), start: false);
        File.AppendAllText(Path.Combine(g.Root, "etc", "hosts"), "192.0.2.9\tbackup.internal\n"); // the guest's own line
        var settings = new GuestSettings { Hostname = "renamed", Interfaces = new[] { "eth0:10.253.0.3/24" } };
        g.Store.Update(g.Name, settings);
        Assert.Equal("renamed\n", File.ReadAllText(Path.Combine(g.Root, "etc", "hostname")));
        var hosts = File.ReadAllText(Path.Combine(g.Root, "etc", "hosts"));
        Assert.Contains("192.0.2.9\tbackup.internal\n", hosts);
        Assert.Contains("10.253.0.3\trenamed\t# vserver", hosts);
        Assert.DoesNotContain("10.253.0.2", hosts);

        // the guest makes /etc/hosts a link to a host file
        var hostFile = Path.Combine(g.Roots.Base, "host-owned");
        File.WriteAllText(hostFile, "host data\n");
        File.Delete(Path.Combine(g.Root, "etc", "hosts"));
        File.CreateSymbolicLink(Path.Combine(g.Root, "etc", "hosts"), hostFile);
        // weak: a writer that joins paths would have written the host's file
        File.WriteAllText(Path.Combine(g.Root, "etc", "hosts"), "written through\n");
        Assert.Equal("written through\n", File.ReadAllText(hostFile));
        File.WriteAllText(hostFile, "host data\n");
        // the default: the configuration changes, the link is not followed, a warning names it
        var warnings = new WarningList();
        g.Store.Update(g.Name, new GuestSettings { Hostname = "again" }, warnings);
        Assert.Equal("host data\n", File.ReadAllText(hostFile));
        Assert.Equal("again", g.Store.ReadConfig(g.Name).Hostname);
        Assert.Contains(warnings.Warnings, w => w.Contains("/etc/hosts", StringComparison.Ordinal) || w.Contains("hostname and /etc/hosts", StringComparison.Ordinal));
    }

    [RootFact]
    public void AFailedDebootstrapLeavesNothingAndSaysWhere()
    {
        using var roots = new TempRoots();
        var store = new GuestStore(roots.Paths);
        var before = roots.Snapshot();
        var e = Assert.Throws<VServerException>(() => store.Create(new GuestConfig("nomirror"), new DebootstrapBuilder(new DebootstrapOptions
        {
            Distribution = "bookworm",
            Mirror = "file:///nonexistent/debian",
        })));
        Assert.Equal("DebootstrapFailed", e.ErrorId);
        Assert.Contains("bookworm", e.Message);
        Assert.False(store.Exists("nomirror"));
        // nothing but the store's lock file (made by any create) is new: no staging root, no config
        Assert.Equal(before, string.Join("\n", roots.Snapshot().Split('\n').Where(l => !l.StartsWith("etc-vservers/.lock", StringComparison.Ordinal))));
    }

    private static ProcessResult Vserver(TempRoots roots, params string[] args) => VserverWithInput(roots, null, args);

    private static ProcessResult VserverWithInput(TempRoots roots, string? input, params string[] args) => TestEnvironment.Vserver(roots.Paths, input, args);

    [GuestFact]
    public void TheSeedsBuildLinesWorkAsPrinted()
    {
        using var roots = new TempRoots();
        var store = new GuestStore(roots.Paths);
        // seed 003, Abbildung 3 (skeleton)
        var r = Vserver(roots, "test2", "build", "-m", "skeleton", "--hostname", "test2.nowhe.re", "--interface", "10.0.1.2", "--netdev", "eth0", "--netprefix", "23", "--context", "44");
        Assert.True(r.ExitCode == 0, r.StandardError);
        var c = store.ReadConfig("test2");
        Assert.Equal((44, "test2.nowhe.re"), (c.Context, c.Hostname));
        Assert.Equal("eth0:10.0.1.2/23", Assert.Single(c.Interfaces).ToString());
        Assert.Equal("test2.nowhe.re\n", File.ReadAllText(Path.Combine(store.RootOf(c), "etc/hostname")));
        Assert.Equal(IdRange.Size, c.PrivateUsers?.Count); // a new guest's default where the host can
        r = Vserver(roots, "test3", "build", "-m", "skeleton", "--no-private-users");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Null(store.ReadConfig("test3").PrivateUsers);

        // seed 002's line, with a current distribution: built, started, answering
        r = Vserver(roots, "testme", "build", "-m", "debootstrap", "--netdev=eth0", "--interface=192.168.123.123/24", "--hostname", "testme", "--context", "666", "--", "-d", "bookworm");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Contains("guest 'testme' built with Debootstrap (context 666", r.StandardOutput);
        Assert.Equal("eth0:192.168.123.123/24", Assert.Single(store.ReadConfig("testme").Interfaces).ToString());
        try
        {
            r = Vserver(roots, "testme", "start");
            Assert.True(r.ExitCode == 0, r.StandardError);
            r = Vserver(roots, "testme", "exec", "cat", "/etc/debian_version", "/etc/hostname");
            Assert.Matches(@"^12\.\d+\ntestme\n$", r.StandardOutput);
            // the caller's standard input reaches the command: a question answered through a pipe
            r = VserverWithInput(roots, "y\n", "testme", "exec", "sh", "-c", "printf 'Continue? '; read a; echo answer:$a");
            Assert.Equal("Continue? answer:y\n", r.StandardOutput);
        }
        finally
        {
            Vserver(roots, "testme", "stop");
        }

        // what util-vserver had and VServer has not is refused by name
        r = Vserver(roots, "test0", "build", "-m", "apt-rpm", "--hostname", "test0.nowhe.re", "--context", "42", "--", "-d", "fc1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'apt-rpm' is not a build method", r.StandardError);
        Assert.False(store.Exists("test0"));
        r = Vserver(roots, "test9", "build", "-m", "skeleton", "--frobnicate");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'--frobnicate' is not a build option", r.StandardError);
        Assert.Equal(0, Vserver(roots, "x", "build", "--help").ExitCode);
        foreach (var name in new[] { "test2", "testme" })
        {
            store.Remove(name);
        }
    }
}
