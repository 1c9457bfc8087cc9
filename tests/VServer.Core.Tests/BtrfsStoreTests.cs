using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>A guest store on btrfs (a loop filesystem made by the test): roots are subvolumes, a Clone is a snapshot, a remove deletes the subvolume.</summary>
public class BtrfsStoreTests
{
    private static List<string> Subvolumes(LoopFileSystem fs)
    {
        var r = HostProcess.Run(HostProcess.Find("btrfs")!, new[] { "subvolume", "list", fs.Mount });
        Assert.Equal(0, r.ExitCode);
        return r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[(l.IndexOf(" path ", StringComparison.Ordinal) + 6)..]).ToList();
    }

    [LoopFsFact]
    public void EachGuestRootIsASubvolumeAndRemovingTheGuestDeletesIt()
    {
        using var fs = LoopFileSystem.Btrfs();
        var store = new GuestStore(fs.Paths);
        var g = store.Create(new GuestConfig("b1") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));

        Assert.Equal(StorageKind.Btrfs, g.Storage);
        Assert.True(Btrfs.IsSubvolume(g.Root));
        Assert.Equal("vservers/b1", Assert.Single(Subvolumes(fs)));
        Assert.True(File.Exists(Path.Combine(g.Root, "bin", "busybox")));
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(g.Root));

        store.Remove("b1");
        Assert.Empty(Subvolumes(fs));
        Assert.Empty(Directory.GetFileSystemEntries(fs.Paths.VdirRoot));
        Assert.False(Directory.Exists(fs.Paths.ConfigDir("b1")));
    }

    [LoopFsFact]
    public void ACloneOfAGuestIsASnapshotSharingEveryExtentAndAWriteInTheCloneStaysInIt()
    {
        using var fs = LoopFileSystem.Btrfs();
        var store = new GuestStore(fs.Paths);
        var src = store.Create(new GuestConfig("src") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));
        var data = Path.Combine(src.Root, "srv", "data.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(data)!);
        File.WriteAllBytes(data, Enumerable.Range(0, 32 << 20).Select(i => (byte)(i * 7)).ToArray());
        var free = fs.FreeBytes();

        var clone = store.Create(new GuestConfig("copy") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Clone, source: store.ResolveCloneSource("src")));

        Assert.Equal(StorageKind.Btrfs, clone.Storage);
        Assert.True(Btrfs.IsSubvolume(clone.Root));
        Assert.True(free - fs.FreeBytes() < 4L << 20, $"the clone took {(free - fs.FreeBytes()) >> 20} MB"); // a snapshot, not a copy of 32 MB
        var usage = DiskUsageMeter.Measure("copy", clone.Root);
        Assert.True(usage.SharedBytes >= usage.TotalBytes * 95 / 100, $"shared {usage.SharedBytes} of {usage.TotalBytes}");
        // a clone is a guest of its own: its own machine identity, its own name files
        Assert.Contains("copy", File.ReadAllText(Path.Combine(clone.Root, "etc", "hostname")));
        Assert.DoesNotContain("copy", File.ReadAllText(Path.Combine(src.Root, "etc", "hostname")));

        using (var w = new FileStream(Path.Combine(clone.Root, "srv", "data.bin"), FileMode.Open, FileAccess.Write))
        {
            w.Write(new byte[] { 1, 2, 3 });
        }
        Assert.Equal((byte)0, File.ReadAllBytes(data)[0]);
        Assert.Equal((byte)1, File.ReadAllBytes(Path.Combine(clone.Root, "srv", "data.bin"))[0]);

        // the source goes first: the snapshot does not depend on it
        store.Remove("src");
        Assert.Equal((byte)21, File.ReadAllBytes(Path.Combine(clone.Root, "srv", "data.bin"))[3]);
        store.Remove("copy");
        Assert.Empty(Subvolumes(fs));
    }

    [LoopFsFact]
    public void ASubvolumeMadeInsideAGuestsRootIsRemovedWithItButAMountStillStopsTheRemove()
    {
        using var fs = LoopFileSystem.Btrfs();
        var store = new GuestStore(fs.Paths);
        var g = store.Create(new GuestConfig("nest") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));
        // what a guest's root can do with btrfs's ioctl (no privilege needed): a subvolume in its own tree,
        // which blocks deleting the root's subvolume whole and is another device number to a tree walk
        Directory.CreateDirectory(Path.Combine(g.Root, "home", "u"));
        Assert.Equal(0, HostProcess.Run(HostProcess.Find("btrfs")!, new[] { "subvolume", "create", Path.Combine(g.Root, "home", "u", "vol") }).ExitCode);
        File.WriteAllText(Path.Combine(g.Root, "home", "u", "vol", "f"), "x");
        Assert.Equal(2, Subvolumes(fs).Count);

        var warnings = new Warnings();
        store.Remove("nest", warnings);
        Assert.True(warnings.Messages.Count == 0, string.Join("\n", warnings.Messages));
        Assert.Empty(Subvolumes(fs));
        Assert.Empty(Directory.GetFileSystemEntries(fs.Paths.VdirRoot));

        // a mount inside a root is still never removed through
        var h = store.Create(new GuestConfig("held") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));
        var host = Path.Combine(fs.Base, "host-data");
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "keep"), "host");
        Directory.CreateDirectory(Path.Combine(h.Root, "mnt", "x"));
        LoopFileSystem.Run("mount", "--bind", host, Path.Combine(h.Root, "mnt", "x"));
        try
        {
            var e = Assert.Throws<VServerException>(() => store.Remove("held"));
            Assert.Equal("GuestRootBusy", e.ErrorId);
        }
        finally
        {
            LoopFileSystem.Run("umount", Path.Combine(h.Root, "mnt", "x"));
        }
        Assert.Equal("host", File.ReadAllText(Path.Combine(host, "keep")));
        store.Remove("held");
        Assert.Empty(Subvolumes(fs));
    }

    private sealed class Warnings : IOperationReporter
    {
        public List<string> Messages { get; } = new();
        public void Progress(string activity, string status, int percent) { }
        public void Warning(string message) => Messages.Add(message);
        public void Verbose(string message) { }
    }
}
