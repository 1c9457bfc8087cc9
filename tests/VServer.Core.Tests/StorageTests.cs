using System.Runtime.InteropServices;
using System.Text;
using VServer.Build;
using VServer.Config;
using VServer.Native;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Clone and Template builds and disk usage on loop filesystems (root).</summary>
[Collection("guests")]
public class StorageTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int lsetxattr(string path, string name, byte[] value, nint size, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint lgetxattr(string path, string name, byte[] value, nint size);

    [DllImport("libc", SetLastError = true)]
    private static extern int chown(string path, uint uid, uint gid);

    [DllImport("libc", SetLastError = true)]
    private static extern int link(string oldPath, string newPath);

    private static string? GetXattr(string path, string name)
    {
        var buf = new byte[256];
        var n = lgetxattr(path, name, buf, buf.Length);
        return n < 0 ? null : Encoding.UTF8.GetString(buf, 0, (int)n);
    }

    private static Tmds.Linux.stat LStat(string path) => Sys.FStatAt(Sys.AT_FDCWD, path, Sys.AT_SYMLINK_NOFOLLOW);

    /// <summary>A Busybox guest with extra files of every kind a clone must keep.</summary>
    private static (GuestStore Store, string Root) Source(VServerPaths paths)
    {
        var store = new GuestStore(paths);
        store.Create(new GuestConfig("src") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));
        var root = store.RootOf(store.ReadConfig("src"));
        Directory.CreateDirectory(Path.Combine(root, "srv"));
        var owned = Path.Combine(root, "srv/owned");
        File.WriteAllText(owned, "data");
        Assert.Equal(0, chown(owned, 1234, 5678));
        File.SetUnixFileMode(owned, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        Assert.Equal(0, lsetxattr(owned, "user.vserver", Encoding.UTF8.GetBytes("kept"), 4, 0));
        File.WriteAllText(Path.Combine(root, "srv/link1"), "hard");
        Assert.Equal(0, link(Path.Combine(root, "srv/link1"), Path.Combine(root, "srv/link2")));
        File.CreateSymbolicLink(Path.Combine(root, "srv/escape"), "/etc/shadow");
        File.SetLastWriteTimeUtc(owned, new DateTime(2019, 5, 6, 7, 8, 9, DateTimeKind.Utc));
        return (store, root);
    }

    [LoopFsFact]
    public void CloneSharesExtentsFromBirthAndKeepsWhatMatters()
    {
        using var fs = LoopFileSystem.Xfs();
        var (store, root) = Source(fs.Paths);
        var before = DiskUsageMeter.Measure("src", root);
        Assert.Equal(0, before.SharedBytes);

        store.Create(new GuestConfig("copy") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Clone, source: store.ResolveCloneSource("src")));
        var copy = store.RootOf(store.ReadConfig("copy"));
        var owned = LStat(Path.Combine(copy, "srv/owned"));
        Assert.Equal((1234u, 5678u, 0x1A0u), ((uint)owned.st_uid, (uint)owned.st_gid, (uint)owned.st_mode & 0xFFF));
        Assert.Equal("kept", GetXattr(Path.Combine(copy, "srv/owned"), "user.vserver"));
        Assert.Equal(new DateTime(2019, 5, 6, 7, 8, 9, DateTimeKind.Utc), File.GetLastWriteTimeUtc(Path.Combine(copy, "srv/owned")));
        Assert.Equal(LStat(Path.Combine(copy, "srv/link1")).st_ino, LStat(Path.Combine(copy, "srv/link2")).st_ino);
        Assert.Equal("/etc/shadow", new FileInfo(Path.Combine(copy, "srv/escape")).LinkTarget);
        Assert.True(((uint)LStat(Path.Combine(copy, "dev/null")).st_mode & 0xF000) == 0x2000, "dev/null is no longer a character device");

        // reflinked: the copy's data is shared with the source from the start
        var usage = DiskUsageMeter.Measure("copy", copy);
        Assert.True(usage.SharedBytes >= new FileInfo(TestEnvironment.BusyboxPath!).Length, $"shared {usage.SharedBytes}");
        Assert.Equal(usage.TotalBytes - usage.SharedBytes, usage.ExclusiveBytes);
        // the same files, and a machine-id of its own (a clone is a guest of its own)
        Assert.False(File.Exists(Path.Combine(root, "etc/machine-id")));
        Assert.Matches("^[0-9a-f]{32}\n$", File.ReadAllText(Path.Combine(copy, "etc/machine-id")));
        Assert.Equal(before.FileCount + 1, usage.FileCount);
        Assert.True(DiskUsageMeter.Measure("src", root).SharedBytes >= usage.SharedBytes);

        var e = Assert.Throws<VServerException>(() => store.ResolveCloneSource("nosuch"));
        Assert.Equal("SourceNotFound", e.ErrorId);
    }

    [LoopFsFact]
    public void CloneOnExt4IsAFullCopy()
    {
        using var fs = LoopFileSystem.Ext4();
        var (store, _) = Source(fs.Paths);
        store.Create(new GuestConfig("copy"), RootBuilders.For(BuildMethod.Clone, source: store.ResolveCloneSource("src")));
        var copy = store.RootOf(store.ReadConfig("copy"));
        Assert.Equal("data", File.ReadAllText(Path.Combine(copy, "srv/owned")));
        var usage = DiskUsageMeter.Measure("copy", copy);
        Assert.Equal(0, usage.SharedBytes);
        Assert.True(usage.TotalBytes >= new FileInfo(TestEnvironment.BusyboxPath!).Length);
    }

    [GuestFact]
    public void TemplateGuestsShareTheTemplateAndKeepTheirOwnChanges()
    {
        using var roots = new TempRoots();
        TestEnvironment.UseStagedCli();
        var store = new GuestStore(roots.Paths);
        var runtime = new GuestRuntime(store);
        var t1 = "t" + Guid.NewGuid().ToString("N")[..8];
        var t2 = "t" + Guid.NewGuid().ToString("N")[..8];
        // the template: a Busybox tree made once
        store.Create(new GuestConfig("base"), RootBuilders.For(BuildMethod.Busybox));
        var template = store.RootOf(store.ReadConfig("base"));
        foreach (var n in new[] { t1, t2 })
        {
            store.Create(new GuestConfig(n) { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Template, source: template));
            Assert.Equal(template, store.ReadConfig(n).Template);
        }
        var root1 = store.RootOf(store.ReadConfig(t1));
        Assert.Empty(Directory.GetFileSystemEntries(root1)); // the mount point, empty while stopped
        try
        {
            runtime.Start(t1);
            runtime.Start(t2);
            Assert.Contains(root1, MountTable.MountPoints());
            var o = new List<string>();
            Assert.Equal(0, runtime.Exec(t1, new ExecRequest(new[] { "/bin/sh", "-c", "echo mine > /root/own.txt; rm /etc/motd 2>/dev/null; cat /root/own.txt" }), o.Add, null));
            Assert.Equal("mine", Assert.Single(o));
            Assert.NotEqual(0, runtime.Exec(t2, new ExecRequest(new[] { "cat", "/root/own.txt" }), null, null));
            Assert.True(File.Exists(Path.Combine(TemplateLayers.UpperOf(root1), "root/own.txt")));
            Assert.False(File.Exists(Path.Combine(template, "root/own.txt")));

            var usage = DiskUsageMeter.MeasureGuest(store, t1);
            Assert.True(usage.SharedBytes >= new FileInfo(TestEnvironment.BusyboxPath!).Length);
            Assert.True(usage.ExclusiveBytes < usage.SharedBytes);
        }
        finally
        {
            runtime.Stop(t1, TimeSpan.FromSeconds(3));
            runtime.Stop(t2, TimeSpan.FromSeconds(3));
        }
        Assert.DoesNotContain(root1, MountTable.MountPoints());
        Assert.Empty(Directory.GetFileSystemEntries(root1));
        Assert.True(File.Exists(Path.Combine(TemplateLayers.UpperOf(root1), "root/own.txt"))); // kept for the next start

        // a start that cannot mount leaves nothing mounted; removal takes the layers along
        store.Remove(t1);
        Assert.False(Directory.Exists(TemplateLayers.LayersOf(root1)));
        Assert.False(Directory.Exists(root1));
        store.Remove(t2);
        var bad = Assert.Throws<VServerException>(() => RootBuilders.For(BuildMethod.Template, source: "/no/such/template"));
        Assert.Equal("TemplateNotFound", bad.ErrorId);
        bad = Assert.Throws<VServerException>(() => RootBuilders.For(BuildMethod.Template, source: "/tmp/a,b"));
        Assert.Equal("InvalidTemplate", bad.ErrorId);
    }
}
