using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using VServer.Processes;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The host's view of contexts and processes against running guests (root, runc, conmon).</summary>
[Collection("guests")]
public class ContextTests
{
    /// <summary>Starts <paramref name="count"/> idle sleeps in the guest (detached from the exec's output).</summary>
    private static void Sleeps(LiveGuest g, int count) =>
        g.Sh($"i=0; while [ $i -lt {count} ]; do sleep 600 >/dev/null 2>&1 </dev/null & i=$((i+1)); done");

    /// <summary>A guest pid of a new idle sleep.</summary>
    /// <summary>A `sleep 600` in the guest, its pid there; returned once it is sleep (the shell's fork has exec'd it).</summary>
    private static int SleepPid(LiveGuest g) =>
        int.Parse(g.Sh("sleep 600 >/dev/null 2>&1 </dev/null & p=$!; while [ \"$(cat /proc/$p/comm 2>/dev/null)\" != sleep ]; do :; done; echo $p").Trim(), CultureInfo.InvariantCulture);

    private static IReadOnlyList<int> CgroupPids(LiveGuest g) => Cgroups.Processes(g.State.CgroupsPath);

    /// <summary>Fields 23 (vsize) and 24 (rss pages) of /proc/PID/stat, parsed here independently of ProcFs.</summary>
    private static (long Vsz, long Rss) Memory(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[20], CultureInfo.InvariantCulture), long.Parse(f[21], CultureInfo.InvariantCulture) * Environment.SystemPageSize);
    }

    private static (TimeSpan User, TimeSpan System) CpuAcct(LiveGuest g)
    {
        var h = Cgroups.Hierarchies();
        var file = h.TryGetValue("cpuacct", out var v1)
            ? Path.Combine(v1 + g.State.CgroupsPath, "cpuacct.stat")
            : Path.Combine(h[""] + g.State.CgroupsPath, "cpu.stat");
        var d = File.ReadAllLines(file).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture));
        return h.ContainsKey("cpuacct")
            ? (TimeSpan.FromSeconds(d["user"] / 100.0), TimeSpan.FromSeconds(d["system"] / 100.0))
            : (TimeSpan.FromTicks(d["user_usec"] * 10), TimeSpan.FromTicks(d["system_usec"] * 10));
    }

    [GuestFact]
    public void ContextsCountMemoryAndTimePerGuestAndTheHostHasTheRest()
    {
        using var a = new LiveGuest();
        using var b = new LiveGuest(sharing: a);
        Sleeps(a, 2);
        Sleeps(b, 4);
        // CPU time spent by a process that has ended still counts for its guest
        b.Sh("i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done");
        Assert.True(LiveGuest.WaitFor(() => CgroupPids(a).Count == 3 && CgroupPids(b).Count == 5, 10), "the sleeps did not settle");

        var table = new ProcessTable(a.Roots.Paths);
        Assert.Equal(new[] { a.Name, b.Name }.Order(StringComparer.Ordinal), table.Guests.Select(g => g.Name));
        var contexts = table.Contexts(true, table.Guests);
        Assert.Equal(3, contexts.Count);
        var host = contexts[0];
        Assert.Equal((0, "root server", (string?)null), (host.Context, host.Name, host.GuestName));

        foreach (var (g, count) in new[] { (a, 3), (b, 5) })
        {
            var c = contexts.Single(x => x.GuestName == g.Name);
            var pids = CgroupPids(g);
            Assert.Equal(g.Store.ReadConfig(g.Name).Context, c.Context);
            Assert.Equal(count, c.ProcessCount);
            Assert.Equal(pids.Sum(p => Memory(p).Vsz), c.VirtualMemory);
            Assert.Equal(pids.Sum(p => Memory(p).Rss), c.ResidentMemory);
            var (user, system) = CpuAcct(g);
            Assert.InRange((user - c.UserTime).Duration(), TimeSpan.Zero, TimeSpan.FromMilliseconds(50));
            Assert.InRange((system - c.SystemTime).Duration(), TimeSpan.Zero, TimeSpan.FromMilliseconds(50));
            Assert.Equal(g.State.StartTime, c.StartTime);
            Assert.InRange((DateTimeOffset.UtcNow - g.State.StartTime - c.Uptime).Duration(), TimeSpan.Zero, TimeSpan.FromSeconds(5));
        }
        var busy = contexts.Single(x => x.GuestName == b.Name);
        Assert.True(busy.UserTime + busy.SystemTime >= TimeSpan.FromMilliseconds(30), $"the loop's CPU time is missing: {busy.UserTime} + {busy.SystemTime}");

        // context 0: the host's processes (this one, the guests' conmons), none of the guests'
        var hostOnly = table.Processes(true, Array.Empty<RunningGuest>());
        var guestPids = CgroupPids(a).Concat(CgroupPids(b)).ToHashSet();
        Assert.DoesNotContain(hostOnly, p => guestPids.Contains(p.Id));
        Assert.All(hostOnly, p => Assert.Equal((0, (string?)null, (int?)null), (p.Context, p.GuestName, p.GuestId)));
        Assert.Contains(hostOnly, p => p.Id == Environment.ProcessId);
        Assert.Contains(hostOnly, p => p.Id == a.State.ConmonPid && p.Name == "conmon");
        Assert.True(host.ProcessCount >= 3 && host.ResidentMemory > 0 && host.VirtualMemory > 0);
        var uptime = TimeSpan.FromSeconds(double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture));
        Assert.InRange((uptime - host.Uptime).Duration(), TimeSpan.Zero, TimeSpan.FromSeconds(2));

        // asking for one guest reads only its cgroup and gives the same numbers
        var only = Assert.Single(table.Contexts(false, new[] { table.Guests.Single(g => g.Name == a.Name) }));
        Assert.Equal((3, contexts.Single(x => x.GuestName == a.Name).ResidentMemory), (only.ProcessCount, only.ResidentMemory));
    }

    [GuestFact]
    public void GuestIdMapsBackToTheHostPid()
    {
        using var g = new LiveGuest();
        var gpid = SleepPid(g);
        var table = new ProcessTable(g.Roots.Paths);
        var guest = Assert.Single(table.Guests);
        var found = table.FindGuestPid(guest, gpid);
        Assert.NotNull(found);
        var hostPid = found!.Value.Pid;
        Assert.NotEqual(gpid, hostPid);
        Assert.Equal("sleep\0" + "600\0", File.ReadAllText($"/proc/{hostPid}/cmdline"));
        var nspid = File.ReadAllLines($"/proc/{hostPid}/status").Single(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
        Assert.EndsWith("\t" + gpid.ToString(CultureInfo.InvariantCulture), nspid);

        var processes = table.Processes(false, new[] { guest });
        var p = processes.Single(x => x.GuestId == gpid);
        Assert.Equal((hostPid, "sleep 600", "sleep", "root"), (p.Id, p.CommandLine, p.Name, p.User));
        Assert.Equal(g.State.InitPid, p.ParentId); // the shell that started it has exited: the guest's init adopted it
        var init = processes.Single(x => x.GuestId == 1);
        Assert.Equal(g.State.InitPid, init.Id);
        Assert.All(processes, x => Assert.Equal((guest.Context, g.Name), (x.Context, x.GuestName)));
        // the guest sees the same process under its own pid
        Assert.Equal("sleep 600", g.Sh($"tr '\\0' ' ' < /proc/{gpid}/cmdline").Trim());
        Assert.Null(table.FindGuestPid(guest, 31999));
    }

    [GuestFact]
    public void SignalReachesOnlyTheNamedGuestsProcess()
    {
        using var a = new LiveGuest();
        using var b = new LiveGuest(sharing: a);
        var inA = SleepPid(a);
        var inB = SleepPid(b);
        using var hostChild = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            var table = new ProcessTable(a.Roots.Paths);
            var ga = table.Guests.Single(g => g.Name == a.Name);
            var gb = table.Guests.Single(g => g.Name == b.Name);
            var target = table.FindGuestPid(ga, inA)!.Value;
            var other = table.FindGuestPid(gb, inB)!.Value;

            // another guest's process and a host process are refused, and live on
            var e = Assert.Throws<VServerException>(() => table.Signal(ga, other.Pid, 9, null, "x"));
            Assert.Equal("ProcessNotInGuest", e.ErrorId);
            Assert.Contains($"guest '{b.Name}'", e.Message);
            e = Assert.Throws<VServerException>(() => table.Signal(ga, hostChild.Id, 9, null, "x"));
            Assert.Equal("ProcessNotInGuest", e.ErrorId);
            Assert.Contains("host process", e.Message);
            // a process that is no longer the one that was listed (another start time) is not signalled
            e = Assert.Throws<VServerException>(() => table.Signal(ga, target.Pid, 9, target.Stat.StartTicks + 1, "x"));
            Assert.Equal("ProcessNotFound", e.ErrorId);
            Assert.Throws<VServerException>(() => table.Signal(ga, int.MaxValue - 7, 9, null, "x"));
            Thread.Sleep(200);
            Assert.False(hostChild.HasExited);
            Assert.NotNull(ProcFs.Stat(other.Pid));
            Assert.Equal(target.Stat.StartTicks, ProcFs.Stat(target.Pid)!.StartTicks);

            table.Signal(ga, target.Pid, 15, target.Stat.StartTicks, "x");
            Assert.True(LiveGuest.WaitFor(() => ProcFs.Stat(target.Pid) is null or { IsZombie: true }, 5), "SIGTERM did not end the guest's sleep");
            Assert.Contains(inB.ToString(CultureInfo.InvariantCulture), b.Sh("ps -o pid"));
            Assert.DoesNotContain($"{inA} ", a.Sh("ps -o pid,comm") + "\n");
        }
        finally
        {
            hostChild.Kill();
        }
    }

    [GuestFact]
    public void ScansSkipProcessesThatExitWhileTheyAreRead()
    {
        using var g = new LiveGuest();
        // a guest forking short-lived processes as fast as it can
        g.Sh("while true; do /bin/true; done >/dev/null 2>&1 </dev/null &");
        var table = new ProcessTable(g.Roots.Paths);
        for (var i = 0; i < 40; i++)
        {
            var contexts = table.Contexts(true, table.Guests);
            Assert.Equal(2, contexts.Count);
            Assert.InRange(contexts[1].ProcessCount, 2, 4);
            Assert.All(table.Processes(false, table.Guests), p => Assert.Equal(g.Name, p.GuestName));
        }
    }

    [GuestFact]
    public void CliPrintsVserverStatVpsAndKills()
    {
        using var g = new LiveGuest();
        var gpid = SleepPid(g);
        var ctx = g.Store.ReadConfig(g.Name).Context!.Value;

        var stat = Cli(g, "vserver-stat");
        Assert.Equal(0, stat.Code);
        var lines = stat.Out.TrimEnd('\n').Split('\n');
        Assert.Equal("CTX   PROC    VSZ    RSS  userTIME   sysTIME    UPTIME NAME", lines[0]);
        Assert.Matches(@"^0    [ \d]{5} [ \d.KMGT]{6} [ \d.KMGT]{6} [ \d\w]{9} [ \d\w]{9} [ \d\w]{9} root server$", lines[1]);
        Assert.Matches($@"^{ctx} {{1,}}2 [ \d.KMG]{{6}} [ \d.KMG]{{6}}   0m\d\ds\d\d   0m\d\ds\d\d   0m\d\ds\d\d {g.Name}$", lines[2]);
        Assert.Equal(3, lines.Length);

        var vps = Cli(g, "vps", "--detail", g.Name);
        Assert.Equal(0, vps.Code);
        lines = vps.Out.TrimEnd('\n').Split('\n');
        Assert.Equal(StatFormat.ProcessHeader, lines[0]);
        Assert.Equal(3, lines.Length); // init, the sleep
        Assert.Matches($@"^ *\d+ {ctx} {g.Name} +1 root +S +\d+ +\d+ 00:00:00 init$", lines[1]);
        Assert.Matches($@"^ *\d+ {ctx} {g.Name} +{gpid} root +S +\d+ +\d+ 00:00:00 sleep 600$", lines[2]);

        var bad = Cli(g, "vkill", "-c", g.Name, "-s", "KILL", "31999");
        Assert.Equal(1, bad.Code);
        Assert.Contains("ProcessNotFound", bad.Err);
        var kill = Cli(g, "vkill", "-c", g.Name, "-s", "KILL", gpid.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(0, kill.Code);
        Assert.True(LiveGuest.WaitFor(() => !Regex.IsMatch(Cli(g, "vps", "--detail", g.Name).Out, $@" {gpid} root"), 5));
        Assert.Equal(2, Cli(g, "vkill").Code); // usage
    }

    [GuestFact]
    public void VpsTakesPsOptionsAndVkillTakesHostPidsAndWholeContexts()
    {
        using var g = new LiveGuest();
        var gpid = SleepPid(g);
        var ctx = g.Store.ReadConfig(g.Name).Context!.Value;
        var hostPid = CgroupPids(g).Single(p => File.ReadAllText($"/proc/{p}/comm").Trim() == "sleep");

        // seed 000's layout: ps's columns with CONTEXT (number, name) after PID
        var vps = Cli(g, "vps");
        Assert.Equal(0, vps.Code);
        var lines = vps.Out.TrimEnd('\n').Split('\n');
        Assert.Equal("  PID CONTEXT             TTY          TIME CMD", lines[0]);
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^ *{hostPid} +{ctx} {g.Name.PadRight(13)[..13]} \? +00:00:00 sleep$"));
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^ *{Environment.ProcessId} +0 MAIN +"));
        // ps's own options, BSD style: the column goes after PID wherever ps puts it
        vps = Cli(g, "vps", "aux");
        Assert.Equal(0, vps.Code);
        lines = vps.Out.TrimEnd('\n').Split('\n');
        Assert.StartsWith("USER       PID CONTEXT             %CPU", lines[0]);
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^root +{hostPid} +{ctx} {g.Name.PadRight(13)[..13]} .* sleep 600$"));
        vps = Cli(g, "vps", "-o", "pid,comm", "-p", hostPid.ToString(CultureInfo.InvariantCulture));
        Assert.Equal($"  PID CONTEXT             COMMAND\n{hostPid,5} {ctx,5} {g.Name.PadRight(13)[..13]} sleep\n", vps.Out);

        // a host pid: signalled only when it is a guest's process
        using var hostSleep = Process.Start("sleep", "600");
        try
        {
            var refused = Cli(g, "vkill", "-s", "KILL", hostSleep.Id.ToString(CultureInfo.InvariantCulture));
            Assert.Equal(1, refused.Code);
            Assert.Contains("ProcessNotInGuest", refused.Err);
            Assert.False(hostSleep.HasExited);
        }
        finally
        {
            hostSleep.Kill();
        }
        Assert.Equal(0, Cli(g, "vkill", "-s", "KILL", hostPid.ToString(CultureInfo.InvariantCulture)).Code);
        Assert.True(LiveGuest.WaitFor(() => !CgroupPids(g).Contains(hostPid), 5));
        Assert.Equal(GuestState.Running, g.Runtime.Status(g.Name).State);

        // the whole context: every process of the guest, its init too
        Assert.Equal(0, Cli(g, "vkill", "--xid", ctx.ToString(CultureInfo.InvariantCulture), "-s", "KILL").Code);
        Assert.True(LiveGuest.WaitFor(() => g.Runtime.Status(g.Name).State == GuestState.Stopped, 10));
    }

    private static (int Code, string Out, string Err) Cli(LiveGuest g, params string[] args)
    {
        var psi = new ProcessStartInfo(TestEnvironment.CliPath) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["VSERVER_CONFIG_ROOT"] = g.Roots.Paths.ConfigRoot;
        psi.Environment["VSERVER_VDIR_ROOT"] = g.Roots.Paths.VdirRoot;
        psi.Environment["VSERVER_RUN_ROOT"] = g.Roots.Paths.RunRoot;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }
}
