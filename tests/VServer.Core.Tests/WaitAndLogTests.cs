using System.Diagnostics;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// Wait-VServerGuest (up as the guest's init says, or stopped) and Get-VServerLog (the console log,
/// bounded); the guest's answers are its own word, bounded in time and size.
/// </summary>
[Collection("guests")]
public class WaitAndLogTests
{
    [GuestFact]
    public void ASystemdGuestIsUpWhenSystemdSaysSoAndAWaitThatTimesOutNamesWhatItSaw()
    {
        using var g = new LiveGuest(c => c.InitStyle = InitStyle.Auto, start: false, builder: new CloneBuilder(DebianTrees.Systemd));
        g.Runtime.Start(g.Name);
        // at once: systemd is still booting, and the error says what it reported
        var e = Assert.Throws<VServerException>(() => GuestReadiness.Wait(g.Runtime, g.Name, GuestState.Running, TimeSpan.Zero));
        Assert.Equal("WaitTimeout", e.ErrorId);
        Assert.Matches("was not up within 0 s: systemd reports '[^']+'", e.Message);
        Assert.DoesNotContain("'running'", e.Message, StringComparison.Ordinal);

        var seen = GuestReadiness.Wait(g.Runtime, g.Name, GuestState.Running, TimeSpan.FromSeconds(90));
        Assert.Matches("^systemd reports '(running|degraded)'$", seen);
        Assert.Equal("running", g.Exec("systemctl", "is-system-running").Out.Trim()); // up means booted, not only started

        var stop = Task.Run(() => g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(20)));
        Assert.Equal("the guest is stopped", GuestReadiness.Wait(g.Runtime, g.Name, GuestState.Stopped, TimeSpan.FromSeconds(30)));
        stop.Wait();
    }

    /// <summary>
    /// A zero timeout kills at once, systemd guests too: the runtime's kill --all reaches only the
    /// container's own cgroup, which systemd empties into its own tree (the stop used to wait 25 s).
    /// </summary>
    [GuestFact]
    public void ASystemdGuestStoppedWithAZeroTimeoutIsGoneAtOnce()
    {
        using var g = new LiveGuest(c => c.InitStyle = InitStyle.Auto, start: false, builder: new CloneBuilder(DebianTrees.Systemd));
        g.Runtime.Start(g.Name);
        GuestReadiness.Wait(g.Runtime, g.Name, GuestState.Running, TimeSpan.FromSeconds(90));
        // the premise: systemd runs in a cgroup below the one the runtime made
        Assert.StartsWith(Cgroups.PayloadOf(g.Cgroup) + "/", ProcFs.CgroupPath(g.State.InitPid, Cgroups.MembershipController()), StringComparison.Ordinal);
        var sw = Stopwatch.StartNew();
        g.Runtime.Stop(g.Name, TimeSpan.Zero);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"the stop took {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.Empty(Cgroups.Processes(g.Cgroup));
    }

    [GuestFact]
    public void ASysvinitGuestIsUpInItsRunlevelAndABusyboxGuestWhileItsInitRuns()
    {
        using (var sysv = new LiveGuest(c => c.InitStyle = InitStyle.Auto, builder: new CloneBuilder(DebianTrees.Sysvinit)))
        {
            var seen = GuestReadiness.Wait(sysv.Runtime, sysv.Name, GuestState.Running, TimeSpan.FromSeconds(30));
            Assert.Equal("runlevel reports 'N 2'", seen);
        }
        using var busybox = new LiveGuest();
        Assert.Equal("its init runs (it reports no boot state)", GuestReadiness.Wait(busybox.Runtime, busybox.Name, GuestState.Running, TimeSpan.FromSeconds(5)));
        var e = Assert.Throws<VServerException>(() => GuestReadiness.Wait(busybox.Runtime, busybox.Name, GuestState.Stopped, TimeSpan.FromSeconds(0.3)));
        Assert.Contains("was not stopped within 0.3 s: the guest runs (", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The guest answers the wait's question with a program of its own: one that prints without end
    /// must neither hold the host's memory nor the wait past its timeout. Weak on purpose first: the
    /// host reading such a program's output unbounded keeps all of it.
    /// </summary>
    [GuestFact]
    public void AGuestThatAnswersWithoutEndNeitherFillsTheHostsMemoryNorHoldsTheWait()
    {
        // weak: read without a bound, 64 MiB of output is kept
        var weak = HostProcess.Run("/bin/sh", new[] { "-c", "head -c 67108864 /dev/zero" });
        Assert.True(weak.StandardOutput.Length >= 64 << 20);
        // the bound the wait uses keeps 4096 characters of the same
        var bounded = HostProcess.Run("/bin/sh", new[] { "-c", "head -c 67108864 /dev/zero" }, outputLimit: 4096);
        Assert.InRange(bounded.StandardOutput.Length, 1, 4097);

        using var g = new LiveGuest(c => c.InitStyle = InitStyle.Auto, start: false, builder: new CloneBuilder(DebianTrees.Systemd));
        g.Runtime.Start(g.Name);
        // the guest's root replaces its systemctl with one that never stops talking, on one endless line
        g.Sh("rm /usr/bin/systemctl && printf '#!/bin/sh\\nexec cat /dev/zero\\n' > /usr/bin/systemctl && chmod 755 /usr/bin/systemctl");
        var before = Process.GetCurrentProcess().WorkingSet64;
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<VServerException>(() => GuestReadiness.Wait(g.Runtime, g.Name, GuestState.Running, TimeSpan.FromSeconds(3)));
        Assert.Equal("WaitTimeout", e.ErrorId);
        Assert.Matches("systemd reports '[^']{0,101}'", e.Message); // what it said, cut short
        Assert.DoesNotContain("'running'", e.Message, StringComparison.Ordinal);
        Assert.InRange(sw.Elapsed.TotalSeconds, 2.5, 3 + GuestReadiness.ProbeTimeout.TotalSeconds + 5);
        Process.GetCurrentProcess().Refresh();
        Assert.True(Process.GetCurrentProcess().WorkingSet64 - before < 256L << 20, "the host held what the guest printed");
    }

    [GuestFact]
    public void TheConsoleLogHoldsWhatTheGuestPrintsIsFollowedAndCannotFillTheHost()
    {
        using var g = new LiveGuest();
        var run = g.Runtime.Run(g.Name);
        g.Sh("echo 'hello from the console' > /proc/1/fd/1; printf 'bell\\a and \\033[2J clear\\n' > /proc/1/fd/1");
        Assert.True(LiveGuest.WaitFor(() => ConsoleLog.Read(run).Any(e => e.Message == "hello from the console"), 5));
        var hostile = ConsoleLog.Read(run).Last(e => e.Message.StartsWith("bell", StringComparison.Ordinal)).Message;
        Assert.DoesNotContain('\a', hostile);
        Assert.DoesNotContain('\u001b', hostile);

        // -Wait: a line printed later arrives
        var got = new List<string>();
        using var cancel = new CancellationTokenSource();
        var follower = new Thread(() => ConsoleLog.Follow(run, e => { lock (got) got.Add(e.Message); }, cancel.Token, TimeSpan.FromMilliseconds(50)));
        follower.Start();
        Thread.Sleep(200);
        g.Sh("echo 'printed later' > /proc/1/fd/1");
        Assert.True(LiveGuest.WaitFor(() => { lock (got) return got.Contains("printed later"); }, 5));
        cancel.Cancel();
        follower.Join();

        // a noisy guest: 12 MiB printed, the log stays within conmon's bound
        g.Sh("head -c 12582912 /dev/zero | tr '\\0' x | fold -w 200 > /proc/1/fd/1");
        Assert.True(new FileInfo(run.ConsoleLog).Length <= ConsoleLog.MaxBytes + 64 * 1024, $"the console log holds {new FileInfo(run.ConsoleLog).Length} bytes");
        // the log outlives the guest's stop, for the next look
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));
        var last = ConsoleLog.Read(run, 5).Select(e => e.Message).ToList();
        Assert.NotEmpty(last);
        // and the next start keeps it as the previous log (one generation, within the same bound)
        g.Runtime.Start(g.Name);
        Assert.Equal(last, ConsoleLog.Read(run, 5, previous: true).Select(e => e.Message).ToList());
        Assert.DoesNotContain(ConsoleLog.Read(run), e => e.Message.StartsWith("xxxxxxxx", StringComparison.Ordinal));
        Assert.True(new FileInfo(run.PreviousConsoleLog).Length <= ConsoleLog.MaxBytes + 64 * 1024);
    }
}
