using System.Formats.Tar;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;
using static VServer.Tests.TarFixtures;

namespace VServer.Tests;

/// <summary>Export-VServerGuest / Import-VServerGuest: a guest in one archive, and hostile archives refused whole.</summary>
[Collection("guests")]
public class GuestArchiveTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int lsetxattr(string path, string name, byte[] value, nuint size, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint llistxattr(string path, byte[]? list, nuint size);

    [DllImport("libc", SetLastError = true)]
    private static extern nint lgetxattr(string path, string name, byte[]? value, nuint size);

    private static string Xattrs(string path)
    {
        var n = llistxattr(path, null, 0);
        if (n <= 0)
        {
            return "";
        }
        var buf = new byte[n];
        llistxattr(path, buf, (nuint)n);
        var names = Encoding.UTF8.GetString(buf).Split('\0', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal);
        return string.Join(",", names.Select(x =>
        {
            var v = new byte[Math.Max(0, (int)lgetxattr(path, x, null, 0))];
            lgetxattr(path, x, v, (nuint)v.Length);
            return x + "=" + Convert.ToHexString(v);
        }));
    }

    /// <summary>
    /// Every entry of a tree, by path, never following a link: type and mode, owner, size, link
    /// target, xattrs, a hash of a regular file's bytes, and which hard-link group it is in.
    /// </summary>
    private static SortedDictionary<string, string> Manifest(string root)
    {
        var m = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var groups = new Dictionary<ulong, string>();
        void Visit(string path, string rel)
        {
            var st = Native.Sys.FStatAt(Native.Sys.AT_FDCWD, path, Native.Sys.AT_SYMLINK_NOFOLLOW);
            var type = (uint)st.st_mode & 0xF000u;
            var line = new StringBuilder($"{st.st_mode:x} {st.st_uid}:{st.st_gid}");
            if (type == 0x8000)
            {
                line.Append(' ').Append(st.st_size);
                using (var f = File.OpenRead(path))
                {
                    line.Append(' ').Append(Convert.ToHexString(SHA256.HashData(f))[..16]);
                }
                if (st.st_nlink > 1)
                {
                    line.Append(" link-group ").Append(groups.TryGetValue(st.st_ino, out var first) ? first : groups[st.st_ino] = rel);
                }
            }
            else if (type == 0xA000)
            {
                line.Append(" -> ").Append(new FileInfo(path).LinkTarget);
            }
            else if (type is 0x2000 or 0x6000)
            {
                line.Append(" dev ").Append(st.st_rdev);
            }
            if (type != 0xA000)
            {
                line.Append(' ').Append(Xattrs(path));
            }
            m[rel] = line.ToString();
            if (type == 0x4000)
            {
                foreach (var e in Directory.EnumerateFileSystemEntries(path))
                {
                    Visit(e, rel + "/" + Path.GetFileName(e));
                }
            }
        }
        Visit(root, "");
        return m;
    }

    private static string Listing(string dir) => Directory.Exists(dir)
        ? string.Join("\n", Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        : "";

    [GuestFact]
    public void ARunningDebianGuestExportedWithForceComesBackWithTheSameFilesAndBoots()
    {
        using var g = new LiveGuest(c => c.InitStyle = InitStyle.Auto, start: false, builder: new CloneBuilder(DebianTrees.Systemd));
        var archive = Path.Combine(g.Roots.Base, "web.tar.zst");
        // what an export must carry: a hard-link pair, xattrs, a sparse file, a device node (debootstrap's /dev)
        File.WriteAllText(Path.Combine(g.Root, "srv-a"), "one inode, two names\n");
        File.CreateSymbolicLink(Path.Combine(g.Root, "srv-link"), "/etc/passwd");
        Assert.Equal(0, HostProcess.Run("/bin/ln", new[] { Path.Combine(g.Root, "srv-a"), Path.Combine(g.Root, "srv-b") }).ExitCode);
        Assert.Equal(0, lsetxattr(Path.Combine(g.Root, "srv-a"), "user.vserver-test", Encoding.UTF8.GetBytes("kept"), 4, 0));
        Assert.Equal(0, lsetxattr(Path.Combine(g.Root, "etc/hostname"), "trusted.vserver-test", Encoding.UTF8.GetBytes("kept too"), 8, 0));
        using (var sparse = File.Create(Path.Combine(g.Root, "srv-sparse")))
        {
            sparse.SetLength(512L << 20);
            sparse.Position = 1 << 20;
            sparse.WriteByte(1);
        }
        var config = g.Roots.Paths.ConfigDir(g.Name);
        File.WriteAllText(Path.Combine(config, "apps", "note-of-the-admin"), "kept byte for byte \u00e9\n");
        g.Runtime.Start(g.Name);
        Assert.True(LiveGuest.WaitFor(() => g.Exec("systemctl", "is-system-running").Out.Trim() is "running" or "degraded", 90));

        // a running guest is refused without -Force, and nothing is written
        var e = Assert.Throws<VServerException>(() => GuestArchive.Export(g.Store, g.Name, archive, force: false));
        Assert.Equal("GuestRunning", e.ErrorId);
        Assert.False(File.Exists(archive));
        // what the export reads, seen while the guest is frozen (the export freezes it too, and thaws it at its end)
        SortedDictionary<string, string> files, configFiles;
        ExportResult result;
        using (Cgroups.Freeze(g.Cgroup, TimeSpan.FromSeconds(30)))
        {
            files = Manifest(g.Root);
            configFiles = Manifest(config);
            result = GuestArchive.Export(g.Store, g.Name, archive, force: true);
        }
        Assert.True(result.Frozen);
        Assert.Equal(archive, result.Path);
        Assert.Equal("THAWED", File.ReadAllText(Path.Combine(Cgroups.Hierarchies()["freezer"] + g.Cgroup, "freezer.state")).Trim());
        Assert.Equal(0, g.Exec("/bin/true").Code); // thawed: it goes on
        Assert.Empty(Directory.GetFiles(g.Roots.Base, ".web.tar.zst.partial-*"));
        // the same file again: refused without -Force
        Assert.Equal("ArchiveExists", Assert.Throws<VServerException>(() => GuestArchive.Export(g.Store, g.Name, archive, force: false)).ErrorId);

        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(10));
        configFiles.Remove("/vdir");
        configFiles.Remove("/run");
        g.Store.Remove(g.Name);

        var imported = GuestArchive.Import(g.Store, archive);
        Assert.Equal(g.Name, imported.Name);
        Assert.Equal(g.Roots.Paths.DefaultRootDir(g.Name), imported.Root);
        var after = Manifest(g.Root);
        foreach (var (path, line) in files)
        {
            Assert.True(after.TryGetValue(path, out var got), $"{path} is missing after the import");
            if (path.Length > 0) // the root directory itself is made by the import (0755 root:root)
            {
                Assert.True(line == got, $"{path}: {line} before, {got} after");
            }
        }
        Assert.Equal(files.Count, after.Count);
        var sparseBlocks = Native.Sys.FStatAt(Native.Sys.AT_FDCWD, Path.Combine(g.Root, "srv-sparse"), Native.Sys.AT_SYMLINK_NOFOLLOW).st_blocks;
        Assert.True(sparseBlocks * 512 < 8 << 20, $"the sparse file takes {sparseBlocks * 512} bytes after the import");
        var configAfter = Manifest(config);
        Assert.Equal(g.Root, new FileInfo(Path.Combine(config, "vdir")).LinkTarget);
        configAfter.Remove("/vdir");
        Assert.Equal(configFiles, configAfter); // byte for byte, modes and owners too
        Assert.StartsWith(files["/srv-a"].Split(" link-group ")[0], after["/srv-b"]);
        Assert.Contains("link-group /srv-a", after["/srv-b"]);

        g.Runtime.Start(g.Name);
        string state = "";
        Assert.True(LiveGuest.WaitFor(() => (state = g.Exec("systemctl", "is-system-running", "--wait").Out.Trim()) is "running" or "degraded", 90), state);
        Assert.Equal(File.ReadAllText(Path.Combine(DebianTrees.Systemd, "etc/machine-id")).Trim().Length, g.Exec("cat", "/etc/machine-id").Out.Trim().Length);
    }

    [GuestFact]
    public void TheVserverCommandExportsAndImportsUnderANewNameAndContext()
    {
        using var g = new LiveGuest(c => c.Context = 3391, start: false);
        var archive = Path.Combine(g.Roots.Base, "bb.tar.gz");
        ProcessResult Cli(params string[] args) => TestEnvironment.Vserver(g.Roots.Paths, null, args);
        var r = Cli(g.Name, "export", archive);
        Assert.True(r.ExitCode == 0, r.StandardError);
        var copy = "c" + Guid.NewGuid().ToString("N")[..8];
        r = Cli(copy, "import", archive); // the archive's context is g's: refused, naming it
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("3391", r.StandardError);
        Assert.Contains(g.Name, r.StandardError);
        Assert.False(g.Store.Exists(copy));
        r = Cli(copy, "import", archive, "--context", "0");
        Assert.True(r.ExitCode == 0, r.StandardError);
        try
        {
            var c = g.Store.ReadConfig(copy);
            Assert.NotEqual(3391, c.Context);
            Assert.Equal(g.Roots.Paths.DefaultRootDir(copy), g.Store.RootOf(c));
            Assert.Equal(0, Cli(copy, "start").ExitCode);
            Assert.Equal(0, Cli(copy, "running").ExitCode);
            Assert.Equal(0, Cli(copy, "stop").ExitCode);
        }
        finally
        {
            var runtime = new GuestRuntime(g.Store);
            if (runtime.Status(copy).State == GuestState.Running)
            {
                runtime.Stop(copy, TimeSpan.Zero, null);
            }
            g.Store.Remove(copy);
        }
    }

    private static TarEntry[] Export(params TarEntry[] rest) =>
        new TarEntry[] { Regular(GuestArchive.ManifestName, "format 1\nname web9\ncontext 3392\n"), Dir("config"), Regular("config/context", "3392\n"), Dir("root"), Dir("root/etc") }
        .Concat(rest).ToArray();

    [RootFact]
    public void HostileExportsAreRefusedWholeNamingTheMemberAndLeaveNothing()
    {
        using var roots = new TempRoots();
        var store = new GuestStore(roots.Paths);
        var host = Path.Combine(roots.Base, "host-file");
        File.WriteAllText(host, "secret.example.org\n");

        // weak on purpose: a configuration unpacked as it comes and then read follows its links to the host
        var linked = Path.Combine(roots.Base, "linked.tar");
        Write(linked, Export(Dir("config/uts"), Link(TarEntryType.SymbolicLink, "config/uts/nodename", host)));
        var naive = Path.Combine(roots.Base, "naive");
        Directory.CreateDirectory(naive);
        Assert.Equal(0, HostProcess.Run("/usr/bin/tar", new[] { "-x", "-f", linked, "-C", naive, "--strip-components=1", "config" }).ExitCode);
        Assert.Equal("secret.example.org", ConfigDirectory.Read(naive, "web9", roots.Paths).Hostname);

        var cases = new (string Id, string Member, TarEntry[] Entries)[]
        {
            ("ArchiveMemberRefused", "config/uts/nodename", Export(Dir("config/uts"), Link(TarEntryType.SymbolicLink, "config/uts/nodename", host))),
            ("ArchiveMemberRefused", "root/../evil", Export(Regular("root/../evil"))),
            ("ArchiveMemberRefused", "root/etc/x/planted", Export(Link(TarEntryType.SymbolicLink, "root/etc/x", roots.Base), Regular("root/etc/x/planted"))),
            ("ArchiveMemberRefused", "root/etc/shadow", Export(Link(TarEntryType.HardLink, "root/etc/shadow", "config/context"))),
            ("ArchiveMemberRefused", "config/vdir", Export(Dir("config/vdir"))),
            ("ArchiveMemberRefused", "config/fifo", Export(new PaxTarEntry(TarEntryType.Fifo, "config/fifo"))),
            ("NotAGuestArchive", "elsewhere/x", Export(Regular("elsewhere/x"))),
            ("NotAGuestArchive", "root", new TarEntry[] { Dir("root"), Regular("root/x") }),
            ("NotAGuestArchive", "format", new TarEntry[] { Regular(GuestArchive.ManifestName, "format 9\nname web9\n"), Dir("root") }),
        };
        var before = Listing(roots.Paths.ConfigRoot) + Listing(roots.Paths.VdirRoot) + Listing(roots.Base);
        foreach (var (id, member, entries) in cases)
        {
            var file = Path.Combine(roots.Base, "hostile.tar");
            Write(file, entries);
            var e = Assert.Throws<VServerException>(() => GuestArchive.Import(store, file));
            Assert.True(e.ErrorId == id, $"{member}: {e.ErrorId} {e.Message}");
            Assert.Contains(member, e.Message);
            Assert.False(store.Exists("web9"));
            File.Delete(file);
            Assert.Equal("secret.example.org\n", File.ReadAllText(host));
            Assert.False(File.Exists(Path.Combine(roots.Base, "evil")));
            Assert.Equal(before, Listing(roots.Paths.ConfigRoot) + Listing(roots.Paths.VdirRoot) + Listing(roots.Base));
        }
    }

    [RootFact]
    public void AnExportThatCannotBeWrittenLeavesNoFileAndATemplateGuestIsRefused()
    {
        using var roots = new TempRoots();
        var store = new GuestStore(roots.Paths);
        store.Create(new GuestConfig("web8") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));
        var dir = Path.Combine(roots.Base, "out");
        Directory.CreateDirectory(dir);
        var workDirs = Directory.GetFileSystemEntries(Path.GetTempPath(), "vserver-export-*").Order(StringComparer.Ordinal).ToArray();
        HostProcess.Run("/usr/bin/chattr", new[] { "+i", dir });
        try
        {
            var e = Assert.Throws<VServerException>(() => GuestArchive.Export(store, "web8", Path.Combine(dir, "web8.tar"), force: false));
            Assert.Equal("ExportFailed", e.ErrorId);
        }
        finally
        {
            HostProcess.Run("/usr/bin/chattr", new[] { "-i", dir });
        }
        Assert.Empty(Directory.GetFileSystemEntries(dir));
        Assert.Equal(workDirs, Directory.GetFileSystemEntries(Path.GetTempPath(), "vserver-export-*").Order(StringComparer.Ordinal).ToArray()); // its work directory is gone
        Assert.Equal("UnknownArchiveFormat", Assert.Throws<VServerException>(() => GuestArchive.Export(store, "web8", Path.Combine(dir, "web8.zip"), force: false)).ErrorId);

        var template = store.RootOf(store.ReadConfig("web8"));
        store.Create(new GuestConfig("web7") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Template, source: template));
        Assert.Equal("ExportNotSupported", Assert.Throws<VServerException>(() => GuestArchive.Export(store, "web7", Path.Combine(dir, "web7.tar"), force: false)).ErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }
}
