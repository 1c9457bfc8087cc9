using System.Diagnostics;
using VServer.Build;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Build methods, run as root where they create device nodes (integration).</summary>
public class BuildTests
{
    [RootFact]
    public void SkeletonCreatesUtilVserverTreeWithDeviceNodes()
    {
        using var t = new TempRoots();
        var g = new GuestStore(t.Paths).Create(new GuestConfig("test2") { Context = 44 }, new SkeletonBuilder());
        foreach (var (name, major, minor, mode) in SkeletonBuilder.Devices)
        {
            var path = Path.Combine(g.Root, "dev", name);
            var stat = GuestStoreTests.Run("stat", "-c", "%F %t %T %a", path).Trim();
            Assert.Equal($"character special file {major:x} {minor:x} {Convert.ToString(mode, 8)}", stat);
        }
        Assert.True(Directory.Exists(Path.Combine(g.Root, "dev/pts")));
        Assert.True(Directory.Exists(Path.Combine(g.Root, "proc")));
        if (File.Exists("/etc/resolv.conf"))
        {
            Assert.Equal(File.ReadAllText("/etc/resolv.conf"), File.ReadAllText(Path.Combine(g.Root, "etc/resolv.conf")));
        }
    }

    [RootFact]
    public void BusyboxGuestRunsItsShell()
    {
        Assert.True(TestEnvironment.BusyboxPath is not null, "busybox-static is not installed (apt-get install busybox-static)");
        using var t = new TempRoots();
        var config = new GuestConfig("bb") { Hostname = "bb.example", Interfaces = { InterfaceSpec.Parse("eth0:10.9.0.2/24") } };
        var g = new GuestStore(t.Paths).Create(config, RootBuilders.For(BuildMethod.Busybox));
        // Run the guest's own shell chrooted, as a start would: the tree is self-sufficient.
        var output = GuestStoreTests.Run("chroot", g.Root, "/bin/sh", "-c", "cat /etc/hostname; ls /sbin/init && readlink /bin/sh; grep bb.example /etc/hosts; id -un");
        Assert.Equal("bb.example\n/sbin/init\nbusybox\n10.9.0.2\tbb.example\t# vserver\nroot\n", output);
        Assert.Equal("root:x:0:0:root:/root:/bin/sh", File.ReadAllLines(Path.Combine(g.Root, "etc/passwd"))[0]);
        Assert.Contains("::sysinit:/etc/init.d/rcS", File.ReadAllText(Path.Combine(g.Root, "etc/inittab")));
    }

    [RootFact]
    public void TheVdirRootIsAChrootBarrier()
    {
        using var t = new TempRoots();
        Directory.Delete(t.Paths.VdirRoot);
        new GuestStore(t.Paths).Create(new GuestConfig("x"), new SkeletonBuilder());
        // seed 000: "chmod 0000 /vservers" — the barrier against leaving a chroot through the parent.
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(t.Paths.VdirRoot));
    }

    [BusyboxFact]
    public void HostBusyboxIsStaticAndListsApplets()
    {
        var bb = HostBusybox.Locate();
        Assert.True(HostBusybox.IsStatic(bb.Path));
        var applets = bb.Applets();
        Assert.Contains("bin/sh", applets);
        Assert.Contains("sbin/init", applets);
        Assert.DoesNotContain(applets, a => a.StartsWith('/') || a.Contains(".."));
    }

    [Fact]
    public void MissingBusyboxIsAClearError()
    {
        var e = Assert.Throws<VServerException>(() => HostBusybox.Locate("/nonexistent/busybox"));
        Assert.Equal("BusyboxNotFound", e.ErrorId);
        Assert.Equal(ErrorKind.NotInstalled, e.Kind);
        Assert.Contains("busybox-static", e.Message);
    }

    [Fact]
    public void DynamicBusyboxIsRefused() =>
        Assert.Equal("BusyboxNotStatic", Assert.Throws<VServerException>(() => HostBusybox.Locate("/bin/ls")).ErrorId);
}
