using VServer.Config;
using VServer.Storage;
using VServer.Tests.Shared;
using static VServer.Tests.Shared.UtilVserverFixtures;
using Xunit;

namespace VServer.Tests;

/// <summary>The stable branch's NAME.conf files of seeds 000, 001 and 003, read as data.</summary>
public class LegacyConfigTests
{
    [Fact]
    public void Seed000sArtemisIsReadWholly()
    {
        var notes = new List<string>();
        var c = LegacyConfig.Parse(Artemis, "artemis.conf", "artemis", notes);
        Assert.Equal(1000, c.Context);
        Assert.Equal("eth0:62.24.85.244/24", Assert.Single(c.Interfaces).ToString());
        Assert.True(c.OnBoot);
        Assert.Equal(("artemis", "example.com"), (c.Hostname, c.Domainname));
        Assert.Null(c.Nice);
        Assert.Equal(new[] { "lock", "nproc" }, c.Flags);
        Assert.Empty(c.ResourceLimits);
        Assert.Equal(new[] { "CAP_NET_RAW", "CAP_SYS_ADMIN" }, c.Capabilities);
        Assert.Equal(InitStyle.Sysv, c.InitStyle);
        Assert.Equal(new[] { "/sbin/rc", "default" }, c.StartCommand);
        Assert.Equal(new[] { "/sbin/rc", "shutdown" }, c.StopCommand);
        Assert.Contains(notes, n => n.Contains("IPROOTBCAST", StringComparison.Ordinal));
    }

    [Fact]
    public void Seed001sFirstExampleAndItsUlimit()
    {
        var c = LegacyConfig.Parse(Marvin, "marvin.conf", "marvin", new List<string>());
        Assert.Null(c.Context);
        Assert.False(c.OnBoot);
        Assert.Equal("marvin.stat.unipd.it", c.Hostname);
        Assert.Null(c.Domainname);
        Assert.Equal("eth0:147.162.35.1/24", Assert.Single(c.Interfaces).ToString());
        Assert.Equal(new ResourceLimit("nproc", 1000, 1000), Assert.Single(c.ResourceLimits));
    }

    [Fact]
    public void Seed003sFtpWithTwoAddressesAndBothLimits()
    {
        var c = LegacyConfig.Parse(Ftp, "ftp.conf", "ftp", new List<string>());
        Assert.Equal(new[] { "eth0:192.168.5.32", "eth0:192.168.5.64" }, c.Interfaces.Select(i => i.ToString()));
        Assert.Equal(5, c.Nice);
        Assert.Equal(new[] { "lock", "nproc", "fakeinit" }, c.Flags);
        Assert.Equal(new ResourceLimit("nproc", 200, 200), Assert.Single(c.ResourceLimits));
        Assert.Empty(c.Capabilities);
    }

    [Fact]
    public void IprootOverLinesWithDevicesAndMasks()
    {
        // seed 001: IPROOT="eth0:192.168.1.2\neth1:192.168.3.1/ 255.255.255.192"
        var c = LegacyConfig.Parse("IPROOT=\"eth0:192.168.1.2\neth1:192.168.3.1/ 255.255.255.192\"\nULIMIT=\"-S -n 512 -H -n 1024 -u 50\"\n", "x.conf", "x", new List<string>());
        Assert.Equal(new[] { "eth0:192.168.1.2", "eth1:192.168.3.1/26" }, c.Interfaces.Select(i => i.ToString()));
        Assert.Contains(new ResourceLimit("nofile", 512, 1024), c.ResourceLimits);
        Assert.Contains(new ResourceLimit("nproc", 50, 50), c.ResourceLimits);
    }

    [Fact]
    public void Seed001sSecondExampleIsRefusedWithItsLine()
    {
        var e = Assert.Throws<VServerException>(() => LegacyConfig.Parse(Profiles, "db.conf", "db", new List<string>()));
        Assert.Equal("LegacyConfigRefused", e.ErrorId);
        Assert.Contains("db.conf, line 2", e.Message);
        Assert.Contains("if [ \"\" = \"\" ]; then", e.Message);
    }

    [Theory]
    [InlineData("S_HOSTNAME=$(hostname)", 1, "'$'")]
    [InlineData("S_HOSTNAME=`id`", 1, "'`'")]
    [InlineData("ONBOOT=yes\nS_HOSTNAME=\"$HOST\"", 2, "substitution")]
    [InlineData("ONBOOT=yes; rm -rf /", 1, "';'")]
    [InlineData("ONBOOT=yes rm", 1, "runs a command")]
    [InlineData(". /etc/vservers/common.conf", 1, "not a plain assignment")]
    [InlineData("S_CAPS=\"CAP_NET_RAW", 1, "never closed")]
    public void AnythingButAPlainAssignmentRefusesTheFile(string text, int line, string why)
    {
        var e = Assert.Throws<VServerException>(() => LegacyConfig.Parse(text, "bad.conf", "bad", new List<string>()));
        Assert.Equal("LegacyConfigRefused", e.ErrorId);
        Assert.Contains($"bad.conf, line {line}", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Theory]
    [InlineData("S_CONTEXT=forty", "S_CONTEXT")]
    [InlineData("S_FLAGS=\"lock wings\"", "S_FLAGS")]
    [InlineData("S_CAPS=CAP_FLY", "S_CAPS")]
    [InlineData("IPROOT=300.1.1.1", "IPROOT")]
    [InlineData("ULIMIT=\"-H -z 3\"", "ULIMIT")]
    [InlineData("ONBOOT=maybe", "ONBOOT")]
    [InlineData("S_HOSTNAME=bad_host!", "S_HOSTNAME")]
    public void ABadValueNamesItsVariable(string text, string variable)
    {
        var e = Assert.Throws<VServerException>(() => LegacyConfig.Parse(text, "bad.conf", "bad", new List<string>()));
        Assert.Equal("InvalidLegacyConfig", e.ErrorId);
        Assert.Contains("line 1", e.Message);
        Assert.Contains(variable, e.Message);
    }

    [Fact]
    public void AnImportWritesTheConfigurationDirectoryAndLeavesTheRoot()
    {
        using var roots = new TempRoots();
        var root = roots.Paths.DefaultRootDir("artemis");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.WriteAllText(Path.Combine(root, "etc", "marker"), "mine");
        var store = new GuestStore(roots.Paths);
        var guest = store.Adopt(LegacyConfig.Parse(Artemis, "artemis.conf", "artemis", new List<string>()));
        Assert.Equal((1000, root), (guest.Context, guest.Root));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(root, "etc", "marker")));
        Assert.Equal(new[] { "etc" }, Directory.GetFileSystemEntries(root).Select(Path.GetFileName));
        var dir = roots.Paths.ConfigDir("artemis");
        Assert.Equal("1000\n", File.ReadAllText(Path.Combine(dir, "context")));
        Assert.Equal("62.24.85.244\n", File.ReadAllText(Path.Combine(dir, "interfaces/0/ip")));
        Assert.Equal("default\n", File.ReadAllText(Path.Combine(dir, "apps/init/mark")));

        // again: refused, nothing changed
        var before = Manifest(roots.Paths.ConfigRoot);
        var e = Assert.Throws<VServerException>(() => store.Adopt(LegacyConfig.Parse(Artemis, "artemis.conf", "artemis", new List<string>())));
        Assert.Equal("GuestExists", e.ErrorId);
        var other = Assert.Throws<VServerException>(() => store.Adopt(LegacyConfig.Parse(Artemis, "artemis.conf", "artemis2", new List<string>())));
        Assert.Equal("ContextInUse", other.ErrorId);
        Assert.Equal(before, Manifest(roots.Paths.ConfigRoot));
    }
}
