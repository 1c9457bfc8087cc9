using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// Which settings change a running guest at once and which wait for its next start; the swap limit
/// and CPU weight settings that live changes brought.
/// </summary>
public class LiveSettingsTests
{
    private static GuestConfig Web() => new("web")
    {
        Context = 1000,
        Hostname = "web",
        Interfaces = { InterfaceSpec.Parse("eth0:10.0.0.2/24") },
        MemoryLimit = 64L << 20,
        Nice = 0,
    };

    private static readonly VServerPaths Paths = new("/nonexistent/etc", "/nonexistent/vservers", "/nonexistent/run");

    private static RunState StartedWith(GuestConfig c) => new()
    {
        Instance = "i",
        InitPid = 1,
        InitStartTicks = 1,
        StartTime = DateTimeOffset.UtcNow,
        Runtime = "runc",
        RuntimeRoot = "/run/x",
        CgroupsPath = "/vserver/web",
        Applied = LiveSettings.Of(c),
    };

    [Fact]
    public void ARunningGuestTakesLimitsAtOnceAndTheRestAtItsNextStart()
    {
        var before = Web();
        var after = before.Clone();
        new GuestSettings { MemoryLimit = 128L << 20, CpuWeight = 200, Nice = 5, Hostname = "www", Capabilities = new[] { "NET_RAW" } }.ApplyTo(after);

        var plan = LiveSettings.PlanFor(before, after, StartedWith(before), Paths);
        Assert.Equal(new[] { "Capability", "Hostname" }, plan.AtNextStart.OrderBy(n => n, StringComparer.Ordinal));
        Assert.Equal(new[] { "CpuWeight", "MemoryLimit", "Nice" }, plan.Now.OrderBy(n => n, StringComparer.Ordinal));
        Assert.Contains("change now: ", plan.Describe(), StringComparison.Ordinal);
        Assert.Contains("at its next start: ", plan.Describe(), StringComparison.Ordinal);

        // a stopped guest: every change is one for its start, none is live
        var stopped = LiveSettings.PlanFor(before, after, null, Paths);
        Assert.Empty(stopped.Now);
        Assert.Equal(5, stopped.AtNextStart.Count);
        Assert.StartsWith("change ", stopped.Describe(), StringComparison.Ordinal);
        Assert.Equal("no setting changes", LiveSettings.PlanFor(before, before.Clone(), StartedWith(before), Paths).Describe());
    }

    [Fact]
    public void ABridgeGuestsNewAddressesOnTheSameInterfacesChangeLiveAndOtherNetworkChangesWait()
    {
        var before = Web();
        GuestConfig After(params string[] interfaces)
        {
            var a = before.Clone();
            new GuestSettings { Interfaces = interfaces }.ApplyTo(a);
            return a;
        }
        var running = StartedWith(before);
        // a new address on eth0, and a second one beside it: live
        Assert.Equal(new[] { "Interface" }, LiveSettings.PlanFor(before, After("eth0:10.0.0.9/24"), running, Paths).Now);
        Assert.Equal(new[] { "Interface" }, LiveSettings.PlanFor(before, After("eth0:10.0.0.2/24", "eth0:fd00::2/64"), running, Paths).Now);
        // another interface, one more, or a different bridge: at the next start
        Assert.Equal(new[] { "Interface" }, LiveSettings.PlanFor(before, After("eth1:10.0.0.9/24"), running, Paths).AtNextStart);
        Assert.Equal(new[] { "Interface" }, LiveSettings.PlanFor(before, After("eth0:10.0.0.2/24", "eth1:10.0.1.2/24"), running, Paths).AtNextStart);
        var moved = After("eth0:10.0.0.9/24");
        moved.Bridge = "vsbr9";
        Assert.Contains("Interface", LiveSettings.PlanFor(before, moved, running, Paths).AtNextStart);
        // an address change already pending (the guest runs with other addresses than configured): the next start
        var started = After("eth0:10.0.0.7/24");
        Assert.Equal(new[] { "Interface" }, LiveSettings.PlanFor(before, After("eth0:10.0.0.9/24"), StartedWith(started), Paths).AtNextStart);
        // recorded as applied only when changed live
        Assert.Equal(LiveSettings.Of(After("eth0:10.0.0.9/24"))["Interface"], LiveSettings.AppliedAfter(running, After("eth0:10.0.0.9/24"), addressesChanged: true)!["Interface"]);
        Assert.Equal(LiveSettings.Of(before)["Interface"], LiveSettings.AppliedAfter(running, After("eth0:10.0.0.9/24"))!["Interface"]);
    }

    [Fact]
    public void PendingNamesWhatTheRunningGuestDoesNotRunWithUntilALiveChangeOrARestart()
    {
        var started = Web();
        var state = StartedWith(started);
        Assert.Empty(LiveSettings.Pending(started, state));

        var now = started.Clone();
        new GuestSettings { Hostname = "www", MemoryLimit = 256L << 20, Interfaces = new[] { "eth0:10.0.0.3/24" } }.ApplyTo(now);
        // the memory limit is never pending: Set-VServerGuest applies it to the running guest
        Assert.Equal(new[] { "Hostname", "Interface" }, LiveSettings.Pending(now, state).OrderBy(n => n, StringComparer.Ordinal));

        // after a live change the record holds the live values, and still the start's others
        var applied = LiveSettings.AppliedAfter(state, now)!;
        Assert.Equal((256L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), applied["MemoryLimit"]);
        Assert.Equal("web", applied["Hostname"]);
        Assert.Equal(new[] { "Hostname", "Interface" }, LiveSettings.Pending(now, state with { Applied = applied }).OrderBy(n => n, StringComparer.Ordinal));

        // a state from before the record existed: nothing is claimed
        Assert.Empty(LiveSettings.Pending(now, state with { Applied = null }));
        Assert.Null(LiveSettings.AppliedAfter(state with { Applied = null }, now));
    }

    [Fact]
    public void EverySettingSetVServerGuestChangesIsEitherLiveOrPending()
    {
        // each clearable setting but OnBoot (which acts at the host's boot, not on a running guest) shapes a running guest: it is in the record
        var keys = LiveSettings.Of(Web()).Keys.ToHashSet(StringComparer.Ordinal);
        Assert.All(GuestSettings.ClearableNames.Where(n => n != "OnBoot"), n => Assert.Contains(n, keys));
        Assert.All(LiveSettings.Live, n => Assert.Contains(n, keys));
    }

    [Fact]
    public void SwapIsLimitedBeyondAMemoryLimitAndClearedWithIt()
    {
        var c = Web();
        new GuestSettings { SwapLimit = 32L << 20, CpuWeight = 50 }.ApplyTo(c);
        Assert.Equal(32L << 20, c.SwapLimit);
        var limits = OciBundle.Limits(c, swapLimit: true);
        Assert.Equal(96L << 20, limits.MemoryAndSwap); // memory + swap, the v1 memsw limit
        Assert.Equal(50, limits.CpuWeight);
        Assert.Null(OciBundle.Limits(c, swapLimit: false).MemoryAndSwap);
        Assert.Equal(512, CgroupLimits.SharesOf(50));
        Assert.Equal(1024, CgroupLimits.SharesOf(GuestConfig.DefaultCpuWeight));
        Assert.Equal(10, CgroupLimits.SharesOf(1));
        Assert.Equal(102400, CgroupLimits.SharesOf(10000)); // within v1's 2 … 262144

        new GuestSettings { Clear = new[] { "MemoryLimit" } }.ApplyTo(c);
        Assert.Null(c.MemoryLimit);
        Assert.Null(c.SwapLimit);

        var e = Assert.Throws<VServerException>(() => new GuestSettings { SwapLimit = 1 }.ApplyTo(c));
        Assert.Equal("SwapLimitWithoutMemoryLimit", e.ErrorId);
        Assert.Null(c.SwapLimit); // nothing changed
        Assert.Equal("InvalidSwapLimit", Assert.Throws<VServerException>(() => new GuestSettings { MemoryLimit = 64L << 20, SwapLimit = -1 }.ApplyTo(c)).ErrorId);
        var w = Assert.Throws<VServerException>(() => new GuestSettings { CpuWeight = 10001 }.ApplyTo(c));
        Assert.Equal("InvalidCpuWeight", w.ErrorId);
        Assert.Contains("10001", w.Message, StringComparison.Ordinal);
        Assert.Null(c.MemoryLimit);
    }

    [Fact]
    public void SwapLimitAndCpuWeightAreKeptInTheConfigurationDirectory()
    {
        using var t = new TempRoots();
        var dir = Path.Combine(t.Paths.ConfigRoot, "web");
        var c = Web();
        c.SwapLimit = 16L << 20;
        c.CpuWeight = 300;
        ConfigDirectory.Write(dir, c, "/vservers/web");
        Assert.Equal((16L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(dir, "cgroup/memory.swap.max")).Trim());
        Assert.Equal("300", File.ReadAllText(Path.Combine(dir, "cgroup/cpu.weight")).Trim());
        var r = ConfigDirectory.Read(dir, "web", t.Paths);
        Assert.Equal(16L << 20, r.SwapLimit);
        Assert.Equal(300, r.CpuWeight);

        File.WriteAllText(Path.Combine(dir, "cgroup/cpu.weight"), "heavy\n");
        var e = Assert.Throws<VServerException>(() => ConfigDirectory.Read(dir, "web", t.Paths));
        Assert.Contains("cpu.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("heavy", e.Message, StringComparison.Ordinal);
    }
}
