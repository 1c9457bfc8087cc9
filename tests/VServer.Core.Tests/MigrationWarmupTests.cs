using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// The start's warm-up of the kernel's cgroup migration lock: which <c>cgroup.procs</c> it writes
/// (this process's own, in a v1 hierarchy), that it moves nothing, and that it ends.
/// </summary>
public sealed class MigrationWarmupTests
{
    private static readonly Dictionary<string, string> Hybrid = new()
    {
        ["pids"] = "/sys/fs/cgroup/pids", ["memory"] = "/sys/fs/cgroup/memory", ["cpu"] = "/sys/fs/cgroup/cpu,cpuacct",
        ["cpuacct"] = "/sys/fs/cgroup/cpu,cpuacct", ["name=systemd"] = "/sys/fs/cgroup/systemd", [""] = "/sys/fs/cgroup/unified",
    };

    private const string NoFavor = "35 24 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids\n";

    [Fact]
    public void ItWritesThisProcesssOwnCgroupInThePidsHierarchy()
    {
        var self = "12:memory:/system.slice/a.service\n9:name=systemd:/system.slice/a.service\n8:pids:/system.slice/a.service\n0::/system.slice/a.service\n";
        Assert.Equal("/sys/fs/cgroup/pids/system.slice/a.service/cgroup.procs", MigrationWarmup.ProcsOfSelf(Hybrid, self, false));
    }

    [Fact]
    public void WithoutPidsItTakesAControllerHierarchyAndNeverANamedOne()
    {
        var self = "9:name=systemd:/x\n3:cpu,cpuacct:/\n0::/x\n";
        var h = Hybrid.Where(kv => kv.Key != "pids").ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct/cgroup.procs", MigrationWarmup.ProcsOfSelf(h, self, false));
    }

    [Fact]
    public void AHostWithCgroupV2AloneHasNothingToWarm()
    {
        Assert.Null(MigrationWarmup.ProcsOfSelf(new Dictionary<string, string> { [""] = "/sys/fs/cgroup" }, "0::/init.scope\n", false));
    }

    [Fact]
    public void AHostWhoseCgroupsFavourDynamicModsHasNothingToWarm()
    {
        // favordynmods: the lock's readers always take the slow path, and its writer never waits for a grace period
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, NoFavor + "37 24 0:32 / /mnt/favordynmods rw - tmpfs tmpfs rw\n");
            Assert.False(Cgroups.ReadCgroupMounts(File.ReadLines(file)).FavorDynMods); // the word alone, outside a cgroup mount's options, says nothing
            File.AppendAllText(file, "36 24 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:15 - cgroup2 cgroup2 rw,nsdelegate,favordynmods\n");
            Assert.True(Cgroups.ReadCgroupMounts(File.ReadLines(file)).FavorDynMods);
        }
        finally
        {
            File.Delete(file);
        }
        Assert.NotNull(MigrationWarmup.ProcsOfSelf(Hybrid, "8:pids:/\n0::/\n", false));
        Assert.Null(MigrationWarmup.ProcsOfSelf(Hybrid, "8:pids:/\n0::/\n", true));
    }

    [Fact]
    public void ACgroupItCannotWriteEndsItWithoutAnError()
    {
        var dir = Directory.CreateTempSubdirectory("vserver-warmup-").FullName;
        try
        {
            using var warmup = MigrationWarmup.Start(Path.Combine(dir, "gone", "cgroup.procs"));
            Assert.True(warmup.Ended.WaitOne(TimeSpan.FromSeconds(10)), "it kept trying a cgroup.procs that is not there");
            Assert.Equal(0, warmup.Moves);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [RootFact]
    public void OnThisHostItMovesThisProcessWhereItIsUntilItIsEnded()
    {
        var before = File.ReadAllText("/proc/self/cgroup");
        var warmup = MigrationWarmup.Begin();
        if (Cgroups.Hierarchies().Keys.All(k => k.Length == 0 || k.StartsWith("name=", StringComparison.Ordinal)))
        {
            Assert.Null(warmup); // cgroup v2 alone: nothing to warm
            return;
        }
        Assert.NotNull(warmup);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (warmup.Moves < 3 && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(5);
            }
            Assert.True(warmup.Moves >= 3, $"it moved {warmup.Moves} time(s) in 10 s; it should keep moving every {MigrationWarmup.Interval.TotalMilliseconds} ms");
        }
        finally
        {
            warmup.Dispose();
        }
        Assert.True(warmup.Ended.WaitOne(MigrationWarmup.Limit / 2), $"it did not end within {(MigrationWarmup.Limit / 2).TotalSeconds} s of being disposed");
        var moves = warmup.Moves;
        Thread.Sleep(50);
        Assert.Equal(moves, warmup.Moves);
        Assert.Equal(before, File.ReadAllText("/proc/self/cgroup")); // every move was into the cgroup it was in
    }

    /// <summary>Starts side by side in one process (Start-VServerGuest -ThrottleLimit) share one warmup, which ends with the last of them.</summary>
    [RootFact]
    public void StartsInOneProcessShareOneWarmupUntilTheLastEnds()
    {
        using var first = MigrationWarmup.Begin();
        if (first is null)
        {
            Assert.True(Cgroups.Hierarchies().Keys.All(k => k.Length == 0 || k.StartsWith("name=", StringComparison.Ordinal)), "no warmup on a host with v1 controllers");
            return;
        }
        var second = MigrationWarmup.Begin();
        Assert.NotNull(second);
        Assert.Same(first.Warmup, second.Warmup);
        first.Dispose();
        var moves = first.Moves;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (second.Moves < moves + 3 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(5);
        }
        Assert.True(second.Moves >= moves + 3, "it stopped when the first of two starts ended");
        Assert.False(second.Ended.WaitOne(0));
        second.Dispose();
        Assert.True(second.Ended.WaitOne(MigrationWarmup.Limit / 2), "it did not end with the last start");
        using var third = MigrationWarmup.Begin();
        Assert.NotSame(first.Warmup, third!.Warmup); // a start after that begins a warmup of its own
    }
}
