using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>-DiskLimit: a btrfs qgroup limit on a guest's root subvolume, refused anywhere else; attacked from inside.</summary>
public class DiskLimitTests
{
    private const long MiB = 1L << 20;

    private static string Btrfs(params string[] args)
    {
        var r = HostProcess.Run(HostProcess.Find("btrfs")!, args);
        Assert.True(r.ExitCode == 0, $"btrfs {string.Join(' ', args)}: {r.StandardError}");
        return r.StandardOutput;
    }

    /// <summary>"WROTE MIB ERRNO" from the attack program: MiB written and the errno that stopped it (0: none).</summary>
    private static (int MiB, int Errno) Wrote(string output)
    {
        var f = output.Split('\n').Single(l => l.StartsWith("WROTE ", StringComparison.Ordinal)).Split(' ');
        return (int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    private const int EDQUOT = 122;

    [LoopFsFact]
    public void ADiskLimitWhereTheRootIsNoBtrfsSubvolumeIsRefusedAndNothingChanges()
    {
        using var xfs = LoopFileSystem.Xfs();
        var store = new GuestStore(xfs.Paths);
        var e = Assert.Throws<VServerException>(() => store.Create(new GuestConfig("big") { DiskLimit = 100 * MiB }, RootBuilders.For(BuildMethod.Busybox)));
        Assert.Equal("DiskLimitNotSupported", e.ErrorId);
        Assert.Contains("xfs", e.Message);
        if (KernelConfig.Get("CONFIG_XFS_QUOTA") == "n")
        {
            Assert.Contains("this kernel also lacks XFS quotas (CONFIG_XFS_QUOTA)", e.Message); // this machine's kernel
        }
        Assert.Empty(Directory.GetFileSystemEntries(xfs.Paths.VdirRoot));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(xfs.Paths.ConfigRoot), p => !Path.GetFileName(p).StartsWith('.'));

        store.Create(new GuestConfig("small"), RootBuilders.For(BuildMethod.Busybox));
        // the configuration's own files (its vdir and run links are not followed)
        string Config() => string.Join("\n", Directory.GetFiles(xfs.Paths.ConfigDir("small"), "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .Where(f => new FileInfo(f).LinkTarget is null).Order().Select(f => f + ":" + File.ReadAllText(f)));
        var before = Config();
        e = Assert.Throws<VServerException>(() => store.Update("small", new GuestSettings { DiskLimit = 100 * MiB, Nice = 5 }));
        Assert.Equal("DiskLimitNotSupported", e.ErrorId);
        Assert.Contains("not on btrfs", e.Message);
        Assert.Equal(before, Config()); // the other setting given with it is not written either
        Assert.Null(store.ReadConfig("small").DiskLimit);
        // too small a limit is refused by name before anything
        e = Assert.Throws<VServerException>(() => store.Update("small", new GuestSettings { DiskLimit = 1000 }));
        Assert.Equal("InvalidDiskLimit", e.ErrorId);
        Assert.Contains("1000", e.Message);
    }

    [Fact]
    public void UtilVserversDlimitsAreReadAndWhatBtrfsCannotBoundIsNamed()
    {
        using var roots = new TempRoots();
        var dir = roots.Paths.ConfigDir("old");
        Directory.CreateDirectory(Path.Combine(dir, "dlimits", "0"));
        File.WriteAllText(Path.Combine(dir, "context"), "1042\n");
        File.WriteAllText(Path.Combine(dir, "dlimits", "0", "directory"), "/vservers/old\n");
        File.WriteAllText(Path.Combine(dir, "dlimits", "0", "space_total"), "102400\n");
        File.WriteAllText(Path.Combine(dir, "dlimits", "0", "inodes_total"), "10000\n");
        File.WriteAllText(Path.Combine(dir, "dlimits", "0", "reserved"), "5\n");
        var c = ConfigDirectory.Read(dir, "old", roots.Paths);
        Assert.Equal(100 * MiB, c.DiskLimit);
        Assert.Contains(c.NotApplied, n => n.StartsWith("dlimits/0/inodes_total 10000", StringComparison.Ordinal));
        Assert.Contains(c.NotApplied, n => n.StartsWith("dlimits/0/reserved 5", StringComparison.Ordinal));

        // a change is written as dlimits/root/space_total in KiB, and read back from there
        c.DiskLimit = 300 * MiB + 1;
        ConfigDirectory.Write(dir, c, "/vservers/old");
        Assert.Equal("307201\n", File.ReadAllText(Path.Combine(dir, "dlimits", "root", "space_total")));
        Assert.Equal("102400\n", File.ReadAllText(Path.Combine(dir, "dlimits", "0", "space_total"))); // the administrator's file, kept
        Assert.Equal(300 * MiB + 1024, ConfigDirectory.Read(dir, "old", roots.Paths).DiskLimit);
        c.DiskLimit = null;
        ConfigDirectory.Write(dir, c, "/vservers/old");
        Assert.False(File.Exists(Path.Combine(dir, "dlimits", "root", "space_total")));
    }

    [Fact]
    public void TheKernelsBuildOptionsAreReadFromItsCompressedConfig()
    {
        var file = Path.GetTempFileName();
        try
        {
            using (var gz = new System.IO.Compression.GZipStream(File.Create(file), System.IO.Compression.CompressionLevel.Fastest))
            {
                gz.Write("# comment\nCONFIG_BTRFS_FS=y\n# CONFIG_XFS_QUOTA is not set\nCONFIG_HZ=250\n"u8);
            }
            var options = KernelConfig.Read(file)!;
            Assert.Equal("y", options["CONFIG_BTRFS_FS"]);
            Assert.Equal("250", options["CONFIG_HZ"]);
            Assert.False(options.ContainsKey("CONFIG_XFS_QUOTA"));
            Assert.Null(KernelConfig.Read(file + ".missing"));
            File.WriteAllText(file, "not gzip");
            Assert.Null(KernelConfig.Read(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [GuestFact]
    public void AGuestCannotWritePastItsLimitARaisedLimitLetsItAndTheLimitGoesWithTheGuest()
    {
        using var fs = LoopFileSystem.Btrfs();
        var g = new LiveGuest(c => c.DiskLimit = 100 * MiB, start: false, roots: new TempRoots(fs.Paths.VdirRoot));
        try
        {
            Attacks.Install(g, "subvol");
            Assert.Equal(100 * MiB, g.Store.Get(g.Name).DiskLimit);
            var id = Btrfs("inspect-internal", "rootid", g.Root).Trim();
            Assert.Contains($"0/{id}", Btrfs("qgroup", "show", "--raw", fs.Mount));
            g.Runtime.Start(g.Name);

            // inside the guest: 200 MiB do not fit, the write stops near 100 MiB with EDQUOT
            var (mib, errno) = Wrote(g.Exec("/bin/subvol", "fill", "/big", "200").Out);
            Assert.Equal(EDQUOT, errno);
            Assert.InRange(mib, 80, 100);
            var usage = DiskUsageMeter.MeasureGuest(g.Store, g.Name);
            Assert.Equal(100 * MiB, usage.Limit);
            Assert.InRange(usage.QuotaReferencedBytes ?? 0, 80 * MiB, 101 * MiB);

            // raised while it runs: the same write now fits
            g.Store.Update(g.Name, new GuestSettings { DiskLimit = 300 * MiB });
            Assert.Equal(300 * MiB, g.Store.ReadConfig(g.Name).DiskLimit);
            Assert.Equal((200, 0), Wrote(g.Exec("/bin/subvol", "fill", "/big", "200").Out));
            // and lifted
            g.Store.Update(g.Name, new GuestSettings { Clear = new[] { "DiskLimit" } });
            Assert.Null(DiskUsageMeter.MeasureGuest(g.Store, g.Name).Limit);
            Assert.Equal((250, 0), Wrote(g.Exec("/bin/subvol", "fill", "/big", "250").Out));
            g.Store.Update(g.Name, new GuestSettings { DiskLimit = 300 * MiB });

            g.Dispose(); // stop and remove: the subvolume and its qgroup go
            Assert.DoesNotContain($"0/{id} ", Btrfs("qgroup", "show", "--raw", fs.Mount));
            Assert.Empty(Directory.GetFileSystemEntries(fs.Paths.VdirRoot));
        }
        finally
        {
            g.Dispose();
        }
    }

    [GuestFact]
    public void ADebianGuestWithSystemdBootsOnABtrfsStoreAndIsHeldToItsLimit()
    {
        using var fs = LoopFileSystem.Btrfs(2048);
        using var g = new LiveGuest(c => { c.InitStyle = InitStyle.Auto; c.DiskLimit = 400 * MiB; }, start: false,
            builder: new CloneBuilder(DebianTrees.Systemd), roots: new TempRoots(fs.Paths.VdirRoot));
        Assert.Equal(StorageKind.Btrfs, g.Store.Get(g.Name).Storage);
        g.Runtime.Start(g.Name);
        var state = "";
        Assert.True(LiveGuest.WaitFor(() => (state = g.Exec("systemctl", "is-system-running", "--wait").Out.Trim()) is "running" or "degraded", 90), "systemd: " + state);

        // the tree (about 260 MB) counts: 300 MB more do not fit under 400 MB
        var dd = g.Exec("dd", "if=/dev/zero", "of=/var/tmp/big", "bs=1M", "count=300");
        Assert.NotEqual(0, dd.Code);
        Assert.Contains("Disk quota exceeded", dd.Err);
        var referenced = DiskUsageMeter.MeasureGuest(g.Store, g.Name).QuotaReferencedBytes ?? 0;
        Assert.InRange(referenced, 350 * MiB, 401 * MiB);
        g.Sh("rm /var/tmp/big");
        Assert.Matches("^(running|degraded)$", g.Exec("systemctl", "is-system-running").Out.Trim()); // the guest lived through it
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(10));
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
    }

    [GuestFact]
    public void ASubvolumeOfTheGuestsOwnCannotCarryItPastItsLimit()
    {
        using var fs = LoopFileSystem.Btrfs();
        // weak: the ioctl let through the filter; a subvolume made inside is a qgroup outside the limit
        TestSeams.AllowedSyscalls = new[] { "ioctl" };
        try
        {
            using var weak = new LiveGuest(c => c.DiskLimit = 64 * MiB, start: false, roots: new TempRoots(fs.Paths.VdirRoot));
            Attacks.Install(weak, "subvol");
            weak.Runtime.Start(weak.Name);
            var r = weak.Exec("/bin/subvol", "/", "escape", "96").Out;
            Assert.StartsWith("CREATED", r);
            Assert.Equal((96, 0), Wrote(r)); // 96 MiB past a 64 MiB limit
        }
        finally
        {
            TestSeams.AllowedSyscalls = Array.Empty<string>();
        }

        using var g = new LiveGuest(c => c.DiskLimit = 64 * MiB, start: false, roots: new TempRoots(fs.Paths.VdirRoot));
        Attacks.Install(g, "subvol");
        g.Runtime.Start(g.Name);
        Assert.Equal("REFUSED 1", g.Exec("/bin/subvol", "/", "escape", "96").Out.Trim());
        Assert.False(Directory.Exists(Path.Combine(g.Root, "escape")));
        var (mib, errno) = Wrote(g.Exec("/bin/subvol", "fill", "/plain", "96").Out);
        Assert.Equal(EDQUOT, errno);
        Assert.True(mib < 64, $"wrote {mib} MiB");
    }
}
