using System.Globalization;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// The guest's own view of memory, CPUs, uptime and load (lxcfs, started and stopped by VServer):
/// what Linux-VServer's virt_mem, virt_cpu, virt_uptime and virt_load showed.
/// </summary>
[Collection("guests")]
public class ProcViewTests
{
    public const long Limit = 256L * 1024 * 1024;

    private static void Limited(GuestConfig c)
    {
        c.MemoryLimit = Limit;
        c.CpuLimit = 1;
    }

    private static long MemTotalKb(string meminfo) =>
        long.Parse(meminfo.Split('\n').First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private static double FirstNumber(string text) => double.Parse(text.Trim().Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary>Memory, CPUs and uptime as the guest sees them, checked against its limits and its age.</summary>
    internal static void AssertOwnView(LiveGuest g)
    {
        Assert.Equal(Limit / 1024, MemTotalKb(g.Sh("cat /proc/meminfo")));
        Assert.Equal("1", g.Sh("grep -c ^processor /proc/cpuinfo").Trim());
        Assert.Equal("0", g.Sh("cat /sys/devices/system/cpu/online").Trim());
        var age = (DateTimeOffset.UtcNow - g.Runtime.Status(g.Name).StartTime!.Value).TotalSeconds;
        var uptime = FirstNumber(g.Sh("cat /proc/uptime"));
        var host = FirstNumber(File.ReadAllText("/proc/uptime"));
        Assert.True(Math.Abs(uptime - age) < 5, $"the guest's uptime is {uptime} s, its age {age:F1} s (the host's uptime: {host} s)");
        Assert.Matches(@"^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+$", g.Sh("cat /proc/loadavg").Trim());
    }

    private static IReadOnlyList<int> LiveDaemons(VServerPaths paths) => ProcFs.Pids()
        .Where(p => ProcFs.Stat(p) is { Comm: "lxcfs", IsZombie: false } && (ProcFs.CommandLine(p) ?? "").Contains(GuestProcView.MountPoint(paths), StringComparison.Ordinal))
        .ToArray();

    [GuestFact(Lxcfs = true)]
    public void AGuestSeesItsOwnMemoryCpusUptimeAndLoad()
    {
        using var g = new LiveGuest(Limited);
        AssertOwnView(g);
        // the host's own files are untouched
        Assert.NotEqual(Limit / 1024, MemTotalKb(File.ReadAllText("/proc/meminfo")));
        // bound read-only: the guest cannot write through them
        Assert.NotEqual(0, g.Exec("/bin/sh", "-c", "echo 'MemTotal: 1 kB' > /proc/meminfo").Code);
    }

    [GuestFact(Lxcfs = true)]
    public void OneLxcfsServesAnInstallationFromItsFirstStartUntilItsGuestsAreRemoved()
    {
        using var a = new LiveGuest(Limited);
        using var b = new LiveGuest(c => c.MemoryLimit = 128L * 1024 * 1024, sharing: a);
        var paths = a.Roots.Paths;
        var daemon = Assert.Single(LiveDaemons(paths));
        Assert.Equal(daemon, GuestProcView.DaemonPid(paths));
        Assert.Equal(128L * 1024, MemTotalKb(b.Sh("cat /proc/meminfo"))); // each guest its own limit from one daemon
        AssertOwnView(a);

        a.Runtime.Stop(a.Name, TimeSpan.FromSeconds(5));
        Assert.Equal(daemon, GuestProcView.DaemonPid(paths)); // b still runs
        Assert.Equal(128L * 1024, MemTotalKb(b.Sh("cat /proc/meminfo")));

        // both stopped: it stays for the next start, as LXC's lxcfs.service does
        b.Runtime.Stop(b.Name, TimeSpan.FromSeconds(5));
        Assert.Equal(daemon, GuestProcView.DaemonPid(paths));
        a.Runtime.Start(a.Name);
        Assert.Equal(daemon, GuestProcView.DaemonPid(paths));
        AssertOwnView(a);

        // a remove while a guest runs keeps it; the remove that leaves none running ends it
        b.Store.Remove(b.Name);
        Assert.Equal(daemon, GuestProcView.DaemonPid(paths));
        a.Runtime.Stop(a.Name, TimeSpan.FromSeconds(5));
        a.Store.Remove(a.Name);
        Assert.True(LiveGuest.WaitFor(() => LiveDaemons(paths).Count == 0, 5), "lxcfs outlived the installation's guests");
        Assert.Null(MountTable.FilesystemAt(GuestProcView.MountPoint(paths)));
    }

    [GuestFact(Lxcfs = true)]
    public void AnLxcfsThatDiedIsStartedAgainAtTheNextStartWithAWarning()
    {
        using var a = new LiveGuest(Limited);
        using var b = new LiveGuest(Limited, start: false, sharing: a);
        var paths = a.Roots.Paths;
        var first = GuestProcView.DaemonPid(paths) ?? throw new InvalidOperationException("no lxcfs");
        Sys9(first);
        Assert.True(LiveGuest.WaitFor(() => GuestProcView.DaemonPid(paths) is null, 5));
        var warnings = new WarningList();
        b.Runtime.Start(b.Name, warnings);
        Assert.Contains(warnings.Warnings, w => w.Contains("had stopped", StringComparison.Ordinal) && w.Contains("until they restart", StringComparison.Ordinal));
        Assert.NotEqual(first, GuestProcView.DaemonPid(paths));
        AssertOwnView(b);
    }

    private static void Sys9(int pid) => Assert.Equal(0, HostProcess.Run("kill", new[] { "-9", pid.ToString(CultureInfo.InvariantCulture) }).ExitCode);

    [GuestFact]
    public void WithoutLxcfsAStartWarnsAndTheGuestSeesTheKernelsFiles()
    {
        TestSeams.LxcfsProgram = "";
        try
        {
            using var g = new LiveGuest(Limited, start: false);
            var warnings = new WarningList();
            g.Runtime.Start(g.Name, warnings);
            var warning = Assert.Single(warnings.Warnings, w => w.Contains("lxcfs", StringComparison.Ordinal));
            Assert.Contains("not installed", warning);
            Assert.Contains(g.Name, warning);
            Assert.Equal(MemTotalKb(File.ReadAllText("/proc/meminfo")), MemTotalKb(g.Sh("cat /proc/meminfo")));
            Assert.Empty(LiveDaemons(g.Roots.Paths));
        }
        finally
        {
            TestSeams.LxcfsProgram = null;
        }
    }

    /// <summary>
    /// The attack: the guest's root takes its view away (unmounts lxcfs's file to read the kernel's
    /// /proc/meminfo, the host's memory). A guest made weak on purpose (CAP_SYS_ADMIN) can; the
    /// default guest cannot, and its view stays.
    /// </summary>
    [GuestFact(Lxcfs = true)]
    public void AGuestsRootCannotTakeItsViewAway()
    {
        var hostTotal = MemTotalKb(File.ReadAllText("/proc/meminfo"));
        using (var weak = new LiveGuest(c => { Limited(c); c.Capabilities.Add("SYS_ADMIN"); }))
        {
            Assert.Equal(0, weak.Exec("umount", "/proc/meminfo").Code);
            Assert.Equal(hostTotal, MemTotalKb(weak.Sh("cat /proc/meminfo")));
        }
        using var g = new LiveGuest(Limited);
        var r = g.Exec("umount", "/proc/meminfo");
        Assert.NotEqual(0, r.Code);
        Assert.NotEqual(0, g.Exec("umount", "-l", "/proc/meminfo").Code);
        Assert.NotEqual(0, g.Exec("mount", "-t", "proc", "proc", "/mnt").Code);
        AssertOwnView(g);
    }
}
