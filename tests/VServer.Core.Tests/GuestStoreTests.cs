using VServer.Build;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

public class GuestStoreTests
{
    /// <summary>A builder that writes one file, or fails/cancels part-way, to test staging and clean-up.</summary>
    private sealed class FakeBuilder : IRootBuilder
    {
        public Action<GuestRootFs>? During { get; init; }
        public BuildMethod Method => BuildMethod.Skeleton;
        public void Preflight() { }

        public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel)
        {
            root.WriteText("etc/hostname", config.Name + "\n");
            During?.Invoke(root);
            cancel.ThrowIfCancellationRequested();
        }
    }

    private static GuestConfig Config(string name, int? ctx = null) => new(name) { Context = ctx };

    [Fact]
    public void CreateWritesConfigAndRootAndAllocatesFrom40000()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        var a = store.Create(Config("a"), new FakeBuilder());
        var b = store.Create(Config("b"), new FakeBuilder());
        Assert.Equal(40000, a.Context);
        Assert.Equal(40001, b.Context);
        Assert.Equal(Path.Combine(t.Paths.VdirRoot, "a"), a.Root);
        Assert.Equal("a\n", File.ReadAllText(Path.Combine(a.Root, "etc/hostname")));
        Assert.Equal(a.Root, new FileInfo(Path.Combine(t.Paths.ConfigRoot, "a", "vdir")).LinkTarget);
        Assert.Equal(new[] { "a", "b" }, store.ListNames());
        Assert.Equal(GuestState.Stopped, store.Get("a").State);
    }

    [Fact]
    public void DuplicateNameAndContextAreRefusedAndChangeNothing()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        store.Create(Config("web", 1000), new FakeBuilder());
        var before = t.Snapshot();

        var dupName = Assert.Throws<VServerException>(() => store.Create(Config("web", 1001), new FakeBuilder()));
        Assert.Equal("GuestExists", dupName.ErrorId);
        Assert.Equal(ErrorKind.ResourceExists, dupName.Kind);
        var dupCtx = Assert.Throws<VServerException>(() => store.Create(Config("db", 1000), new FakeBuilder()));
        Assert.Equal("ContextInUse", dupCtx.ErrorId);
        Assert.Contains("'web'", dupCtx.Message);

        Assert.Equal(before, t.Snapshot());
    }

    [Fact]
    public void AFailingBuildLeavesNothing()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        HostLock.Acquire(t.Paths.LockFile).Dispose(); // the lock file itself is expected to stay
        var before = t.Snapshot();
        var builder = new FakeBuilder { During = _ => throw new VServerException("Boom", ErrorKind.NotSpecified, "boom") };
        Assert.Throws<VServerException>(() => store.Create(Config("web"), builder));
        Assert.Equal(before, t.Snapshot());
        Assert.Empty(store.ListNames());
    }

    [Fact]
    public void ACancelledBuildLeavesNothing()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        using var cts = new CancellationTokenSource();
        var builder = new FakeBuilder { During = _ => cts.Cancel() };
        Assert.Throws<OperationCanceledException>(() => store.Create(Config("web"), builder, null, cts.Token));
        Assert.Empty(Directory.GetFileSystemEntries(t.Paths.VdirRoot));
        Assert.Equal(new[] { ".lock" }, Directory.GetFileSystemEntries(t.Paths.ConfigRoot).Select(Path.GetFileName));
    }

    [Fact]
    public void AnExistingRootDirectoryIsNeverReused()
    {
        using var t = new TempRoots();
        Directory.CreateDirectory(Path.Combine(t.Paths.VdirRoot, "web"));
        File.WriteAllText(Path.Combine(t.Paths.VdirRoot, "web", "precious"), "data");
        var e = Assert.Throws<VServerException>(() => new GuestStore(t.Paths).Create(Config("web"), new FakeBuilder()));
        Assert.Equal("RootExists", e.ErrorId);
        Assert.Equal("data", File.ReadAllText(Path.Combine(t.Paths.VdirRoot, "web", "precious")));
    }

    [Fact]
    public void ConcurrentCreatesNeverShareAContext()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        var guests = Enumerable.Range(0, 24).AsParallel().WithDegreeOfParallelism(8)
            .Select(i => new GuestStore(t.Paths).Create(Config("g" + i), new FakeBuilder())).ToList();
        Assert.Equal(24, guests.Select(g => g.Context).Distinct().Count());
        Assert.Equal(Enumerable.Range(40000, 24), guests.Select(g => g.Context!.Value).Order());
    }

    [Fact]
    public async Task TheHostLockExcludesEveryOtherOpenFileDescription()
    {
        // An OFD lock belongs to the open file description, so it excludes other threads of this
        // process as well as other processes (which necessarily have their own descriptions).
        using var t = new TempRoots();
        var held = HostLock.Acquire(t.Paths.LockFile);
        var probe = Task.Run(() => { using var l = HostLock.Acquire(t.Paths.LockFile); return DateTime.UtcNow; });
        Assert.NotSame(probe, await Task.WhenAny(probe, Task.Delay(300)));
        var released = DateTime.UtcNow;
        held.Dispose();
        Assert.Same(probe, await Task.WhenAny(probe, Task.Delay(5000)));
        Assert.True(await probe >= released);
    }

    [Fact]
    public void UpdateChangesOnlyValidatedValues()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        store.Create(Config("web", 1000), new FakeBuilder());
        store.Create(Config("db", 1001), new FakeBuilder());
        var g = store.Update("web", new Config.GuestSettings { MemoryLimit = 512L << 20, OnBoot = true, Hostname = "www" });
        Assert.Equal(512L << 20, g.MemoryLimit);
        Assert.True(g.OnBoot);
        Assert.Equal("www", g.Hostname);

        var before = t.Snapshot();
        var e = Assert.Throws<VServerException>(() => store.Update("web", new Config.GuestSettings { Context = 1001 }));
        Assert.Equal("ContextInUse", e.ErrorId);
        Assert.Throws<VServerException>(() => store.Update("web", new Config.GuestSettings { Hostname = "ok", Flags = new[] { "nope" } }));
        Assert.Equal(before, t.Snapshot());
        Assert.Equal("www", store.Get("web").Hostname);
    }

    [Fact]
    public void RemoveDeletesRootAndConfig()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        var g = store.Create(Config("web"), new FakeBuilder());
        store.Remove("web");
        Assert.False(Directory.Exists(g.Root));
        Assert.False(Directory.Exists(g.ConfigPath));
        Assert.Equal("GuestNotFound", Assert.Throws<VServerException>(() => store.Remove("web")).ErrorId);
    }

    [Fact]
    public void RemoveNeverFollowsAGuestSymlinkOutOfTheRoot()
    {
        using var t = new TempRoots();
        var outside = Path.Combine(t.Base, "host-lib");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "libc.so.6"), "host library");
        var store = new GuestStore(t.Paths);
        // Seed 003's attack: var/lock/subsys -> /lib inside the guest.
        var g = store.Create(Config("ftp"), new FakeBuilder { During = r => { r.CreateDirectory("var/lock"); r.Symlink(outside, "var/lock/subsys"); } });
        store.Remove("ftp");
        Assert.False(Directory.Exists(g.Root));
        Assert.Equal("host library", File.ReadAllText(Path.Combine(outside, "libc.so.6")));
    }

    [RootFact]
    public void RemoveRefusesARootWithAMountInsideAndChangesNothing()
    {
        using var t = new TempRoots();
        var store = new GuestStore(t.Paths);
        var g = store.Create(Config("web"), new FakeBuilder { During = r => r.CreateDirectory("mnt") });
        var mnt = Path.Combine(g.Root, "mnt");
        Run("mount", "-t", "tmpfs", "none", mnt);
        try
        {
            File.WriteAllText(Path.Combine(mnt, "keep"), "x");
            var before = t.Snapshot();
            var e = Assert.Throws<VServerException>(() => store.Remove("web"));
            Assert.Equal("GuestRootBusy", e.ErrorId);
            Assert.Equal(before, t.Snapshot());
        }
        finally
        {
            Run("umount", mnt);
        }
        store.Remove("web");
        Assert.False(Directory.Exists(g.Root));
    }

    internal static string Run(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {err}");
        return output;
    }
}
