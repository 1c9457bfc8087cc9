using VServer.Native;
using System.Globalization;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// Set-VServerGuest on a running guest (util-vserver's vlimit and vsched): limits and priority change
/// at once, all or nothing with the configuration; a limit below what the guest uses is refused with
/// nothing changed; what waits for the next start is named and shown as PendingRestart.
/// </summary>
[Collection("guests")]
public class LiveLimitsTests
{
    private const long MiB = 1L << 20;

    private static long MemTotalKb(LiveGuest g) =>
        long.Parse(g.Sh("grep MemTotal: /proc/meminfo").Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private static string V1(string controller, string cgroup, string file) =>
        File.ReadAllText(Path.Combine(Cgroups.Hierarchies()[controller] + cgroup, file)).Trim();

    [GuestFact(Lxcfs = true)]
    public void MemoryCpuAndProcessLimitsRiseAndFallOnARunningBusyboxGuest()
    {
        using var g = new LiveGuest(c => { c.MemoryLimit = 64 * MiB; c.CpuLimit = 1; });
        Assert.Equal(64 * 1024, MemTotalKb(g));
        var warnings = new WarningList();

        g.Store.Update(g.Name, new GuestSettings { MemoryLimit = 128 * MiB, CpuLimit = 2, ProcessLimit = 50, CpuWeight = 200 }, warnings);
        var u = Cgroups.Usage(g.Cgroup);
        Assert.Equal(128 * MiB, u.MemoryLimit);
        Assert.Equal(2, u.CpuLimit);
        Assert.Equal(50, u.ProcessLimit);
        Assert.Equal(200, u.CpuWeight);
        if (Cgroups.SwapLimitSupported())
        {
            Assert.Equal(128 * MiB, u.MemoryAndSwapLimit); // no swap beyond memory unless configured
        }
        // what the guest sees follows at once (lxcfs reads the limits as they are)
        Assert.Equal(128 * 1024, MemTotalKb(g));
        Assert.Equal(Math.Min(2, Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture), g.Sh("grep -c ^processor /proc/cpuinfo").Trim());
        // kept for the next start, and nothing is pending
        var c = g.Store.ReadConfig(g.Name);
        Assert.Equal((128 * MiB, 2.0, 50L, 200), (c.MemoryLimit!.Value, c.CpuLimit!.Value, c.ProcessLimit!.Value, c.CpuWeight!.Value));
        Assert.Empty(g.Store.Get(g.Name).PendingRestart);
        Assert.Empty(warnings.Warnings);

        // lower each again, then lift the memory and CPU limits altogether
        g.Store.Update(g.Name, new GuestSettings { MemoryLimit = 48 * MiB, CpuLimit = 0.5, ProcessLimit = 40, SwapLimit = 16 * MiB }, warnings);
        u = Cgroups.Usage(g.Cgroup);
        Assert.Equal((48 * MiB, 0.5, 40L), (u.MemoryLimit!.Value, u.CpuLimit!.Value, u.ProcessLimit!.Value));
        if (Cgroups.SwapLimitSupported())
        {
            Assert.Equal(64 * MiB, u.MemoryAndSwapLimit);
        }
        Assert.Equal(48 * 1024, MemTotalKb(g));
        if (Cgroups.Hierarchies().ContainsKey("cpu"))
        {
            Assert.Equal("50000", V1("cpu", Cgroups.PayloadOf(g.Cgroup), "cpu.cfs_quota_us")); // the payload's quota too: lxcfs counts CPUs there
        }
        g.Store.Update(g.Name, new GuestSettings { Clear = new[] { "MemoryLimit", "CpuLimit", "ProcessLimit", "CpuWeight" } }, warnings);
        u = Cgroups.Usage(g.Cgroup);
        Assert.Null(u.MemoryLimit);
        Assert.Null(u.MemoryAndSwapLimit);
        Assert.Null(u.CpuLimit);
        Assert.Equal(GuestConfig.DefaultProcessLimit, u.ProcessLimit); // every guest keeps one
        Assert.Equal(GuestConfig.DefaultCpuWeight, u.CpuWeight);
        Assert.Empty(warnings.Warnings);
    }

    [GuestFact]
    public void ALimitBelowWhatTheGuestUsesIsRefusedAndNothingChanges()
    {
        using var g = new LiveGuest(c => c.MemoryLimit = 128 * MiB);
        string Snapshot() => string.Join("\n", ConfigDirectory.Render(g.Store.ReadConfig(g.Name)).Select(kv => kv.Key + "=" + kv.Value));
        var config = Snapshot();

        // 40 MiB the kernel cannot reclaim (tmpfs, no swap beyond memory) and a few more processes
        g.Sh("dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; for i in 1 2 3 4 5 6; do sleep 1000 >/dev/null 2>&1 & done");
        var before = Cgroups.Usage(g.Cgroup);
        Assert.True(before.MemoryUsed > 40 * MiB, $"the guest uses {before.MemoryUsed} bytes");
        Assert.True(before.Processes >= 7, $"the guest runs {before.Processes} processes");

        var mem = Assert.Throws<VServerException>(() => g.Store.Update(g.Name, new GuestSettings { MemoryLimit = 16 * MiB }));
        Assert.Equal("LimitBelowUsage", mem.ErrorId);
        Assert.Contains("of memory now", mem.Message, StringComparison.Ordinal);
        Assert.Contains("MiB", mem.Message, StringComparison.Ordinal);

        var pids = Assert.Throws<VServerException>(() => g.Store.Update(g.Name, new GuestSettings { ProcessLimit = 3 }));
        Assert.Equal("LimitBelowUsage", pids.ErrorId);
        Assert.Matches(@"uses \d+ processes now", pids.Message);

        // the process limit would fit, the memory limit not: the process limit written first is put back
        var both = Assert.Throws<VServerException>(() => g.Store.Update(g.Name, new GuestSettings { ProcessLimit = 100, CpuLimit = 0.5, MemoryLimit = 16 * MiB }));
        Assert.Equal("LimitBelowUsage", both.ErrorId);

        var after = Cgroups.Usage(g.Cgroup);
        Assert.Equal((before.MemoryLimit, before.MemoryAndSwapLimit, before.ProcessLimit, before.CpuQuota), (after.MemoryLimit, after.MemoryAndSwapLimit, after.ProcessLimit, after.CpuQuota));
        Assert.Equal(config, Snapshot());
        Assert.Equal(0, g.Exec("/bin/true").Code); // the guest runs on as it was
    }

    [GuestFact]
    public void NiceMovesEveryThreadOfTheGuestAndSettingsForTheNextStartArePending()
    {
        using var g = new LiveGuest();
        g.Sh("sleep 1000 >/dev/null 2>&1 & sleep 1000 >/dev/null 2>&1 &");
        int[] Nices() => Cgroups.Processes(g.Cgroup).SelectMany(p => ProcFs.ThreadIds(p).Select(t => ProcFs.ThreadStat(p, t)?.Nice))
            .OfType<int>().Distinct().Order().ToArray();
        Assert.Equal(new[] { 0 }, Nices());

        var warnings = new WarningList();
        g.Store.Update(g.Name, new GuestSettings { Nice = 5 }, warnings);
        Assert.Equal(new[] { 5 }, Nices());
        // a command run in the guest afterwards starts at the guest's value too (field 19 of its stat)
        int ExecNice() => int.Parse(g.Sh("cat /proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[16], CultureInfo.InvariantCulture);
        Assert.Equal(5, ExecNice());

        g.Store.Update(g.Name, new GuestSettings { Nice = -3 }, warnings);
        Assert.Equal(new[] { -3 }, Nices());
        Assert.Equal(-3, ExecNice());
        g.Store.Update(g.Name, new GuestSettings { Clear = new[] { "Nice" } }, warnings);
        Assert.Equal(new[] { 0 }, Nices());
        Assert.Equal(0, ExecNice());
        // without a setting of the guest's, a command keeps the caller's value (`nice vserver NAME exec`)
        Sys.SetNice(0, 3); // this thread, which starts the runtime's exec
        try
        {
            Assert.Equal(3, ExecNice());
        }
        finally
        {
            Sys.SetNice(0, 0);
        }
        Assert.Empty(warnings.Warnings);

        // what cannot change live is named, shown as pending, and applied by the next start
        g.Store.Update(g.Name, new GuestSettings { Hostname = "renamed", MemoryLimit = 96 * MiB }, warnings);
        var warning = Assert.Single(warnings.Warnings);
        Assert.Contains("Hostname", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("MemoryLimit", warning, StringComparison.Ordinal);
        Assert.Contains($"from its next start (Restart-VServerGuest {g.Name})", warning, StringComparison.Ordinal);
        Assert.Equal(new[] { "Hostname" }, g.Store.Get(g.Name).PendingRestart);
        Assert.Equal(96 * MiB, Cgroups.Usage(g.Cgroup).MemoryLimit);
        Assert.NotEqual("renamed", g.Sh("hostname").Trim());

        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));
        Assert.Empty(g.Store.Get(g.Name).PendingRestart); // a stopped guest has nothing pending
        g.Runtime.Start(g.Name);
        Assert.Empty(g.Store.Get(g.Name).PendingRestart);
        Assert.Equal("renamed", g.Sh("hostname").Trim());
    }

    [GuestFact]
    public void VlimitAndVschedChangeARunningGuestByItsContextAsUtilVserversDid()
    {
        using var g = new LiveGuest(c => c.Context = 4242);
        ProcessResult Cli(params string[] args) => TestEnvironment.Vserver(g.Roots.Paths, null, args);
        var page = Environment.SystemPageSize;

        // seed 003's vlimit takes the context; --rss and --as count pages
        var r = Cli("vlimit", "-c", "4242", "--rss", (64 * MiB / page).ToString(CultureInfo.InvariantCulture), "--as", (80 * MiB / page).ToString(CultureInfo.InvariantCulture), "--nproc", "77");
        Assert.True(r.ExitCode == 0, r.StandardError);
        var u = Cgroups.Usage(g.Cgroup);
        Assert.Equal((64 * MiB, 77L), (u.MemoryLimit!.Value, u.ProcessLimit!.Value));
        if (Cgroups.SwapLimitSupported())
        {
            Assert.Equal(80 * MiB, u.MemoryAndSwapLimit);
        }
        var c = g.Store.ReadConfig(g.Name);
        Assert.Equal((64 * MiB, 16 * MiB, 77L), (c.MemoryLimit!.Value, c.SwapLimit!.Value, c.ProcessLimit!.Value)); // kept for the next start

        r = Cli("vlimit", "-c", g.Name, "-a");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"(?m)^rss\s+\d+\s+" + (64 * MiB / page) + @"\s+pages of memory$", r.StandardOutput);
        Assert.Matches(@"(?m)^nproc\s+\d+\s+77\s+processes$", r.StandardOutput);

        // vsched: the token bucket's rate as a CPU quota, the priority bias as nice
        r = Cli("vsched", "-c", "4242", "--fill-rate", "1", "--interval", "4", "--priority-bias", "7", "--cpu-weight", "300");
        Assert.True(r.ExitCode == 0, r.StandardError);
        u = Cgroups.Usage(g.Cgroup);
        Assert.Equal((0.25, 300), (u.CpuLimit!.Value, u.CpuWeight!.Value));
        Assert.Equal(7, ProcFs.Stat(g.State.InitPid)!.Nice);

        // refused with nothing changed: a limit below use, an option with no equivalent, a bad value
        g.Sh("sleep 1000 >/dev/null 2>&1 &");
        r = Cli("vlimit", "-c", "4242", "--nproc", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("[LimitBelowUsage]", r.StandardError, StringComparison.Ordinal);
        r = Cli("vlimit", "-c", "4242", "-S", "--rss", "100");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("[LimitKindNotSupported]", r.StandardError, StringComparison.Ordinal);
        r = Cli("vsched", "-c", "4242", "--tokens", "100");
        Assert.Contains("[SchedulerOptionNotSupported]", r.StandardError, StringComparison.Ordinal);
        r = Cli("vlimit", "-c", "4242", "--nproc", "many");
        Assert.Contains("'many'", r.StandardError, StringComparison.Ordinal);
        Assert.Equal(2, Cli("vsched", "-c", "4242", "--fill-rate", "1").ExitCode); // a rate without its interval: usage
        Assert.Equal(77L, Cgroups.Usage(g.Cgroup).ProcessLimit);
        Assert.Equal(77L, g.Store.ReadConfig(g.Name).ProcessLimit);

        // inf lifts a limit
        Assert.Equal(0, Cli("vlimit", "-c", "4242", "--rss", "inf").ExitCode);
        Assert.Null(Cgroups.Usage(g.Cgroup).MemoryLimit);
        Assert.Null(g.Store.ReadConfig(g.Name).SwapLimit);
    }

    /// <summary>
    /// A Bridge guest's addresses change on the running guest and the host's anti-spoofing rules
    /// follow: the guest sends from its new address, its old one is no longer its own. An address
    /// another running guest on the bridge holds is refused with nothing changed.
    /// </summary>
    [GuestFact]
    public void ABridgeGuestsAddressesChangeLiveAndTheHostsRulesFollow()
    {
        var net = $"10.213.{Random.Shared.Next(1, 250)}";
        var bridge = "vsl" + Guid.NewGuid().ToString("N")[..6];
        void On(GuestConfig c, string host) { c.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.{host}/24")); c.Bridge = bridge; }
        LiveGuest? a = null, b = null;
        try
        {
            a = new LiveGuest(c => On(c, "2"), start: false);
            new BridgeStore(a.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" } });
            a.Runtime.Start(a.Name);
            b = new LiveGuest(c => { On(c, "3"); c.Capabilities.Add("NET_RAW"); }, sharing: a); // ping's raw socket
            string Rules() => HostProcess.Run(HostProcess.Find("nft")!, new[] { "list", "ruleset" }).StandardOutput;
            Assert.Contains($"{net}.2", Rules());
            var warnings = new WarningList();

            a.Store.Update(a.Name, new GuestSettings { Interfaces = new[] { $"eth0:{net}.4/24" } }, warnings);
            Assert.Empty(warnings.Warnings);
            var inside = a.Sh("ip addr show dev eth0");
            Assert.Contains($"{net}.4/24", inside);
            Assert.DoesNotContain($"{net}.2/", inside);
            Assert.Contains($"default via {net}.1", a.Sh("ip route"));
            var rules = Rules();
            Assert.Contains($"{net}.4", rules);
            Assert.DoesNotContain($"{net}.2 ", rules);
            Assert.Empty(a.Store.Get(a.Name).PendingRestart);
            Assert.Equal(0, b.Exec("/bin/sh", "-c", $"ping -c 2 -W 2 {net}.4 > /dev/null").Code); // b reaches a at its new address

            // b's address: refused, nothing changed
            var e = Assert.Throws<VServerException>(() => a.Store.Update(a.Name, new GuestSettings { Interfaces = new[] { $"eth0:{net}.3/24" } }));
            Assert.Equal("AddressInUse", e.ErrorId);
            Assert.Contains($"{net}.4/24", a.Sh("ip addr show dev eth0"));
            Assert.Equal($"{net}.4", a.Store.ReadConfig(a.Name).Interfaces.Single().Address.ToString());

            // another interface name waits for the next start
            a.Store.Update(a.Name, new GuestSettings { Interfaces = new[] { $"eth1:{net}.5/24" } }, warnings);
            Assert.Contains("Interface", Assert.Single(warnings.Warnings), StringComparison.Ordinal);
            Assert.Equal(new[] { "Interface" }, a.Store.Get(a.Name).PendingRestart);
            Assert.Contains($"{net}.4/24", a.Sh("ip addr show dev eth0"));

            // the host's rules are made again (b restarts on the bridge) and keep the address a runs
            // with: a pending change moves nothing until a's next start
            b.Runtime.Stop(b.Name, TimeSpan.Zero);
            b.Runtime.Start(b.Name);
            rules = Rules();
            Assert.Contains($"{net}.4", rules);
            Assert.DoesNotContain($"{net}.5", rules);
            Assert.Equal(0, b.Exec("/bin/sh", "-c", $"ping -c 2 -W 2 {net}.4 > /dev/null").Code);
        }
        finally
        {
            b?.Dispose();
            a?.Dispose();
            Ip.TryRun("link", "delete", bridge);
        }
    }

    /// <summary>
    /// After a live address change, a guest with NET_ADMIN takes its old address back and sends from
    /// it. Weak on purpose first: without the host's rules the forged packets arrive; then the default,
    /// whose rules followed the change, drops them while the new address still works.
    /// </summary>
    [GuestFact]
    public void AGuestCannotSendFromTheAddressALiveChangeTookAway()
    {
        var net = $"10.212.{Random.Shared.Next(1, 250)}";
        var bridge = "vsm" + Guid.NewGuid().ToString("N")[..6];
        void On(GuestConfig c, string host, params string[] caps) { c.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.{host}/24")); c.Bridge = bridge; c.Capabilities.AddRange(caps); }
        try
        {
            foreach (var weakHost in new[] { true, false })
            {
                TestSeams.SkipHostFirewall = weakHost;
                try
                {
                    using var a = new LiveGuest(c => On(c, "2", "NET_ADMIN", "NET_RAW"), start: false);
                    using var victim = new LiveGuest(c => On(c, "3"), start: false, sharing: a);
                    a.Runtime.Start(a.Name);
                    victim.Runtime.Start(victim.Name);
                    a.Store.Update(a.Name, new GuestSettings { Interfaces = new[] { $"eth0:{net}.4/24" } });
                    Assert.True(HostNetworkTests.Arrives(a, victim, $"ping -c 2 -W 1 {net}.3"), "a ping from the new address did not arrive");
                    Assert.Equal(weakHost, HostNetworkTests.Arrives(a, victim, $"ip addr add {net}.2/24 dev eth0; ping -c 2 -W 1 -I {net}.2 {net}.3"));
                }
                finally
                {
                    TestSeams.SkipHostFirewall = false;
                }
            }
        }
        finally
        {
            Ip.TryRun("link", "delete", bridge);
        }
    }

    /// <summary>
    /// A Debian guest with systemd (its cgroup mounted writable for systemd's tree): its memory limit
    /// changes live and `free` inside follows; and its root cannot take a live limit back. Weak on
    /// purpose first: the limit written on the payload, the cgroup the guest's root may write (host root
    /// without private users), where the guest lifts it; then the default, above the payload, where it holds.
    /// </summary>
    [GuestFact(Lxcfs = true)]
    public void ADebianGuestsMemoryChangesLiveAndItsRootCannotTakeTheLimitBack()
    {
        using var g = new LiveGuest(c => { c.InitStyle = InitStyle.Auto; c.MemoryLimit = 256 * MiB; }, start: false, builder: new CloneBuilder(DebianTrees.Systemd));
        g.Runtime.Start(g.Name);
        var state = "";
        Assert.True(LiveGuest.WaitFor(() => (state = g.Exec("systemctl", "is-system-running", "--wait").Out.Trim()) is "running" or "degraded", 90), "systemd: " + state);
        static long FreeTotalMb(LiveGuest g) => long.Parse(g.Sh("free -m | grep ^Mem:").Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        Assert.Equal(256, FreeTotalMb(g));

        g.Store.Update(g.Name, new GuestSettings { MemoryLimit = 384 * MiB });
        Assert.Equal(384, FreeTotalMb(g));
        g.Store.Update(g.Name, new GuestSettings { MemoryLimit = 192 * MiB });
        Assert.Equal(192, FreeTotalMb(g));
        Assert.Equal("running", g.Exec("systemctl", "is-system-running").Out.Trim());

        const string liftInside = "echo -1 > /sys/fs/cgroup/memory/memory.limit_in_bytes";
        var payload = Cgroups.PayloadOf(g.Cgroup);
        // weak: the lower limit written where the guest can reach it
        var limits = OciBundle.Limits(g.Store.ReadConfig(g.Name), Cgroups.SwapLimitSupported()) with { Memory = 128 * MiB, MemoryAndSwap = null };
        Cgroups.Change(g.Name, payload, limits);
        Assert.Equal(128 * MiB, Cgroups.Usage(payload).MemoryLimit);
        Assert.Equal(0, g.Exec("/bin/sh", "-c", liftInside).Code);
        Assert.Null(Cgroups.Usage(payload).MemoryLimit); // the guest lifted it

        // the default: Set-VServerGuest writes it above the payload, out of the guest's reach
        g.Store.Update(g.Name, new GuestSettings { MemoryLimit = 128 * MiB });
        g.Exec("/bin/sh", "-c", liftInside);
        Assert.Equal(128 * MiB, Cgroups.Usage(g.Cgroup).MemoryLimit);
        Assert.Equal(128, FreeTotalMb(g));
    }
}
