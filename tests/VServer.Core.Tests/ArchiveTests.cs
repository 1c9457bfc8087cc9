using System.Formats.Tar;
using VServer.Build;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;
using static VServer.Tests.TarFixtures;

namespace VServer.Tests;

/// <summary>Hand-made tar archives for the tests of hostile ones (.NET's TarWriter, PAX format).</summary>
internal static class TarFixtures
{
    public static void Write(string file, params TarEntry[] entries)
    {
        using var f = File.Create(file);
        using var w = new TarWriter(f, TarEntryFormat.Pax);
        foreach (var e in entries)
        {
            w.WriteEntry(e);
        }
    }

    public static PaxTarEntry Regular(string name, string text = "planted") => new(TarEntryType.RegularFile, name)
    {
        DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)),
    };

    public static PaxTarEntry Dir(string name) => new(TarEntryType.Directory, name);

    public static PaxTarEntry Link(TarEntryType type, string name, string target) => new(type, name) { LinkName = target };
}

/// <summary>-Method Archive: hostile tarballs are refused whole, naming the member; a good one of a Debian tree boots.</summary>
[Collection("guests")]
public class ArchiveTests
{

    [RootFact]
    public void HostileArchivesAreRefusedWholeAndWriteNothing()
    {
        using var roots = new TempRoots();
        var outside = Path.Combine(roots.Base, "host-dir");
        Directory.CreateDirectory(outside);
        var cases = new (string Member, TarEntry[] Entries)[]
        {
            ("../evil", new TarEntry[] { Regular("./etc/ok"), Regular("../evil") }),
            (outside + "/abs", new TarEntry[] { Regular(outside + "/abs") }),
            ("./etc/x/planted", new TarEntry[] { Link(TarEntryType.SymbolicLink, "./etc/x", outside), Regular("./etc/x/planted") }),
            ("h", new TarEntry[] { Link(TarEntryType.SymbolicLink, "l", outside), Link(TarEntryType.HardLink, "h", "l/passwd") }),
        };

        // weak: an extractor that joins member names to the destination writes through the symlink member into the host
        var through = Path.Combine(roots.Base, "through.tar");
        Write(through, cases[2].Entries);
        var naive = Path.Combine(roots.Base, "naive");
        Directory.CreateDirectory(Path.Combine(naive, "etc"));
        using (var reader = new TarReader(File.OpenRead(through)))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                var dest = Path.Combine(naive, entry.Name);
                if (entry.EntryType == TarEntryType.SymbolicLink)
                {
                    File.CreateSymbolicLink(dest, entry.LinkName);
                }
                else
                {
                    entry.ExtractToFile(dest, overwrite: true);
                }
            }
        }
        Assert.True(File.Exists(Path.Combine(outside, "planted")), "the naive extraction did not follow the link: the test cannot see the attack");
        File.Delete(Path.Combine(outside, "planted"));

        var store = new GuestStore(roots.Paths);
        var i = 0;
        foreach (var (member, entries) in cases)
        {
            var file = Path.Combine(roots.Base, $"case{i++}.tar");
            Write(file, entries);
            var before = Directory.GetFileSystemEntries(roots.Paths.VdirRoot);
            var e = Assert.Throws<VServerException>(() => store.Create(new GuestConfig("arch" + i), new ArchiveBuilder(file)));
            Assert.Equal("ArchiveMemberRefused", e.ErrorId);
            Assert.Equal(member, e.Target);
            Assert.Contains(member, e.Message);
            Assert.False(store.Exists("arch" + i));
            Assert.Equal(before, Directory.GetFileSystemEntries(roots.Paths.VdirRoot)); // no staging root left
            Assert.Empty(Directory.GetFileSystemEntries(outside));
        }
        Assert.False(File.Exists(Path.Combine(roots.Base, "evil")));
    }

    [Fact]
    public void UnknownFormatsAndMissingFilesAreRefused()
    {
        Assert.Equal("UnknownArchiveFormat", Assert.Throws<VServerException>(() => ArchiveBuilder.Compression("/srv/guest.zip")).ErrorId);
        Assert.Equal("zst", ArchiveBuilder.Compression("/srv/guest.tar.zst"));
        Assert.Equal("gz", ArchiveBuilder.Compression("/srv/guest.tgz"));
        Assert.Equal("SourceNotFound", Assert.Throws<VServerException>(() => new ArchiveBuilder("/nonexistent/guest.tar").Preflight()).ErrorId);
    }

    [GuestFact]
    public void AnArchiveOfADebianTreeBootsWithOwnersModesAndDevicesKept()
    {
        var tree = DebianTrees.Systemd;
        using var roots = new TempRoots();
        var archive = Path.Combine(roots.Base, "debian.tar.zst");
        var r = HostProcess.Run("/usr/bin/tar", new[] { "--create", "--zstd", "--file=" + archive, "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "-C", tree, "." });
        Assert.True(r.ExitCode == 0, r.StandardError);
        using var g = new LiveGuest(c => c.InitStyle = InitStyle.Auto, start: false, builder: new ArchiveBuilder(archive));
        var su = File.ResolveLinkTarget(Path.Combine(g.Root, "bin"), false) is null ? Path.Combine(g.Root, "bin/su") : Path.Combine(g.Root, "usr/bin/su");
        var st = Native.Sys.FStatAt(Native.Sys.AT_FDCWD, su, Native.Sys.AT_SYMLINK_NOFOLLOW);
        Assert.Equal((0u, 0x9EDu), ((uint)st.st_uid, (uint)st.st_mode & 0xFFF)); // setuid root, 4755
        var devnull = Native.Sys.FStatAt(Native.Sys.AT_FDCWD, Path.Combine(g.Root, "dev/null"), Native.Sys.AT_SYMLINK_NOFOLLOW);
        Assert.Equal(0x2000u, (uint)devnull.st_mode & 0xF000); // a character device, as debootstrap made it
        Assert.NotEqual(File.ReadAllText(Path.Combine(tree, "etc/machine-id")), File.ReadAllText(Path.Combine(g.Root, "etc/machine-id")));
        g.Runtime.Start(g.Name);
        string state = "";
        Assert.True(LiveGuest.WaitFor(() => (state = g.Exec("systemctl", "is-system-running", "--wait").Out.Trim()) is "running" or "degraded", 90), state);
    }
}
