using System.Text.Json.Nodes;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Real distribution guests, the parts that need no root: apt sources, debootstrap arguments, name files, init detection, the systemd bundle.</summary>
public class DistributionTests
{
    [Fact]
    public void TheHostsFirstDebianMirrorComesFromBothAptFormats()
    {
        using var roots = new TempRoots();
        var apt = Path.Combine(roots.Base, "apt");
        Directory.CreateDirectory(Path.Combine(apt, "sources.list.d"));
        File.WriteAllText(Path.Combine(apt, "sources.list"), "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://security.debian.org/debian-security bookworm-security main\n");
        File.WriteAllText(Path.Combine(apt, "sources.list.d", "debian.sources"),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n" +
            "Types: deb\nEnabled: no\nURIs: http://disabled.example/debian\nSuites: trixie\nComponents: main\n");
        File.WriteAllText(Path.Combine(apt, "sources.list.d", "other.list"), "deb http://mirror.example/debian trixie main\n");
        Assert.Equal("http://deb.debian.org/debian", AptSources.FirstDebianMirror("bookworm", apt));
        Assert.Equal("http://mirror.example/debian", AptSources.FirstDebianMirror("trixie", apt)); // the disabled stanza is not one
        Assert.Equal("http://deb.debian.org/debian", AptSources.FirstDebianMirror("sid", apt)); // none serves it: the first non-security one
        Assert.Equal(new[] { "bookworm", "bookworm-updates" }, AptSources.ParseDeb822("Types: deb deb-src\nURIs: http://a/\nSuites: bookworm\n bookworm-updates\n").Single().Suites);
        var e = Assert.Throws<VServerException>(() => AptSources.FirstDebianMirror("bookworm", Path.Combine(roots.Base, "none")));
        Assert.Equal("MirrorUnknown", e.ErrorId);
    }

    [Theory]
    [InlineData("Bookworm; rm -rf /", null, null, "InvalidDebootstrapArgument")]
    [InlineData("bookworm", "ftp://mirror.example/debian", null, "InvalidMirror")]
    [InlineData("bookworm", "http://mirror.example/debian --keyring=/x", null, "InvalidMirror")]
    [InlineData("bookworm", "http://deb.debian.org/debian", "openssh-server,--foreign", "InvalidDebootstrapArgument")]
    [InlineData("bookworm", "http://deb.debian.org/debian", "", "InvalidDebootstrapArgument")]
    public void BadDebootstrapValuesAreRefusedByName(string dist, string? mirror, string? include, string errorId)
    {
        var e = Assert.Throws<VServerException>(() => new DebootstrapBuilder(new DebootstrapOptions
        {
            Distribution = dist,
            Mirror = mirror ?? "http://deb.debian.org/debian",
            Include = include is null ? Array.Empty<string>() : include.Split(','),
        }));
        Assert.Equal(errorId, e.ErrorId);
        var bad = include ?? mirror ?? dist;
        Assert.Contains(include is null ? bad : include.Split(',').First(p => p.Length == 0 || p.StartsWith('-')), e.Message);
    }

    [Fact]
    public void HostsKeepsTheGuestsOwnLinesAndReplacesOnlyVServers()
    {
        var c = new GuestConfig("web1") { Hostname = "www", Domainname = "example.org" };
        c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.0.0.2/24"));
        var first = GuestNameFiles.Merge("", c);
        Assert.Equal("127.0.0.1\tlocalhost\t# vserver\n::1\tlocalhost ip6-localhost ip6-loopback\t# vserver\n10.0.0.2\twww.example.org www\t# vserver\n", first);
        // the guest adds a line of its own; the admin changes the address
        var edited = first + "192.0.2.7\tdb.internal db\n";
        c.Interfaces[0] = InterfaceSpec.Parse("eth0:10.0.0.3/24");
        var second = GuestNameFiles.Merge(edited, c);
        Assert.Contains("192.0.2.7\tdb.internal db\n", second);
        Assert.Contains("10.0.0.3\twww.example.org www\t# vserver\n", second);
        Assert.DoesNotContain("10.0.0.2", second);
        // a guest's own localhost line is not doubled
        Assert.Single(GuestNameFiles.Merge("127.0.0.1 localhost.localdomain localhost\n", c).Split('\n'), l => l.StartsWith("127.0.0.1", StringComparison.Ordinal));
        Assert.Contains("127.0.1.1\tbare\t# vserver", GuestNameFiles.Merge("", new GuestConfig("bare")));
    }

    [Fact]
    public void AutoIsDecidedFromTheTreeAndSystemdGetsWhatItNeeds()
    {
        var c = new GuestConfig("sd") { InitStyle = InitStyle.Auto, Context = 40001 };
        Assert.Equal(InitStyle.Plain, OciBundle.Effective(c, InitKind.Systemd).InitStyle);
        Assert.Equal(InitStyle.Sysv, OciBundle.Effective(c, InitKind.None).InitStyle);
        Assert.Equal(InitStyle.Auto, c.InitStyle); // the configuration itself is not changed
        Assert.Equal(InitStyle.Command, OciBundle.Effective(new GuestConfig("x") { InitStyle = InitStyle.Command }, InitKind.Systemd).InitStyle);

        var options = new BundleOptions { RootPath = "/vservers/sd", CgroupsPath = "/vserver/sd/payload", InitKind = InitKind.Systemd, InitHelper = "/usr/bin/tini-static" };
        var systemd = OciBundle.Generate(c, options);
        var mounts = systemd["mounts"]!.AsArray().Select(m => m!).ToDictionary(m => (string)m["destination"]!, m => m);
        Assert.Equal("tmpfs", (string?)mounts["/run"]["type"]);
        Assert.Equal("tmpfs", (string?)mounts["/run/lock"]["type"]);
        Assert.Equal("tmpfs", (string?)mounts["/tmp"]["type"]);
        Assert.Contains("rw", mounts["/sys/fs/cgroup"]["options"]!.AsArray().Select(o => (string?)o)); // its own (payload) subtree; the limits sit above
        Assert.Equal(new[] { "/sbin/init" }, systemd["process"]!["args"]!.AsArray().Select(a => (string?)a).ToArray());
        Assert.Contains("container=vserver", systemd["process"]!["env"]!.AsArray().Select(a => (string?)a));
        Assert.Equal(OciBundle.SystemdStopSignal, OciBundle.StopSignal(OciBundle.Effective(c, InitKind.Systemd), InitKind.Systemd));
        Assert.Equal(37, OciBundle.SystemdStopSignal); // SIGRTMIN+3: halt (SIGINT would be ctrl-alt-del, a reboot)
        Assert.Equal("37", (string?)systemd["annotations"]!["org.vserver.stopsignal"]);

        // busybox or sysvinit as /sbin/init: no systemd mounts, read-only cgroup; SIGUSR1 (halt) to busybox, SIGINT to sysvinit
        var busybox = OciBundle.Generate(c, options with { InitKind = InitKind.Busybox });
        var bmounts = busybox["mounts"]!.AsArray().Select(m => (string?)m!["destination"]).ToArray();
        Assert.DoesNotContain("/run", bmounts);
        Assert.Equal(10, OciBundle.StopSignal(OciBundle.Effective(c, InitKind.Busybox), InitKind.Busybox));
        Assert.Equal(2, OciBundle.StopSignal(OciBundle.Effective(c, InitKind.Other), InitKind.Other));
        // no /sbin/init: Sysv under the minimal pid 1
        Assert.Equal(OciBundle.InitHelperTarget, (string?)OciBundle.Generate(c, options with { InitKind = InitKind.None })["process"]!["args"]![0]);
    }

    [Fact]
    public void InitIsNamedByWhereItResolvesInsideTheRoot()
    {
        using var roots = new TempRoots();
        var root = Path.Combine(roots.Base, "root");
        Directory.CreateDirectory(root);
        using var fs = GuestRootFs.Open(root);
        Assert.Equal(InitKind.None, fs.InitKind());
        // Debian's layout: /sbin/init -> /lib/systemd/systemd, /lib -> usr/lib (merged /usr), absolute links
        fs.WriteText("usr/lib/systemd/systemd", "not run");
        fs.Symlink("usr/lib", "lib");
        fs.Symlink("/lib/systemd/systemd", "sbin/init");
        Assert.Equal("/usr/lib/systemd/systemd", fs.Resolve("/sbin/init"));
        Assert.Equal(InitKind.Systemd, fs.InitKind());
        // a link that points "out" of the root resolves inside it: the host's systemd is never looked at
        File.Delete(Path.Combine(root, "sbin/init"));
        fs.Symlink("../../../../../../../../lib/systemd/systemd", "sbin/init");
        Assert.Equal("/usr/lib/systemd/systemd", fs.Resolve("/sbin/init"));
        File.Delete(Path.Combine(root, "sbin/init"));
        fs.Symlink("/bin/busybox", "sbin/init");
        Assert.Equal(InitKind.None, fs.InitKind()); // dangling inside the root
        fs.WriteText("bin/busybox", "not run");
        Assert.Equal(InitKind.Busybox, fs.InitKind());
    }
}
