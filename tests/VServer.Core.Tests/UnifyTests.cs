using System.Security.Cryptography;
using VServer.Build;
using VServer.Config;
using VServer.Native;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Unification on a loop-mounted XFS with reflink (root): shared extents, copy on write, and every refusal.</summary>
[Collection("guests")]
public class UnifyTests
{
    private static readonly byte[] Big = RandomNumberGenerator.GetBytes(8 << 20);

    private static GuestStore Store(LoopFileSystem fs, params string[] guests)
    {
        var store = new GuestStore(fs.Paths);
        foreach (var g in guests)
        {
            store.Create(new GuestConfig(g) { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));
        }
        return store;
    }

    private static string Root(GuestStore store, string guest) => store.RootOf(store.ReadConfig(guest));

    private static void Write(GuestStore store, string guest, string rel, byte[] content)
    {
        using var root = GuestRootFs.Open(Root(store, guest));
        root.CreateDirectory(Path.GetDirectoryName(rel)!);
        root.WriteFile(rel, content);
    }

    /// <summary>The physical extents of a file (FIEMAP).</summary>
    private static List<Sys.Extent> Extents(string file)
    {
        var fd = Sys.Open(file, Sys.O_RDONLY_ | Sys.O_NOFOLLOW_);
        try
        {
            return Sys.Fiemap(fd)!;
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    private static bool SharesWith(string a, string b)
    {
        var x = Extents(a);
        var y = Extents(b);
        return x.Count > 0 && x.Select(e => (e.Physical, e.Length)).SequenceEqual(y.Select(e => (e.Physical, e.Length)));
    }

    [LoopFsFact]
    public void TwoDebianGuestsShareTheirEtcAndVarOnXfsAndBtrfsAndAWriteStaysInItsGuest()
    {
        var tree = DebianTrees.Systemd;
        foreach (var make in new Func<LoopFileSystem>[] { () => LoopFileSystem.Xfs(2048), () => LoopFileSystem.Btrfs(2048) })
        {
            using var fs = make();
            var store = new GuestStore(fs.Paths);
            foreach (var g in new[] { "deb1", "deb2" })
            {
                // the cache is on another filesystem: each guest gets a full copy, nothing shared yet
                store.Create(new GuestConfig(g) { InitStyle = InitStyle.Auto }, new CloneBuilder(tree));
            }
            string In(string guest, string rel) => Path.Combine(Root(store, guest), rel);
            var files = new[] { "etc/login.defs", "var/lib/dpkg/status", "usr/bin/bash" };
            Assert.All(files, f => Assert.False(SharesWith(In("deb1", f), In("deb2", f)), f + " shared before"));

            var result = new Unifier(store).Run(new[] { "deb1", "deb2" }, new UnifyOptions { MinimumSize = 1 }); // every file, small ones too
            Assert.True(result.BytesDeduplicated > 150L << 20, $"{fs.Mount}: {result.BytesDeduplicated} bytes in {result.FilesDeduplicated} files; scanned {result.FilesScanned} ({result.BytesScanned} bytes), already shared {result.FilesAlreadyShared}, skipped {result.FilesSkipped}");
            // configuration and variable data are shared too now: their extents are copy-on-write
            Assert.All(files, f => Assert.True(SharesWith(In("deb1", f), In("deb2", f)), f + " not shared on " + fs.Mount));

            // seed 003: a change in one guest is not seen in the other
            File.AppendAllText(In("deb1", "etc/login.defs"), "vserver 9999/tcp\n");
            Assert.Equal(File.ReadAllText(Path.Combine(tree, "etc/login.defs")), File.ReadAllText(In("deb2", "etc/login.defs")));
            Assert.EndsWith("vserver 9999/tcp\n", File.ReadAllText(In("deb1", "etc/login.defs")));
            Assert.False(SharesWith(In("deb1", "etc/login.defs"), In("deb2", "etc/login.defs")));
            store.Remove("deb1");
            store.Remove("deb2");
        }
    }

    [LoopFsFact]
    public void IdenticalFilesShareStorageAndAWriteStaysInItsGuest()
    {
        using var fs = LoopFileSystem.Xfs();
        var store = Store(fs, "a", "b");
        Write(store, "a", "/opt/big.bin", Big);
        Write(store, "b", "/opt/big.bin", Big);
        var fileA = Path.Combine(Root(store, "a"), "opt/big.bin");
        var fileB = Path.Combine(Root(store, "b"), "opt/big.bin");
        File.SetLastWriteTimeUtc(fileB, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var inodeB = Sys.FStatAt(Sys.AT_FDCWD, fileB, Sys.AT_SYMLINK_NOFOLLOW).st_ino;
        var free = fs.FreeBytes();

        var result = new Unifier(store).Run(new[] { "a", "b" }, new UnifyOptions());
        Assert.Equal(new[] { "a", "b" }, result.Guests);
        Assert.True(result.FilesScanned >= 4, $"scanned {result.FilesScanned}");
        // the 8 MB file and busybox (copied from the host into each guest) are now shared
        Assert.True(result.FilesDeduplicated >= 2, $"deduplicated {result.FilesDeduplicated}");
        Assert.True(result.BytesDeduplicated >= Big.Length + new FileInfo(TestEnvironment.BusyboxPath!).Length);
        Assert.True(SharesWith(fileA, fileB));
        var freed = fs.FreeBytes() - free;
        Assert.True(freed >= Big.Length - (512 << 10), $"only {freed} bytes were freed");
        Assert.Equal(result.FilesDeduplicated, result.Details!.Sum(d => d.FilesDeduplicated));

        // each file keeps its inode and times
        Assert.Equal(inodeB, Sys.FStatAt(Sys.AT_FDCWD, fileB, Sys.AT_SYMLINK_NOFOLLOW).st_ino);
        Assert.Equal(new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc), File.GetLastWriteTimeUtc(fileB));

        // a second run finds everything shared already
        var again = new Unifier(store).Run(new[] { "a", "b" }, new UnifyOptions());
        Assert.Equal((0L, 0L), (again.FilesDeduplicated, again.BytesDeduplicated));
        Assert.True(again.FilesAlreadyShared >= 2);

        // seed 003: one guest changes the file, the other still reads the old bytes
        using (var w = new FileStream(fileA, FileMode.Open, FileAccess.Write))
        {
            w.Write("changed in a"u8);
        }
        Assert.Equal(Big, File.ReadAllBytes(fileB));
        Assert.Equal("changed in a"u8.ToArray(), File.ReadAllBytes(fileA)[..12]);
        Assert.False(SharesWith(fileA, fileB));
    }

    [LoopFsFact]
    public void DifferentFilesExcludesAndASwappedSymlinkAreLeftAlone()
    {
        using var fs = LoopFileSystem.Xfs();
        var store = Store(fs, "a", "b");
        var oneByte = (byte[])Big.Clone();
        oneByte[^1] ^= 1;
        Write(store, "a", "/opt/near.bin", Big);
        Write(store, "b", "/opt/near.bin", oneByte);          // differs in its last byte
        Write(store, "a", "/tmp/same.tmp", Big);              // /tmp is excluded by default
        Write(store, "b", "/tmp/same.tmp", Big);
        Write(store, "a", "/etc/same.conf", Big);             // /etc is not: its extents are copy-on-write like the rest
        Write(store, "b", "/etc/same.conf", Big);
        Write(store, "a", "/srv/cache.dat", Big);             // excluded by -Exclude *.dat
        Write(store, "b", "/srv/cache.dat", Big);
        Write(store, "a", "/srv/own/x.bin", Big);             // excluded by b's apps/vunify/exclude
        Write(store, "b", "/srv/own/x.bin", Big);
        Write(store, "a", "/srv/swap.bin", Big);              // becomes a symlink before its dedupe
        Write(store, "b", "/srv/swap.bin", Big);
        Write(store, "a", "/srv/edit.bin", Big);              // changes between hash and dedupe
        Write(store, "b", "/srv/edit.bin", Big);
        var vunify = Path.Combine(fs.Paths.ConfigDir("b"), "apps", "vunify");
        Directory.CreateDirectory(vunify);
        File.WriteAllText(Path.Combine(vunify, "exclude"), "# b's own\n/srv/own\n");
        var ra = Root(store, "a");
        var rb = Root(store, "b");

        // every file of Big's content is shared with the first of them read, whichever guest's it is (the walks
        // of the guests run side by side): the first target of each path is swapped or edited, once
        string? swapped = null, edited = null;
        var unifier = new Unifier(store)
        {
            BeforeDedupe = (guest, path) =>
            {
                var (mine, other) = guest == "b" ? (rb, ra) : (ra, rb);
                if (path == "/srv/swap.bin" && swapped is null)
                {
                    File.Delete(Path.Combine(mine, "srv/swap.bin"));
                    File.CreateSymbolicLink(Path.Combine(mine, "srv/swap.bin"), Path.Combine(other, "srv/swap.bin"));
                    swapped = mine;
                }
                if (path == "/srv/edit.bin" && edited is null)
                {
                    using var w = new FileStream(Path.Combine(mine, "srv/edit.bin"), FileMode.Open, FileAccess.Write);
                    w.Position = 1000;
                    w.WriteByte((byte)(Big[1000] ^ 0xff));
                    edited = mine;
                }
            },
        };
        var result = unifier.Run(new[] { "a", "b" }, new UnifyOptions { Exclude = new[] { "*.dat" } });
        Assert.True(result.FilesSkipped >= 1, $"skipped {result.FilesSkipped}"); // the swapped symlink; the edited file is simply different now

        foreach (var rel in new[] { "opt/near.bin", "tmp/same.tmp", "srv/cache.dat", "srv/own/x.bin", "srv/edit.bin" })
        {
            Assert.False(SharesWith(Path.Combine(ra, rel), Path.Combine(rb, rel)), rel + " was shared");
        }
        Assert.True(SharesWith(Path.Combine(ra, "etc/same.conf"), Path.Combine(rb, "etc/same.conf")), "etc/same.conf was not shared");
        Assert.Equal(oneByte, File.ReadAllBytes(Path.Combine(rb, "opt/near.bin")));
        Assert.NotNull(edited);
        Assert.Equal(Big[1000] ^ 0xff, File.ReadAllBytes(Path.Combine(edited!, "srv/edit.bin"))[1000]);
        Assert.NotNull(swapped);
        Assert.NotNull(new FileInfo(Path.Combine(swapped!, "srv/swap.bin")).LinkTarget); // still the symlink, left as it was
        Assert.Equal(Big, File.ReadAllBytes(Path.Combine(swapped == rb ? ra : rb, "srv/swap.bin")));
        Assert.True(SharesWith(Path.Combine(ra, "bin/busybox"), Path.Combine(rb, "bin/busybox")));
    }

    [LoopFsFact]
    public void AReferenceGuestIsTheSourceAndOthersAreNotMergedWithEachOther()
    {
        using var fs = LoopFileSystem.Xfs();
        var store = Store(fs, "ref", "b", "c");
        var other = RandomNumberGenerator.GetBytes(1 << 20);
        Write(store, "b", "/opt/only-bc.bin", other); // in b and c but not in the reference
        Write(store, "c", "/opt/only-bc.bin", other);
        var result = new Unifier(store).Run(new[] { "b", "c" }, new UnifyOptions { Reference = "ref" });
        Assert.Equal(new[] { "ref", "b", "c" }, result.Guests);
        Assert.True(SharesWith(Path.Combine(Root(store, "ref"), "bin/busybox"), Path.Combine(Root(store, "c"), "bin/busybox")));
        Assert.False(SharesWith(Path.Combine(Root(store, "b"), "opt/only-bc.bin"), Path.Combine(Root(store, "c"), "opt/only-bc.bin")));
        Assert.Equal(0, result.Details!.Single(d => d.Name == "ref").FilesDeduplicated);
    }

    [LoopFsFact]
    public void VserverUnifyTakesItsReferenceFromTheCommandLineOrFromRefserverLinks()
    {
        using var fs = LoopFileSystem.Xfs();
        var store = Store(fs, "ref", "b", "c");
        ProcessResult Cli(params string[] args) => TestEnvironment.Vserver(fs.Paths, null, args);
        Write(store, "ref", "/opt/big.bin", Big);
        Write(store, "b", "/opt/big.bin", Big);
        Write(store, "c", "/opt/big.bin", Big);
        var r = Cli("c", "unify"); // no reference given or configured
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no reference guest", r.StandardError);
        Assert.False(SharesWith(Path.Combine(Root(store, "ref"), "opt/big.bin"), Path.Combine(Root(store, "c"), "opt/big.bin")));

        r = Cli("b", "unify", "ref");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Contains("unified with ref", r.StandardOutput);
        Assert.True(SharesWith(Path.Combine(Root(store, "ref"), "opt/big.bin"), Path.Combine(Root(store, "b"), "opt/big.bin")));

        // util-vserver's apps/vunify/refserver.0: a link to the reference's configuration directory, read, never followed
        var vunify = Path.Combine(fs.Paths.ConfigDir("c"), "apps", "vunify");
        Directory.CreateDirectory(vunify);
        File.CreateSymbolicLink(Path.Combine(vunify, "refserver.0"), "../../../ref");
        r = Cli("c", "hashify");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.True(SharesWith(Path.Combine(Root(store, "ref"), "opt/big.bin"), Path.Combine(Root(store, "c"), "opt/big.bin")));
    }

    [LoopFsFact]
    public void Ext4IsRefusedByNameAndNothingChanges()
    {
        using var fs = LoopFileSystem.Ext4();
        var store = Store(fs, "a", "b");
        var before = Directory.GetFiles(fs.Mount, "*", SearchOption.AllDirectories).Select(f => (f, File.GetLastWriteTimeUtc(f))).ToList();
        var e = Assert.Throws<VServerException>(() => new Unifier(store).Run(new[] { "a", "b" }, new UnifyOptions()));
        Assert.Equal("ReflinkNotSupported", e.ErrorId);
        Assert.Contains("ext4", e.Message);
        Assert.Contains(Root(store, "a"), e.Message);
        Assert.Equal(before, Directory.GetFiles(fs.Mount, "*", SearchOption.AllDirectories).Select(f => (f, File.GetLastWriteTimeUtc(f))).ToList());
    }

    [Fact]
    public void ExcludesArePrefixesOrGlobs()
    {
        var m = Unifier.Matcher(new[] { "/etc", "/usr/share/doc/*", "*.pyc", "core" });
        Assert.True(m("/etc"));
        Assert.True(m("/etc/passwd"));
        Assert.False(m("/etcetera/x"));
        Assert.True(m("/usr/share/doc/bash/README"));
        Assert.False(m("/usr/share/docs"));
        Assert.True(m("/usr/lib/python3/x.pyc"));
        Assert.True(m("/srv/core"));
        Assert.False(m("/srv/core.txt"));
    }
}
