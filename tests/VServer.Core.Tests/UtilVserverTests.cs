using System.Globalization;
using System.Text;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using static VServer.Tests.Shared.UtilVserverFixtures;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// Configuration directories written as util-vserver 0.30 writes them (seed 003's Beispiel 2 and
/// Abbildung 4: <c>vdir</c> through <c>.defaults/vdirbase</c>, <c>run</c> and <c>run.rev</c> links,
/// <c>interfaces/00</c> numbering, <c>flags</c> and <c>capabilities</c>), read, started and changed
/// without losing a byte VServer does not own.
/// </summary>
[Collection("guests")]
public class UtilVserverTests
{
    private static void Put(string dir, string rel, string content)
    {
        var p = Path.Combine(dir, rel);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, content);
    }

    /// <summary>
    /// A guest as vserver-build leaves it: its root under the directory .defaults/vdirbase links to,
    /// its vdir a link to that link (absolute, or relative as some administrators write it), and an
    /// administrator's tuning on top.
    /// </summary>
    private static string UtilVserverGuest(TempRoots roots, string name, bool relativeVdir, bool buildRoot, string? bridge = null, string? vdirBase = null)
    {
        var realBase = vdirBase ?? Path.Combine(roots.Base, "srv-vservers");
        Directory.CreateDirectory(realBase);
        var defaults = Path.Combine(roots.Paths.ConfigRoot, ".defaults");
        Directory.CreateDirectory(defaults);
        if (!Directory.Exists(Path.Combine(defaults, "vdirbase")))
        {
            File.CreateSymbolicLink(Path.Combine(defaults, "vdirbase"), realBase);
            File.CreateSymbolicLink(Path.Combine(defaults, "run.rev"), "/var/run/vservers.rev");
        }
        var dir = roots.Paths.ConfigDir(name);
        Put(dir, "context", "1042\n");
        Put(dir, "flags", "lock\n");
        Put(dir, "capabilities", "NET_RAW\n");
        Put(dir, "fstab", "none /tmp tmpfs size=16m,mode=1777 0 0\n");
        Put(dir, "name", "FTP Server\n");
        Put(dir, "nice", "5\n");
        Put(dir, "uts/nodename", (Validate.IsValidHostname(name) ? name : "odd") + ".nowhe.re\n");
        Directory.CreateDirectory(Path.Combine(dir, "apps/init"));
        Put(dir, "apps/init/style", "plain\n");
        Put(dir, "interfaces/dev", "eth0\n");
        Put(dir, "interfaces/mask", "255.255.255.0\n");
        Put(dir, "interfaces/bcast", "10.213.7.255\n");
        Put(dir, "interfaces/00/ip", "10.213.7.2\n");
        Put(dir, "interfaces/00/name", "ftp0\n");
        Put(dir, "interfaces/01/ip", "10.213.7.3\n");
        Put(dir, "interfaces/01/disabled", "");
        Put(dir, "interfaces/02/ip", "10.213.7.4\n");
        Put(dir, "interfaces/02/prefix", "24\n");
        Put(dir, "interfaces/02/scope", "host\n");
        Put(dir, "apps/vunify/hash", "opaque\n");
        if (bridge is not null)
        {
            Put(dir, "netbridge", bridge + "\n");
        }
        File.CreateSymbolicLink(Path.Combine(dir, "run"), "/var/run/vservers/" + name);
        File.CreateSymbolicLink(Path.Combine(dir, "run.rev"), "../.defaults/run.rev");
        File.CreateSymbolicLink(Path.Combine(dir, "vdir"), relativeVdir ? "../.defaults/vdirbase/" + name : Path.Combine(defaults, "vdirbase", name));
        var root = Path.Combine(realBase, name);
        Directory.CreateDirectory(root);
        if (buildRoot)
        {
            using var fs = GuestRootFs.Open(root);
            RootBuilders.For(BuildMethod.Busybox).Build(fs, new GuestConfig(name) { InitStyle = InitStyle.Plain }, NullReporter.Instance, default);
        }
        return dir;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheVdirChainIsResolvedToAPlainDirectory(bool relative)
    {
        using var roots = new TempRoots();
        UtilVserverGuest(roots, "ftp", relative, buildRoot: false);
        var c = new GuestStore(roots.Paths).ReadConfig("ftp");
        var expected = Path.Combine(roots.Base, "srv-vservers", "ftp");
        Assert.Equal(expected, c.Root);
        Assert.Null(new DirectoryInfo(c.Root!).LinkTarget);
        Assert.Equal(new[] { "CAP_NET_RAW" }, c.Capabilities);
        Assert.Equal(new[] { "lock" }, c.Flags);
        Assert.Equal(2, c.Interfaces.Count); // 01 is disabled
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SetVServerGuestChangesOnlyTheFilesOfWhatChanged(bool relative)
    {
        using var roots = new TempRoots();
        var dir = UtilVserverGuest(roots, "uvftp", relative, buildRoot: false);
        var store = new GuestStore(roots.Paths);
        var before = Manifest(dir);

        store.Update("uvftp", new GuestSettings { Nice = 6 });
        Assert.Equal(before.Replace("nice [5\\n]", "nice [6\\n]", StringComparison.Ordinal), Manifest(dir));

        // nothing changed: nothing written, not even our own rendering of util-vserver's files
        before = Manifest(dir);
        store.Update("uvftp", new GuestSettings { Nice = 6 });
        Assert.Equal(before, Manifest(dir));

        // a new address: a new entry after the highest number; every other entry, default and file stays
        store.Update("uvftp", new GuestSettings { Interfaces = new[] { "ftp0=eth0:10.213.7.2/24", "eth0:10.213.7.4/24", "eth0:10.213.7.9/24" } });
        var after = Manifest(dir);
        Assert.Equal(new[] { "interfaces/3/", "interfaces/3/ip", "interfaces/3/prefix" }, after.Split('\n').Except(before.Split('\n')).Select(l => l.Split(' ')[0]).ToArray());
        Assert.Empty(before.Split('\n').Except(after.Split('\n')));

        // an address removed: only its entry goes (its scope file with it)
        store.Update("uvftp", new GuestSettings { Interfaces = new[] { "ftp0=eth0:10.213.7.2/24", "eth0:10.213.7.9/24" } });
        Assert.False(Directory.Exists(Path.Combine(dir, "interfaces/02")));
        Assert.Equal("1", File.Exists(Path.Combine(dir, "interfaces/01/disabled")) ? "1" : "0");
        Assert.Equal("10.213.7.255\n", File.ReadAllText(Path.Combine(dir, "interfaces/bcast")));
        Assert.Equal("ftp0\n", File.ReadAllText(Path.Combine(dir, "interfaces/00/name")));
        Assert.Equal("FTP Server\n", File.ReadAllText(Path.Combine(dir, "name")));

        // a changed flag set replaces util-vserver's flags with cflags, and nothing else
        before = Manifest(dir);
        store.Update("uvftp", new GuestSettings { Flags = new[] { "lock", "nproc" } });
        var diff = Manifest(dir).Split('\n').Except(before.Split('\n')).Concat(before.Split('\n').Except(Manifest(dir).Split('\n'))).Select(l => l.Split(' ')[0]).Order().ToArray();
        Assert.Equal(new[] { "cflags", "flags" }, diff);
        Assert.Empty(Directory.GetFiles(dir, "*.vserver-*", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(dir, "*tmp*", SearchOption.AllDirectories));
    }

    [Fact]
    public void AChangeThatFailsMidwayLeavesTheDirectoryAsItWas()
    {
        using var roots = new TempRoots();
        var dir = UtilVserverGuest(roots, "uvftp", relativeVdir: true, buildRoot: false);
        var store = new GuestStore(roots.Paths);
        var before = Manifest(dir);
        var change = new GuestSettings
        {
            Nice = 7, Hostname = "other.nowhe.re", Flags = new[] { "nproc" }, MemoryLimit = 128L << 20,
            Interfaces = new[] { "eth0:10.213.7.4/24", "eth0:10.213.7.10/24" },
        };
        var failures = 0;
        for (var step = 0; step < 20; step++)
        {
            TestSeams.FailConfigChangeAtStep = step;
            try
            {
                var e = Record.Exception(() => store.Update("uvftp", change));
                if (e is null)
                {
                    break; // fewer steps than this: the change went through (checked below)
                }
                Assert.Contains($"at step {step}", e.Message);
                Assert.Equal(before, Manifest(dir));
                failures++;
            }
            finally
            {
                TestSeams.FailConfigChangeAtStep = -1;
            }
        }
        Assert.True(failures >= 8, $"the change had only {failures} steps to fail at");
        // the same change without a failure: it is all there
        store.Update("uvftp", change);
        var done = store.ReadConfig("uvftp");
        Assert.Equal(7, done.Nice);
        Assert.Equal(128L << 20, done.MemoryLimit);
        Assert.Equal(new[] { "eth0:10.213.7.4/24", "eth0:10.213.7.10/24" }, done.Interfaces.Select(i => i.ToString()));
    }

    [Fact]
    public void ContextNextIsWhereNewContextsStart()
    {
        using var roots = new TempRoots();
        Put(roots.Paths.ConfigRoot, ".defaults/context.next", "1234\n");
        var store = new GuestStore(roots.Paths);
        Assert.Equal(1234, store.Create(new GuestConfig("a"), new SkeletonBuilder()).Context);
        Assert.Equal("1235\n", File.ReadAllText(Path.Combine(roots.Paths.ConfigRoot, ".defaults/context.next")));
        Assert.Equal(1235, store.Create(new GuestConfig("b"), new SkeletonBuilder()).Context);
        Assert.Equal(77, store.Create(new GuestConfig("c") { Context = 77 }, new SkeletonBuilder()).Context);
        Assert.Equal("1236\n", File.ReadAllText(Path.Combine(roots.Paths.ConfigRoot, ".defaults/context.next"))); // a given context leaves it
    }

    [Theory]
    [InlineData("gentoo", InitStyle.Plain, "/sbin/init")]
    [InlineData("arch", InitStyle.Plain, "/sbin/init")]
    [InlineData("minit", InitStyle.Plain, "/sbin/init")]
    [InlineData("fedora", InitStyle.Sysv, "/etc/rc.d/rc 3")]
    [InlineData("redhat", InitStyle.Sysv, "/etc/rc.d/rc 3")]
    public void UtilVserversOtherInitStylesAreListedAndRunAsTheirNearest(string style, InitStyle expected, string runs)
    {
        using var roots = new TempRoots();
        var dir = UtilVserverGuest(roots, "old", relativeVdir: false, buildRoot: false);
        Put(dir, "apps/init/style", style + "\n");
        var store = new GuestStore(roots.Paths);
        Assert.Contains("old", store.ListNames());
        Assert.Equal(expected, store.Get("old").InitStyle);
        var c = store.ReadConfig("old");
        Assert.Equal((expected, style), (c.InitStyle, c.InitStyleAsWritten));
        Assert.EndsWith(runs, string.Join(' ', OciBundle.InitArgs(c)));
        // a change of something else leaves the style file as util-vserver wrote it
        store.Update("old", new GuestSettings { Nice = 1 });
        Assert.Equal(style + "\n", File.ReadAllText(Path.Combine(dir, "apps/init/style")));
    }

    [Fact]
    public void EveryUtilVserverSettingIsReadOrNamed()
    {
        using var roots = new TempRoots();
        var dir = UtilVserverGuest(roots, "tuned", relativeVdir: false, buildRoot: false);
        Put(dir, "ccapabilities", "SET_UTSNAME\n");
        Put(dir, "apps/init/depends", "db\n");
        Put(dir, "fstab.remote", "nfs:/export /srv nfs defaults 0 0\n");
        Put(dir, "ulimits/nofile", "2048\n");
        Put(dir, "rlimits/nproc", "300\n");
        Put(dir, "sysctl/0/setting", "net.ipv4.ip_forward\n");
        Put(dir, "sysctl/0/value", "1\n");
        Put(dir, "shell", "/bin/ash\n");
        Put(dir, "apps/init/runlevel", "2\n");
        Put(dir, "apps/init/environment", "LANG=C.UTF-8\n");
        var c = new GuestStore(roots.Paths).ReadConfig("tuned");
        Assert.Contains(c.ResourceLimits, r => r.Resource == "nofile" && r.Soft == 2048);
        Assert.Contains(c.ResourceLimits, r => r.Resource == "nproc" && r.Hard == 300);
        Assert.Equal("1", c.Sysctls["net.ipv4.ip_forward"]);
        Assert.Equal("/bin/ash", c.Shell);
        Assert.Equal(new[] { "LANG=C.UTF-8" }, c.InitEnvironment);
        Assert.Equal(new[] { "db" }, c.Depends); // read: it orders a marked start (Start-VServerGuest -OnBoot)
        var named = string.Join("\n", c.NotApplied);
        Assert.DoesNotContain("apps/init/depends", named);
        foreach (var item in new[] { "ccapabilities", "fstab.remote", "interfaces/02/scope", "apps/vunify" })
        {
            Assert.Contains(item + ":", named);
        }
        Assert.DoesNotContain("interfaces/01", named); // disabled: not used, nothing to name

        // a host-wide kernel setting is refused at start, by name
        Put(dir, "sysctl/1/setting", "kernel.panic\n");
        Put(dir, "sysctl/1/value", "1\n");
        var e = Assert.Throws<VServerException>(() => OciBundle.CheckStartable(new GuestStore(roots.Paths).ReadConfig("tuned")));
        Assert.Equal("SysctlNotNamespaced", e.ErrorId);
        Assert.Contains("kernel.panic", e.Message);
    }

    [GuestFact]
    public void AGuestBuiltByUtilVserverStartsWithItsSettingsHooksAndRunLink()
    {
        using var roots = new TempRoots();
        var bridge = "vsu" + Guid.NewGuid().ToString("N")[..6];
        var name = "uv" + Guid.NewGuid().ToString("N")[..6];
        var dir = UtilVserverGuest(roots, name, relativeVdir: true, buildRoot: true, bridge: bridge);
        Put(dir, "uts/domainname", "nowhe.re\n");
        Put(dir, "ulimits/nofile", "2048\n");
        Put(dir, "sysctl/0/setting", "net.ipv4.ip_forward\n");
        Put(dir, "sysctl/0/value", "1\n");
        Put(dir, "apps/init/environment", "GREETING=hello\n");
        Put(dir, "ccapabilities", "SET_UTSNAME\n");
        var log = Path.Combine(roots.Base, "hooks.log");
        foreach (var hook in GuestHooks.Types)
        {
            Put(dir, "scripts/" + hook, $"echo \"$1 $2 $VSERVER_NAME\" >> {log}\n"); // not executable: given to /bin/sh
        }
        Put(dir, "scripts/post-start.d/10-exec", $"#!/bin/sh\necho \"exec $1\" >> {log}\n");
        File.SetUnixFileMode(Path.Combine(dir, "scripts/post-start.d/10-exec"), (UnixFileMode)0x1ED);
        var store = new GuestStore(roots.Paths);
        var runtime = new GuestRuntime(store);
        TestEnvironment.UseStagedCli();
        var warnings = new WarningList();
        try
        {
            runtime.Start(name, warnings);
            string Sh(string script)
            {
                var o = new List<string>();
                Assert.Equal(0, runtime.Exec(name, new ExecRequest(new[] { "/bin/sh", "-c", script }), l => o.Add(l), null));
                return string.Join("\n", o);
            }
            Assert.Equal(name + ".nowhe.re", Sh("hostname"));
            Assert.Equal("nowhe.re", Sh("cat /proc/sys/kernel/domainname"));
            Assert.Equal("2048", Sh("ulimit -n"));
            Assert.Equal("1", Sh("cat /proc/sys/net/ipv4/ip_forward"));
            Assert.Contains("GREETING=hello", Sh("tr '\\0' '\\n' < /proc/1/environ"));
            Assert.Contains("10.213.7.2/24", Sh("ip -4 addr show"));
            Assert.DoesNotContain("10.213.7.3", Sh("ip -4 addr show")); // disabled
            Assert.Contains(warnings.Warnings, w => w.Contains("ccapabilities", StringComparison.Ordinal));
            Assert.Contains(warnings.Warnings, w => w.Contains("interfaces/02/scope", StringComparison.Ordinal));
            // util-vserver's run link: the context while it runs
            Assert.Equal("1042\n", File.ReadAllText(Path.Combine(dir, "run")));
            Assert.Equal(new[] { $"initialize {name} {name}", $"prepre-start {name} {name}", $"pre-start {name} {name}", $"post-start {name} {name}", "exec post-start" },
                File.ReadAllLines(log));
            runtime.Stop(name, TimeSpan.FromSeconds(5));
            Assert.ThrowsAny<IOException>(() => File.ReadAllText(Path.Combine(dir, "run"))); // the link dangles: stopped
            Assert.Equal(new[] { $"pre-stop {name} {name}", $"post-stop {name} {name}", $"postpost-stop {name} {name}" }, File.ReadAllLines(log).Skip(5));
        }
        finally
        {
            if (runtime.Status(name).State == GuestState.Running)
            {
                runtime.Stop(name, TimeSpan.FromSeconds(2));
            }
            HostProcess.Run("ip", new[] { "link", "del", bridge });
        }
    }

    [GuestFact]
    public void OneContextRunsOnceAndTheSecondStartSaysWho()
    {
        using var a = new LiveGuest(c => c.Context = 3101, start: false);
        using var b = new LiveGuest(start: false, sharing: a, configureAfter: c => c.Context = 3101);
        a.Runtime.Start(a.Name);
        var e = Assert.Throws<VServerException>(() => b.Runtime.Start(b.Name));
        Assert.Equal("ContextInUse", e.ErrorId);
        Assert.Contains(a.Name, e.Message);
        Assert.Contains(b.Name, e.Message);
        Assert.Contains("3101", e.Message);
        Assert.Equal(GuestState.Stopped, b.Runtime.Status(b.Name).State);
        Assert.Empty(Cgroups.Existing(b.Cgroup));
        a.Runtime.Stop(a.Name, TimeSpan.FromSeconds(5));
        b.Runtime.Start(b.Name); // free again
        Assert.Equal(GuestState.Running, b.Runtime.Status(b.Name).State);
    }

    [GuestFact]
    public void ARunningGuestStopsWhateverItsFilesNowSay()
    {
        using var g = new LiveGuest();
        File.WriteAllText(Path.Combine(g.Roots.Paths.ConfigDir(g.Name), "apps/init/style"), "upstart\n");
        Assert.Throws<VServerException>(() => g.Store.ReadConfig(g.Name));
        var warnings = new WarningList();
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5), warnings);
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.Contains(warnings.Warnings, w => w.Contains("upstart", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(g.Roots.Paths.ConfigDir(g.Name), "apps/init/style"), "plain\n");
    }

    // ------------------------------------------------ names util-vserver allowed and VServer does not give

    /// <summary>Directory names util-vserver 0.30 takes for a guest and VServer would not give a new one.</summary>
    public static readonly TheoryData<string> UtilVserverOnlyNames = new() { "ftp server", "web:8080", "müller", "web[1]", "mail@home", new string('x', 70) };

    [Theory]
    [MemberData(nameof(UtilVserverOnlyNames))]
    public void AUtilVserverOnlyNameGetsAMarkedIdTheRuntimeTakes(string name)
    {
        Assert.Equal(name, Validate.ExistingGuestName(name));
        Assert.Throws<VServerException>(() => Validate.GuestName(name));
        var id = GuestId.Of(name);
        Assert.StartsWith("+", id);
        Assert.Matches("^[A-Za-z0-9_+.-]+$", id); // runc's container id alphabet
        Assert.True(GuestId.IsId(id));
        Assert.Equal(id, GuestId.Of(name)); // the same at every start
        Assert.NotEqual(id, GuestId.Of(name + "2"));
        Assert.False(Validate.IsValidGuestName(id)); // never another guest's name
        Assert.Equal("plain-name", GuestId.Of("plain-name"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".defaults")]
    [InlineData("a/b")]
    [InlineData("nul\0x")]
    public void NamesNoDirectoryCouldHaveAreRefusedEvenForExistingGuests(string name)
    {
        var e = Assert.Throws<VServerException>(() => Validate.ExistingGuestName(name));
        Assert.Equal("InvalidName", e.ErrorId);
        Assert.Throws<VServerException>(() => Validate.ExistingGuestName(new string('y', 256)));
    }

    [Fact]
    public void AGuestNamedAsOnlyUtilVserverAllowsIsListedReadAndNotMadeNew()
    {
        using var roots = new TempRoots();
        UtilVserverGuest(roots, "ftp server", relativeVdir: true, buildRoot: false);
        var store = new GuestStore(roots.Paths);
        Assert.Contains("ftp server", store.ListNames());
        Assert.True(store.Exists("ftp server"));
        Assert.Equal(1042, store.ReadConfig("ftp server").Context);
        Assert.Contains("Rename-VServerGuest", Validate.LegacyNameNote("ftp server"));
        Assert.Null(Validate.LegacyNameNote("ftp"));
        var before = Manifest(roots.Paths.ConfigRoot);
        var e = Assert.Throws<VServerException>(() => store.Create(new GuestConfig("web server") { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox)));
        Assert.Equal("InvalidName", e.ErrorId);
        Assert.Contains("web server", e.Message);
        Assert.Equal(before, Manifest(roots.Paths.ConfigRoot));
        // a Set on it writes its files as for any guest
        store.Update("ftp server", new GuestSettings { Nice = 7 });
        Assert.Equal("7\n", File.ReadAllText(Path.Combine(roots.Paths.ConfigDir("ftp server"), "nice")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RenameMovesTheConfigAndTheDefaultRootAndKeepsEveryOtherByte(bool relative)
    {
        using var roots = new TempRoots();
        var dir = UtilVserverGuest(roots, "ftp server", relative, buildRoot: false, vdirBase: roots.Paths.VdirRoot);
        File.WriteAllText(Path.Combine(roots.Paths.DefaultRootDir("ftp server"), "marker"), "root\n");
        var store = new GuestStore(roots.Paths);
        var link = new FileInfo(Path.Combine(dir, "vdir")).LinkTarget!;
        var before = Manifest(dir).Replace(link, "VDIR", StringComparison.Ordinal);
        var g = store.Rename("ftp server", "ftp", NullReporter.Instance);
        Assert.Equal("ftp", g.Name);
        Assert.False(Directory.Exists(dir));
        Assert.False(Directory.Exists(roots.Paths.DefaultRootDir("ftp server")));
        Assert.Equal("root\n", File.ReadAllText(Path.Combine(roots.Paths.DefaultRootDir("ftp"), "marker")));
        Assert.Equal(roots.Paths.DefaultRootDir("ftp"), g.Root);
        // the vdir keeps util-vserver's form, through .defaults/vdirbase, with the new name
        var newLink = new FileInfo(Path.Combine(roots.Paths.ConfigDir("ftp"), "vdir")).LinkTarget!;
        Assert.Equal(link[..^"ftp server".Length] + "ftp", newLink);
        Assert.Equal(before, Manifest(roots.Paths.ConfigDir("ftp")).Replace(newLink, "VDIR", StringComparison.Ordinal));
        Assert.Equal(new[] { "ftp" }, store.ListNames());
    }

    [Fact]
    public void RenameLeavesARootElsewhereWhereItsVdirSays()
    {
        using var roots = new TempRoots();
        var dir = UtilVserverGuest(roots, "web:8080", relativeVdir: false, buildRoot: false);
        var root = new GuestStore(roots.Paths).ReadConfig("web:8080").Root!;
        var before = Manifest(dir);
        var g = new GuestStore(roots.Paths).Rename("web:8080", "web", NullReporter.Instance);
        Assert.Equal(root, g.Root);
        Assert.True(Directory.Exists(root));
        Assert.Equal(before, Manifest(roots.Paths.ConfigDir("web")));
    }

    [Fact]
    public void ARefusedRenameChangesNothing()
    {
        using var roots = new TempRoots();
        UtilVserverGuest(roots, "ftp server", relativeVdir: true, buildRoot: false, vdirBase: roots.Paths.VdirRoot);
        Directory.CreateDirectory(roots.Paths.ConfigDir("taken"));
        Directory.CreateDirectory(roots.Paths.DefaultRootDir("rootthere"));
        var store = new GuestStore(roots.Paths);
        string State() => Manifest(roots.Paths.ConfigRoot) + Manifest(roots.Paths.VdirRoot);
        HostLock.Acquire(roots.Paths.LockFile).Dispose(); // VServer's own lock file, there after any change
        var before = State();
        Assert.Equal("GuestExists", Assert.Throws<VServerException>(() => store.Rename("ftp server", "taken")).ErrorId);
        Assert.Equal("InvalidName", Assert.Throws<VServerException>(() => store.Rename("ftp server", "ftp server 2")).ErrorId);
        Assert.Equal("GuestNotFound", Assert.Throws<VServerException>(() => store.Rename("nobody here", "ftp")).ErrorId);
        var e = Assert.Throws<VServerException>(() => store.Rename("ftp server", "rootthere"));
        Assert.Equal("RootExists", e.ErrorId);
        Assert.Contains(roots.Paths.DefaultRootDir("rootthere"), e.Message);
        Assert.Equal(before, State());
    }

    [RootFact]
    public void ARenameThatFailsMidwayMovesBackWhatItMoved()
    {
        using var roots = new TempRoots();
        UtilVserverGuest(roots, "ftp server", relativeVdir: true, buildRoot: false, vdirBase: roots.Paths.VdirRoot);
        var store = new GuestStore(roots.Paths);
        string State() => Manifest(roots.Paths.ConfigRoot) + Manifest(roots.Paths.VdirRoot);
        HostLock.Acquire(roots.Paths.LockFile).Dispose(); // VServer's own lock file, there after any change
        var before = State();
        // the configuration moves; the root's parent then refuses the root's rename
        HostProcess.Run("/usr/bin/chattr", new[] { "+i", roots.Paths.VdirRoot });
        try
        {
            Assert.ThrowsAny<Exception>(() => store.Rename("ftp server", "ftp"));
        }
        finally
        {
            HostProcess.Run("/usr/bin/chattr", new[] { "-i", roots.Paths.VdirRoot });
        }
        Assert.Equal(before, State());
        Assert.Equal(new[] { "ftp server" }, store.ListNames());
    }

    [GuestFact]
    public void AGuestNamedAsOnlyUtilVserverAllowsStartsStopsAndIsRenamed()
    {
        using var roots = new TempRoots();
        var name = "ftp server " + Guid.NewGuid().ToString("N")[..6]; // host-wide names: one of its own
        var plain = "uvren" + Guid.NewGuid().ToString("N")[..6];
        var bridge = "vsu" + Guid.NewGuid().ToString("N")[..6];
        UtilVserverGuest(roots, name, relativeVdir: true, buildRoot: true, bridge: bridge, vdirBase: roots.Paths.VdirRoot);
        var store = new GuestStore(roots.Paths);
        var runtime = new GuestRuntime(store);
        TestEnvironment.UseStagedCli();
        var id = GuestId.Of(name);
        try
        {
            runtime.Start(name);
            Assert.Equal(GuestState.Running, runtime.Status(name).State);
            // its host-wide names are its id: the runtime's container, the cgroup, the network namespace, the run directory
            Assert.NotEmpty(Cgroups.Existing(Cgroups.ParentFor(roots.Paths) + "/" + id));
            Assert.True(File.Exists("/run/netns/" + GuestNetwork.NamespaceOf(roots.Paths, name)));
            Assert.EndsWith(id, GuestNetwork.NamespaceOf(roots.Paths, name));
            Assert.True(Directory.Exists(Path.Combine(roots.Paths.RunRoot, id)));
            var o = new List<string>();
            Assert.Equal(0, runtime.Exec(name, new ExecRequest(new[] { "/bin/sh", "-c", "hostname; echo $$" }), o.Add, null));
            Assert.Equal("odd.nowhe.re", o[0]);
            // the views name it by its name, not its id
            Assert.Contains(RunDirectory.Running(roots.Paths), r => r.Name == name && r.State.Context == 1042);
            Assert.Contains(new Processes.ProcessTable(roots.Paths).Guests, r => r.Name == name);
            var e = Assert.Throws<VServerException>(() => store.Rename(name, plain));
            Assert.Equal("GuestRunning", e.ErrorId);
            runtime.Stop(name, TimeSpan.FromSeconds(5));
            Assert.Equal(GuestState.Stopped, runtime.Status(name).State);
            Assert.Empty(Cgroups.Existing(Cgroups.ParentFor(roots.Paths) + "/" + id));
            Assert.False(File.Exists("/run/netns/" + GuestNetwork.NamespaceOf(roots.Paths, name)));

            store.Rename(name, plain);
            runtime.Start(plain);
            o.Clear();
            Assert.Equal(0, runtime.Exec(plain, new ExecRequest(new[] { "cat", "/proc/sys/kernel/hostname" }), o.Add, null));
            Assert.Equal("odd.nowhe.re", o[0]);
            Assert.NotEmpty(Cgroups.Existing(Cgroups.PathFor(roots.Paths, plain)));
            runtime.Stop(plain, TimeSpan.FromSeconds(5));
        }
        finally
        {
            foreach (var n in new[] { name, plain })
            {
                if (store.Exists(n) && runtime.Status(n).State == GuestState.Running)
                {
                    runtime.Stop(n, TimeSpan.FromSeconds(2));
                }
            }
            HostProcess.Run("ip", new[] { "link", "del", bridge });
        }
    }
}
