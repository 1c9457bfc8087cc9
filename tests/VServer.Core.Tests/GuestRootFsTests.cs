using VServer.Build;
using VServer.Native;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Host-side operations inside a hostile guest tree (seed 003's symlink attack).</summary>
public class GuestRootFsTests
{
    [Fact]
    public void AnInRootLookupRacedByRenamesElsewhereIsRetriedNotFailed()
    {
        // the kernel answers EAGAIN to a RESOLVE_IN_ROOT lookup through ".." when any rename on the
        // host raced it (many guests starting at once rename their state files all the time)
        using var roots = new TempRoots();
        var root = Path.Combine(roots.Base, "root");
        Directory.CreateDirectory(Path.Combine(root, "a"));
        File.WriteAllText(Path.Combine(root, "b"), "b");
        var busy = Path.Combine(roots.Base, "busy");
        Directory.CreateDirectory(busy);
        File.WriteAllText(Path.Combine(busy, "x"), "x");
        var rootFd = Native.Sys.OpenAt2(Native.Sys.AT_FDCWD, root, Tmds.Linux.LibC.O_PATH | Tmds.Linux.LibC.O_DIRECTORY, 0);
        using var stop = new CancellationTokenSource();
        var renamer = new Thread(() =>
        {
            var (from, to) = (Path.Combine(busy, "x"), Path.Combine(busy, "y"));
            while (!stop.IsCancellationRequested)
            {
                Native.Sys.Rename(from, to);
                (from, to) = (to, from);
            }
        });
        renamer.Start();
        try
        {
            for (var i = 0; i < 20000; i++)
            {
                var fd = Native.Sys.OpenAt2(rootFd, "a/../b", Tmds.Linux.LibC.O_RDONLY, Native.Sys.RESOLVE_IN_ROOT_);
                Native.Sys.Close(fd);
            }
        }
        finally
        {
            stop.Cancel();
            renamer.Join();
            Native.Sys.Close(rootFd);
        }
    }

    private static (TempRoots T, string Root, string Outside) Hostile()
    {
        var t = new TempRoots();
        var root = Path.Combine(t.Base, "guest");
        var outside = Path.Combine(t.Base, "host");
        Directory.CreateDirectory(Path.Combine(root, "var/run"));
        Directory.CreateDirectory(Path.Combine(root, "var/lock"));
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "nologin"), "host file");
        File.CreateSymbolicLink(Path.Combine(root, "var/run/utmp"), Path.Combine(outside, "nologin"));
        File.CreateSymbolicLink(Path.Combine(root, "var/lock/subsys"), outside);
        return (t, root, outside);
    }

    [Fact]
    public void WritingThroughAPlantedSymlinkIsRefused()
    {
        var (t, root, outside) = Hostile();
        using (t)
        using (var fs = GuestRootFs.Open(root))
        {
            var e = Assert.Throws<SyscallException>(() => fs.WriteText("var/run/utmp", "pwned"));
            Assert.Equal("ELOOP", e.ErrnoName);
            Assert.Equal("openat,ELOOP", e.ErrorId);
            Assert.Contains("var/run/utmp", e.Message);
            Assert.Equal("host file", File.ReadAllText(Path.Combine(outside, "nologin")));
        }
    }

    [Fact]
    public void CreatingInsideASymlinkedDirectoryIsRefused()
    {
        var (t, root, outside) = Hostile();
        using (t)
        using (var fs = GuestRootFs.Open(root))
        {
            Assert.Throws<SyscallException>(() => fs.WriteText("var/lock/subsys/evil", "x"));
            Assert.Throws<SyscallException>(() => fs.CreateDirectory("var/lock/subsys/dir"));
            Assert.Equal(new[] { "nologin" }, Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        }
    }

    [Fact]
    public void ReadingResolvesAbsoluteLinksInsideTheRoot()
    {
        var (t, root, _) = Hostile();
        using (t)
        using (var fs = GuestRootFs.Open(root))
        {
            // The guest's /etc/passwd is a link to "/etc/shadow-copy": resolved in the guest, never on the host.
            Directory.CreateDirectory(Path.Combine(root, "etc"));
            File.WriteAllText(Path.Combine(root, "etc/real"), "guest data");
            File.CreateSymbolicLink(Path.Combine(root, "etc/passwd"), "/etc/real");
            File.CreateSymbolicLink(Path.Combine(root, "etc/escape"), "../../../../../../etc/hostname");
            Assert.Equal("guest data", System.Text.Encoding.UTF8.GetString(fs.ReadFile("etc/passwd")));
            Assert.Throws<SyscallException>(() => fs.ReadFile("etc/escape")); // clamped to the guest root, where it does not exist
            Assert.Throws<VServerException>(() => fs.ReadFile("../outside"));
        }
    }

    [Fact]
    public void SafeRemoveUnlinksSymlinksAndKeepsTheirTargets()
    {
        var (t, root, outside) = Hostile();
        using (t)
        {
            SafeRemove.RemoveTree(root);
            Assert.False(Directory.Exists(root));
            Assert.Equal("host file", File.ReadAllText(Path.Combine(outside, "nologin")));
        }
    }

    [Fact]
    public void SafeRemoveRefusesSlash() =>
        Assert.Equal("RefusedRemoveRoot", Assert.Throws<VServerException>(() => SafeRemove.RemoveTree("/")).ErrorId);

    [Fact]
    public void StaticBusyboxIsRecognisedAndDynamicBinariesAreNot()
    {
        Assert.False(HostBusybox.IsStatic("/bin/ls"));
        Assert.False(HostBusybox.IsStatic("/etc/hostname"));
    }
}
