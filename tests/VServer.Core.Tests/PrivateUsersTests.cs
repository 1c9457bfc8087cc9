using System.Globalization;
using VServer.Build;
using VServer.Config;
using VServer.Processes;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// -PrivateUsers: a guest in a user namespace of its own, its root an unprivileged host uid of a
/// range no other guest holds, its tree seen through an idmapped mount; attacked from inside.
/// </summary>
public class PrivateUsersTests
{
    private static uint HostUid(int pid) => ProcFs.Status(pid)!.UserId;

    /// <summary>The host uid of each process in the cgroup that is still there when read (boot scripts come and go between the listing and the read).</summary>
    private static List<uint> HostUidsOf(string cgroup)
    {
        var uids = Cgroups.Processes(cgroup).Select(p => ProcFs.Status(p)?.UserId).OfType<uint>().ToList();
        Assert.NotEmpty(uids);
        return uids;
    }

    // ------------------------------------------------------------------ ranges and configuration

    [Fact]
    public void TheFileReadsAsAUidMapLineAndABadOneIsNamed()
    {
        Assert.Equal(new IdRange(1_000_000_000, 65536), IdRange.ParseMapLine("0 1000000000 65536\n"));
        Assert.Equal("0 1000000000 65536", new IdRange(1_000_000_000, 65536).ToMapLine());
        Assert.Equal("1000000000-1000065535", new IdRange(1_000_000_000, 65536).ToString());
        foreach (var bad in new[] { "0 0 65536", "1 1000000000 65536", "0 1000000000", "0 1000000000 0", "0 4294967295 2", "0 -5 10", "zero 1 2", "" })
        {
            Assert.Null(IdRange.ParseMapLine(bad)); // mapping host root, a shifted inside, no count, past uid_t …
        }

        using var roots = new TempRoots();
        var dir = roots.Paths.ConfigDir("g");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "private-users"), "0 0 65536\n");
        var e = Assert.Throws<VServerException>(() => ConfigDirectory.Read(dir, "g", roots.Paths));
        Assert.Contains("private-users", e.Message);
        Assert.Contains("'0 0 65536'", e.Message);

        File.WriteAllText(Path.Combine(dir, "private-users"), "0 1000065536 65536\n");
        var c = ConfigDirectory.Read(dir, "g", roots.Paths);
        Assert.Equal(new IdRange(1_000_065_536, 65536), c.PrivateUsers);
        c.PrivateUsers = null;
        ConfigDirectory.Write(dir, c, "/vservers/g");
        Assert.False(File.Exists(Path.Combine(dir, "private-users"))); // turned off: the file VServer owns is gone
        c.PrivateUsers = new IdRange(1_000_131_072, 65536);
        ConfigDirectory.Write(dir, c, "/vservers/g");
        Assert.Equal("0 1000131072 65536\n", File.ReadAllText(Path.Combine(dir, "private-users")));
    }

    [Fact]
    public void TheNextFreeRangeMeetsNoneInUseWhereverTheyLie()
    {
        Assert.Equal(new IdRange(IdRange.PoolStart, IdRange.Size), IdRange.NextFree(Array.Empty<IdRange>()));
        Assert.Equal(new IdRange(IdRange.PoolStart + IdRange.Size, IdRange.Size), IdRange.NextFree(new[] { new IdRange(IdRange.PoolStart, IdRange.Size) }));
        // a range written by hand across two slots takes both
        var odd = new IdRange(IdRange.PoolStart + 100, IdRange.Size);
        var next = IdRange.NextFree(new[] { odd });
        Assert.False(next.Overlaps(odd));
        Assert.Equal(IdRange.PoolStart + 2 * IdRange.Size, next.First);
        // a hole between two is used
        Assert.Equal(IdRange.PoolStart + IdRange.Size, IdRange.NextFree(new[] { new IdRange(IdRange.PoolStart, IdRange.Size), new IdRange(IdRange.PoolStart + 2 * IdRange.Size, IdRange.Size) }).First);
        // all taken: refused by name
        var e = Assert.Throws<VServerException>(() => IdRange.NextFree(new[] { new IdRange(IdRange.PoolStart, IdRange.PoolEnd - IdRange.PoolStart) }));
        Assert.Equal("UserRangeExhausted", e.ErrorId);
    }

    [BusyboxFact]
    public void EachGuestGetsARangeOfItsOwnEvenWhenCreatedAtOnceAndKeepsItUntilTurnedOff()
    {
        using var roots = new TempRoots();
        var store = new GuestStore(roots.Paths);
        // eight creates at once, each under the host lock: never two with overlapping ranges
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            store.Create(new GuestConfig("p" + i) { PrivateUsers = IdRange.Pending }, RootBuilders.For(BuildMethod.Skeleton)));
        var ranges = Enumerable.Range(0, 8).Select(i => store.Get("p" + i).UserRange!).ToList();
        Assert.All(ranges, r => Assert.Equal(IdRange.Size, r.Count));
        for (var a = 0; a < ranges.Count; a++)
        {
            for (var b = a + 1; b < ranges.Count; b++)
            {
                Assert.False(ranges[a].Overlaps(ranges[b]), $"{ranges[a]} and {ranges[b]}");
            }
        }

        // a new guest whose configuration brings another guest's range (an import) gets one of its own
        var taken = store.Get("p0").UserRange!;
        store.Create(new GuestConfig("imported") { PrivateUsers = taken }, RootBuilders.For(BuildMethod.Skeleton));
        Assert.All(ranges, r => Assert.False(r.Overlaps(store.Get("imported").UserRange!)));

        // a change of something else keeps the range; off removes it, on again hands one out
        store.Update("p3", new GuestSettings { Nice = 5, PrivateUsers = true });
        Assert.Equal(ranges[3], store.Get("p3").UserRange);
        store.Update("p3", new GuestSettings { PrivateUsers = false });
        Assert.False(store.Get("p3").PrivateUsers);
        Assert.False(File.Exists(Path.Combine(roots.Paths.ConfigDir("p3"), "private-users")));
        store.Update("p3", new GuestSettings { PrivateUsers = true });
        var again = store.Get("p3").UserRange!;
        Assert.DoesNotContain(ranges.Where((_, i) => i != 3).Append(store.Get("imported").UserRange!), r => r.Overlaps(again));
    }

    [RootFact]
    public void ANewGuestGetsPrivateUsersWhereTheHostCanAndHostRootWithAWarningElsewhere()
    {
        using var roots = new TempRoots();
        var c = new GuestConfig("web1");
        var warnings = new WarningList();
        GuestUsers.ApplyDefault(c, new GuestSettings(), new GuestStore(roots.Paths), warnings);
        Assert.Equal(IdRange.Pending, c.PrivateUsers); // handed out by the create
        Assert.Empty(warnings.Warnings);

        // a filesystem that takes no idmapped mount (procfs here): host root, and the warning says why
        var paths = new VServerPaths(roots.Paths.ConfigRoot, "/proc/sys/vserver-nowhere", roots.Paths.RunRoot);
        var elsewhere = new GuestConfig("web2");
        GuestUsers.ApplyDefault(elsewhere, new GuestSettings(), new GuestStore(paths), warnings);
        Assert.Null(elsewhere.PrivateUsers);
        var w = Assert.Single(warnings.Warnings);
        Assert.Matches(@"^Guest 'web2' gets host root as its root \(no private users\): /proc/sys \(proc\) takes no idmapped mount \(mount_setattr\(MOUNT_ATTR_IDMAP\) `/proc/sys` failed: EINVAL", w);

        // asked for there: refused at the create, before anything is made
        var e = Assert.Throws<VServerException>(() => new GuestStore(paths).Create(new GuestConfig("web4") { PrivateUsers = IdRange.Pending }, RootBuilders.For(BuildMethod.Skeleton)));
        Assert.Equal("PrivateUsersNotSupported", e.ErrorId);
        Assert.Contains("takes no idmapped mount", e.Message);
        Assert.False(Directory.Exists(roots.Paths.ConfigDir("web4")));

        // a choice made by the user stands
        var chosen = new GuestConfig("web3") { PrivateUsers = new IdRange(IdRange.PoolStart, IdRange.Size) };
        GuestUsers.ApplyDefault(chosen, new GuestSettings(), new GuestStore(paths), warnings);
        Assert.Equal(IdRange.PoolStart, chosen.PrivateUsers!.First);
        var refused = new GuestConfig("web5");
        GuestUsers.ApplyDefault(refused, new GuestSettings { PrivateUsers = false }, new GuestStore(roots.Paths), warnings);
        Assert.Null(refused.PrivateUsers); // -PrivateUsers:$false, build --no-private-users
    }

    // ------------------------------------------------------------------ running guests

    [GuestFact]
    public void ABusyboxGuestsRootIsAnUnprivilegedHostUidOfItsRange()
    {
        using var fs = LoopFileSystem.Xfs();
        using var a = new LiveGuest(c => c.PrivateUsers = IdRange.Pending, roots: new TempRoots(fs.Paths.VdirRoot));
        using var b = new LiveGuest(c => c.PrivateUsers = IdRange.Pending, sharing: a);
        var ra = a.Store.Get(a.Name).UserRange!;
        var rb = b.Store.Get(b.Name).UserRange!;
        Assert.False(ra.Overlaps(rb));

        // inside: root, and the map says which host ids that is
        Assert.Equal("0", a.Sh("id -u").Trim());
        Assert.Equal($"0 {ra.First} {ra.Count}", string.Join(' ', a.Sh("cat /proc/self/uid_map").Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        // from the host: each guest's processes run as uids of its own range
        Assert.Equal((uint)ra.First, HostUid(a.State.InitPid));
        Assert.Equal((uint)rb.First, HostUid(b.State.InitPid));
        a.Sh("adduser -D -u 1000 web 2>/dev/null || echo 'web:x:1000:1000::/home/web:/bin/sh' >> /etc/passwd");
        a.Sh("su web -s /bin/sh -c 'sleep 300' </dev/null >/dev/null 2>&1 &");
        var table = new ProcessTable(a.Roots.Paths);
        var running = table.Running(a.Name);
        ProcessInfo? sleeper = null;
        Assert.True(TestEnvironment.WaitFor(() => (sleeper = table.Processes(false, new[] { running }).FirstOrDefault(p => p.Name == "sleep")) is not null, 5));
        Assert.Equal((uint)(ra.First + 1000), sleeper!.UserId);
        Assert.Equal(1000u, sleeper.GuestUserId);
        Assert.Equal("web", sleeper.User); // the guest's name for its uid, from its passwd
        var init = table.Read(a.State.InitPid)!;
        Assert.Equal(("root", 0u), (init.User, init.GuestUserId!.Value));
        // a host-side signal still reaches it
        table.Signal(running, sleeper.Id, 9, sleeper.StartTicks, "sleep");
        Assert.True(TestEnvironment.WaitFor(() => ProcFs.Stat(sleeper.Id) is null or { IsZombie: true }, 5));

        // what root makes inside is owned by 0 in the tree on disk (the tree is the same with or without private users)
        a.Sh("echo x > /made-inside");
        var st = new FileInfo(Path.Combine(a.Root, "made-inside"));
        Assert.Equal(0, OwnerOf(st.FullName));

        // the tree keeps ids 0 … 65535 on disk: guests with different ranges share extents when unified
        a.Runtime.Stop(a.Name, TimeSpan.FromSeconds(5));
        b.Runtime.Stop(b.Name, TimeSpan.FromSeconds(5));
        var unified = new Unifier(a.Store).Run(new[] { a.Name, b.Name }, new UnifyOptions { MinimumSize = 1 });
        Assert.True(unified.BytesDeduplicated > 1 << 20, $"deduplicated {unified.BytesDeduplicated}");
        a.Runtime.Start(a.Name);
        b.Runtime.Start(b.Name);
        Assert.Equal("0", b.Sh("id -u").Trim());
        Assert.Equal((uint)rb.First, HostUid(b.State.InitPid));

        // stopped: no mount, no user-namespace pin, no directory of it is left
        a.Runtime.Stop(a.Name, TimeSpan.FromSeconds(5));
        var run = a.Runtime.Run(a.Name);
        Assert.DoesNotContain(File.ReadAllText("/proc/self/mountinfo").Split('\n'), l => l.Contains(run.IdmappedRoot, StringComparison.Ordinal) || l.Contains(run.UserNamespaceFile, StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.GetDirectoryName(run.IdmappedRoot)));
    }

    private static int OwnerOf(string path) => (int)(uint)Native.Sys.FStatAt(Native.Sys.AT_FDCWD, path, Native.Sys.AT_SYMLINK_NOFOLLOW).st_uid;

    [GuestFact]
    public void TurningPrivateUsersOffAndOnLeavesTheGuestBootableWithTheRightOwners()
    {
        using var g = new LiveGuest(c => c.PrivateUsers = IdRange.Pending);
        var range = g.Store.Get(g.Name).UserRange!;
        g.Sh("mkdir -p /home/web && chown 1000:1000 /home/web && echo 1 > /home/web/f && chown 1000:1000 /home/web/f");
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));

        g.Store.Update(g.Name, new GuestSettings { PrivateUsers = false });
        g.Runtime.Start(g.Name);
        Assert.Equal(0u, HostUid(g.State.InitPid)); // host root again
        Assert.Equal("1000 1000", g.Sh("stat -c '%u %g' /home/web/f").Trim());
        g.Sh("echo 2 >> /home/web/f && touch /made-as-host-root");
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));

        g.Store.Update(g.Name, new GuestSettings { PrivateUsers = true });
        var again = g.Store.Get(g.Name).UserRange!;
        Assert.Equal(range, again); // its old range was free again, and is the first free one
        g.Runtime.Start(g.Name);
        Assert.Equal((uint)again.First, HostUid(g.State.InitPid));
        Assert.Equal("1000 1000\n0 0", g.Sh("stat -c '%u %g' /home/web/f /made-as-host-root").Trim());
        Assert.Equal("1\n2", g.Sh("cat /home/web/f").Trim());
        g.Sh("echo 3 >> /home/web/f"); // root inside may still write what it owns
    }

    [GuestFact]
    public void SysvAndCommandStylesRunRebootAndStopWithPrivateUsersAndSoDoesATemplateGuest()
    {
        using var sysv = new LiveGuest(c =>
        {
            c.PrivateUsers = IdRange.Pending;
            c.InitStyle = InitStyle.Sysv;
            c.StartCommand = new[] { "/etc/init.d/rcS" };
            c.StopCommand = new[] { "/etc/init.d/rcK" };
        }, start: false);
        File.WriteAllText(Path.Combine(sysv.Root, "etc/init.d/S10mark"), "#!/bin/sh\necho \"$1 $(id -u)\" >> /tmp/rc.log\n");
        File.SetUnixFileMode(Path.Combine(sysv.Root, "etc/init.d/S10mark"), (UnixFileMode)0x1ED);
        sysv.Runtime.Start(sysv.Name);
        Assert.True(LiveGuest.WaitFor(() => sysv.Exec("/bin/cat", "/tmp/rc.log").Out == "start 0", 10));
        var range = sysv.Store.Get(sysv.Name).UserRange!;
        Assert.Equal((uint)range.First, HostUid(sysv.State.InitPid)); // tini-static, bound from the host, runs as the guest's root
        sysv.Runtime.Stop(sysv.Name, TimeSpan.FromSeconds(10));
        Assert.Equal("start 0\nstop 0\n", File.ReadAllText(Path.Combine(sysv.Root, "tmp/rc.log")));

        using var command = new LiveGuest(c =>
        {
            c.PrivateUsers = IdRange.Pending;
            c.InitStyle = InitStyle.Command;
            c.StartCommand = new[] { "/bin/sleep", "1000" };
        }, sharing: sysv);
        Assert.Equal("sleep", command.Sh("cat /proc/1/comm").Trim());
        Assert.Equal((uint)command.Store.Get(command.Name).UserRange!.First, HostUid(command.State.InitPid));

        // a Busybox guest's reboot brings it back with a new init, still unprivileged
        using var plain = new LiveGuest(c => c.PrivateUsers = IdRange.Pending, sharing: sysv);
        var first = plain.State.InitPid;
        plain.Exec("/bin/sh", "-c", "reboot");
        Assert.True(LiveGuest.WaitFor(() => plain.Runtime.Run(plain.Name).ReadState() is { InitAlive: true } s && s.InitPid != first, 20), "no reboot");
        Assert.Equal("0", plain.Sh("id -u").Trim());
        Assert.Equal((uint)plain.Store.Get(plain.Name).UserRange!.First, HostUid(plain.State.InitPid));

        // a Template guest: its overlay is made on the idmapped template and layers; what it writes lands in its own layer as 0
        plain.Runtime.Stop(plain.Name, TimeSpan.FromSeconds(5));
        var tpl = "tpl" + Guid.NewGuid().ToString("N")[..6];
        sysv.Store.Create(new GuestConfig(tpl) { InitStyle = InitStyle.Plain, PrivateUsers = IdRange.Pending }, RootBuilders.For(BuildMethod.Template, source: plain.Root));
        var tplRoot = sysv.Store.RootOf(sysv.Store.ReadConfig(tpl));
        var tplRange = sysv.Store.Get(tpl).UserRange!;
        sysv.Runtime.Start(tpl);
        try
        {
            var o = new List<string>();
            Assert.Equal(0, sysv.Runtime.Exec(tpl, new ExecRequest(new[] { "/bin/sh", "-c", "echo mine > /root/own.txt && echo more >> /etc/motd && id -u" }), o.Add, null));
            Assert.Equal("0", Assert.Single(o));
            Assert.Equal((uint)tplRange.First, HostUid(sysv.Runtime.Run(tpl).ReadState()!.InitPid));
            var own = Path.Combine(TemplateLayers.UpperOf(tplRoot), "root/own.txt");
            Assert.Equal(0, OwnerOf(own)); // in the guest's layer, with the guest's own ids
            Assert.Equal(0, OwnerOf(Path.Combine(TemplateLayers.UpperOf(tplRoot), "etc/motd"))); // a copy-up too
            Assert.False(File.Exists(Path.Combine(plain.Root, "root/own.txt"))); // the template is untouched
            // exec by user name reads the guest's passwd from the overlay its runtime sees
            o.Clear();
            Assert.Equal(0, sysv.Runtime.Exec(tpl, new ExecRequest(new[] { "id", "-u" }) { User = "root" }, o.Add, null));
        }
        finally
        {
            sysv.Runtime.Stop(tpl, TimeSpan.FromSeconds(5));
        }
        var run = sysv.Runtime.Run(tpl);
        Assert.DoesNotContain(File.ReadAllText("/proc/self/mountinfo").Split('\n'), l => l.Contains(Path.GetDirectoryName(run.IdmappedRoot)!, StringComparison.Ordinal) || l.Contains(" " + tplRoot + " ", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.GetDirectoryName(run.IdmappedRoot)));
        sysv.Store.Remove(tpl);
    }

    [GuestFact]
    public void ADebianGuestWithSysvinitBootsToItsRunlevelWithPrivateUsers()
    {
        using var g = new LiveGuest(c => { c.InitStyle = InitStyle.Auto; c.PrivateUsers = IdRange.Pending; }, builder: new CloneBuilder(DebianTrees.Sysvinit));
        Assert.True(LiveGuest.WaitFor(() => g.Exec("/sbin/runlevel").Out.Trim() == "N 2", 30), "runlevel: " + g.Exec("/sbin/runlevel").Out);
        Assert.Equal("init", g.Sh("cat /proc/1/comm").Trim());
        var range = g.Store.Get(g.Name).UserRange!;
        Assert.All(HostUidsOf(g.Cgroup), uid => Assert.InRange((long)uid, range.First, range.Last));
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(20));
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
    }

    [GuestFact]
    public void AnExportedGuestIsImportedWithARangeOfItsOwnAndRunsUnprivileged()
    {
        using var g = new LiveGuest(c => c.PrivateUsers = IdRange.Pending);
        var range = g.Store.Get(g.Name).UserRange!;
        g.Sh("mkdir -p /home/web && echo kept > /home/web/f && chown -R 1000:1000 /home/web");
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));
        var archive = Path.Combine(g.Roots.Base, "g.tar.zst");
        GuestArchive.Export(g.Store, g.Name, archive, force: false);
        var copy = "c" + Guid.NewGuid().ToString("N")[..8];
        GuestArchive.Import(g.Store, archive, copy, context: 0);
        var copyRange = g.Store.Get(copy).UserRange!;
        Assert.False(copyRange.Overlaps(range)); // the archive's range is the source's: the copy gets its own
        g.Runtime.Start(copy);
        try
        {
            Assert.Equal((uint)copyRange.First, HostUid(g.Runtime.Run(copy).ReadState()!.InitPid));
            var o = new List<string>();
            Assert.Equal(0, g.Runtime.Exec(copy, new ExecRequest(new[] { "/bin/sh", "-c", "stat -c '%u %g' /home/web/f; cat /home/web/f" }), o.Add, null));
            Assert.Equal(new[] { "1000 1000", "kept" }, o);
        }
        finally
        {
            g.Runtime.Stop(copy, TimeSpan.FromSeconds(5));
            g.Store.Remove(copy);
        }
    }

    // ------------------------------------------------------------------ attacks from inside

    [GuestFact]
    public void TheGuestsRootCannotWriteAHostRootFileBoundIntoIt()
    {
        using var roots = new TempRoots();
        var canary = Path.Combine(roots.Base, "canary");
        File.WriteAllText(canary, "host\n");
        File.SetUnixFileMode(canary, (UnixFileMode)0x1A4); // 0644 root:root, bound read-write
        void Bind(GuestConfig c) => c.Fstab.Add($"{canary} /mnt/canary none bind,rw 0 0");

        // weak: without private users the guest's root is host root, and the write lands on the host
        using (var weak = new LiveGuest(Bind, roots: new TempRoots(Path.Combine(roots.Base, "weak"))))
        {
            Assert.Equal(0, weak.Exec("/bin/sh", "-c", "echo owned > /mnt/canary").Code);
            Assert.Equal("owned\n", File.ReadAllText(canary));
        }
        File.WriteAllText(canary, "host\n");

        using var g = new LiveGuest(c => { Bind(c); c.PrivateUsers = IdRange.Pending; }, roots: new TempRoots(Path.Combine(roots.Base, "private")));
        var r = g.Exec("/bin/sh", "-c", "echo owned > /mnt/canary");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("denied", r.Err, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("65534", g.Sh("stat -c %u /mnt/canary").Trim()); // host root is nobody inside
        Assert.NotEqual(0, g.Exec("/bin/sh", "-c", "chmod 666 /mnt/canary").Code);
        Assert.Equal("host\n", File.ReadAllText(canary));
    }

    [GuestFact]
    public void ASetuidRootFileMadeInsideGivesAHostUserNoRoot()
    {
        var setpriv = HostProcess.Find("setpriv") ?? throw new InvalidOperationException("setpriv (util-linux) is needed");
        using var g = new LiveGuest(c => c.PrivateUsers = IdRange.Pending);
        var range = g.Store.Get(g.Name).UserRange!;
                g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));
        Attacks.Install(g, "euid");
        var warnings = new WarningList();
        g.Runtime.Start(g.Name, warnings);
        g.Sh("chown 0:0 /bin/euid && chmod 4755 /bin/euid"); // what any root inside may do
        var onDisk = Path.Combine(g.Root, "bin/euid");
        // a host user: setpriv keeps root's capabilities up to its own exec, so a shell it starts (without them) runs the program
        (int Code, string Out) AsNobody(string program)
        {
            var r = HostProcess.Run(setpriv, new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c", "exec \"$0\"", program });
            return (r.ExitCode, r.StandardOutput.Trim() + r.StandardError.Trim());
        }

        // through the idmapped view the runtime uses, the file is setuid to the guest's root uid, not host root
        var view = Path.Combine(g.Runtime.Run(g.Name).IdmappedRoot, "bin/euid");
        Assert.Equal((int)range.First, OwnerOf(view));
        // and a host user cannot reach that view at all (its directory is the guest root uid's, 0700)
        Assert.Equal((UnixFileMode)0x1C0, File.GetUnixFileMode(Path.GetDirectoryName(g.Runtime.Run(g.Name).IdmappedRoot)!));
        var throughView = AsNobody(view);
        Assert.NotEqual(0, throughView.Code);
        Assert.Contains("Permission denied", throughView.Out);

        // weak: a vdir root that lets host users in (the test's, mode 755); on disk the file is setuid root
        // and hands out root, and the start said so
        var vdir = g.Roots.Paths.VdirRoot;
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(vdir));
        Assert.Equal((0, "EUID 0"), AsNobody(onDisk));
        Assert.Contains(warnings.Warnings, w => w.Contains($"{vdir}, lets host users in (mode 755)", StringComparison.Ordinal));

        // the vdir root VServer makes is util-vserver's barrier (mode 000), which keeps host users out of every guest's tree
        var made = Path.Combine(g.Roots.Base, "made-by-vserver");
        new GuestStore(new VServerPaths(Path.Combine(g.Roots.Base, "made-etc"), made, g.Roots.Paths.RunRoot)).Create(new GuestConfig("x"), RootBuilders.For(BuildMethod.Skeleton));
        Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(made));
        File.SetUnixFileMode(vdir, 0);
        var denied = AsNobody(onDisk);
        Assert.NotEqual(0, denied.Code);
        Assert.Contains("Permission denied", denied.Out);
    }

    // ------------------------------------------------------------------ the reference guest

    [GuestFact]
    public void ADebianGuestWithSystemdBootsRebootsAndStopsWithPrivateUsers()
    {
        using var g = new LiveGuest(c => { c.InitStyle = InitStyle.Auto; c.PrivateUsers = IdRange.Pending; }, start: false,
            builder: new CloneBuilder(DebianTrees.Systemd));
        var range = g.Store.Get(g.Name).UserRange!;
        g.Runtime.Start(g.Name);
        var state = "";
        Assert.True(LiveGuest.WaitFor(() => (state = g.Exec("systemctl", "is-system-running", "--wait").Out.Trim()) is "running" or "degraded", 90), "systemd: " + state);
        Assert.Equal("running", state); // nothing failed
        Assert.Equal("uid=0(root) gid=0(root) groups=0(root)", g.Sh("id").Trim());
        // every process of the guest runs as a host uid of its range
        Assert.All(HostUidsOf(g.Cgroup), uid => Assert.InRange((long)uid, range.First, range.Last));

        // its cgroup is given to its root for systemd's tree (without that systemd exits: "Failed to create
        // /init.scope control group: Permission denied"), but not the limit files, nor the limits above it
        Assert.Equal(0, g.Exec("/bin/sh", "-c", "mkdir /sys/fs/cgroup/pids/mine && rmdir /sys/fs/cgroup/pids/mine").Code);
        var write = g.Exec("/bin/sh", "-c", "echo max > /sys/fs/cgroup/pids/pids.max");
        Assert.NotEqual(0, write.Code);
        Assert.Contains("denied", write.Err, StringComparison.OrdinalIgnoreCase);

        var first = g.State.InitPid;
        g.Exec("systemctl", "reboot");
        Assert.True(LiveGuest.WaitFor(() => g.Runtime.Run(g.Name).ReadState() is { InitAlive: true } s && s.InitPid != first, 60), "the guest did not come back from reboot");
        Assert.True(LiveGuest.WaitFor(() => (state = g.Exec("systemctl", "is-system-running", "--wait").Out.Trim()) is "running" or "degraded", 90), "systemd after reboot: " + state);
        Assert.Equal((uint)range.First, HostUid(g.State.InitPid));

        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(20));
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.Contains("Halting system", File.ReadAllText(g.Runtime.Run(g.Name).ConsoleLog)); // a clean halt, not a kill
    }
}
