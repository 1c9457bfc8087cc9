using System.Net;
using VServer.Config;
using Xunit;

namespace VServer.Tests;

public class ValidationTests
{
    [Theory]
    [InlineData("web")]
    [InlineData("web-1.example_2")]
    [InlineData("A")]
    public void GuestNameAcceptsWhitelistedNames(string name) => Assert.Equal(name, Validate.GuestName(name));

    [Theory]
    [InlineData("")]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("..")]
    [InlineData("-x")]
    [InlineData("we b")]
    [InlineData("web\n")]
    public void GuestNameRefusesPathTricks(string name)
    {
        var e = Assert.Throws<VServerException>(() => Validate.GuestName(name));
        Assert.Equal("InvalidName", e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(name, e.Target);
    }

    [Fact]
    public void GuestNameRefuses300Characters()
    {
        var e = Assert.Throws<VServerException>(() => Validate.GuestName(new string('a', 300)));
        Assert.Contains("300 characters", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(49152)]
    [InlineData(-5)]
    public void ContextOutsideGuestRangeIsRefused(int xid)
    {
        var e = Assert.Throws<VServerException>(() => Validate.Context(xid));
        Assert.Equal("InvalidContext", e.ErrorId);
        Assert.Contains(xid.ToString(), e.Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(49151)]
    public void ContextBoundsAreAccepted(int xid) => Assert.Equal(xid, Validate.Context(xid));

    [Theory]
    [InlineData("eth0:62.24.85.244/24", "eth0", "62.24.85.244", 24, null)]
    [InlineData("10.0.1.0", null, "10.0.1.0", null, null)]
    [InlineData("eth1:10.0.1.2/255.255.254.0", "eth1", "10.0.1.2", 23, null)]
    [InlineData("web=eth0:192.168.123.123/24", "eth0", "192.168.123.123", 24, "web")]
    [InlineData("2001:db8::1/64", null, "2001:db8::1", 64, null)]
    [InlineData("eth0:2001:db8::1/64", "eth0", "2001:db8::1", 64, null)]
    public void InterfaceSpecParsesUtilVserverSyntax(string spec, string? dev, string ip, int? prefix, string? name)
    {
        var i = InterfaceSpec.Parse(spec);
        Assert.Equal(dev, i.Device);
        Assert.Equal(IPAddress.Parse(ip), i.Address);
        Assert.Equal(prefix, i.Prefix);
        Assert.Equal(name, i.Name);
    }

    [Fact]
    public void InterfaceSpecReadsBackWhatItWrites()
    {
        // the form a start records as applied (state.json), nodev included, read back by the host's rules
        foreach (var i in new[]
        {
            InterfaceSpec.Parse("web=eth0:192.168.123.123/24"),
            new InterfaceSpec(IPAddress.Parse("10.0.1.2"), 23, "eth1", null, noDev: true),
            InterfaceSpec.Parse("2001:db8::1/64"),
        })
        {
            Assert.Equal(i, InterfaceSpec.FromString(i.ToString()));
        }
        Assert.True(InterfaceSpec.FromString("eth1:10.0.1.2/23 (nodev)").NoDev);
    }

    [Theory]
    [InlineData("")]
    [InlineData("eth0:")]
    [InlineData("1.2.3/24")]
    [InlineData("10.0.0.1/33")]
    [InlineData("10.0.0.1/255.0.255.0")]
    [InlineData("bad dev:1.2.3.4")]
    [InlineData("averyveryverylongdev:1.2.3.4")]
    [InlineData("eth0:10.0.0.1/")]
    [InlineData("2001:db8::1/129")]
    [InlineData("garbage")]
    public void InterfaceSpecRefusesMalformedSpecs(string spec)
    {
        var e = Assert.Throws<VServerException>(() => InterfaceSpec.Parse(spec));
        Assert.Equal("InvalidInterface", e.ErrorId);
        Assert.Contains($"'{spec}'", e.Message);
    }

    [Theory]
    [InlineData("NET_RAW", "CAP_NET_RAW")]
    [InlineData("CAP_NET_RAW", "CAP_NET_RAW")]
    [InlineData("net_raw", "CAP_NET_RAW")]
    [InlineData("!CHOWN", "!CAP_CHOWN")]
    [InlineData("~CAP_CHOWN", "!CAP_CHOWN")]
    public void CapabilitiesNormalise(string input, string expected) => Assert.Equal(expected, Capabilities.Normalize(input));

    [Theory]
    [InlineData("NET_RAWR")]
    [InlineData("")]
    [InlineData("!")]
    [InlineData("CAP_")]
    public void UnknownCapabilitiesAreRefused(string input)
    {
        var e = Assert.Throws<VServerException>(() => Capabilities.Normalize(input));
        Assert.Equal("InvalidCapability", e.ErrorId);
    }

    [Fact]
    public void BoundingSetIsSecureDefaultAdjusted()
    {
        var set = Capabilities.BoundingSet(new[] { "CAP_NET_RAW", "!CAP_CHOWN" });
        Assert.Contains("CAP_NET_RAW", set);
        Assert.DoesNotContain("CAP_CHOWN", set);
        Assert.DoesNotContain("CAP_SYS_ADMIN", set);
        Assert.Contains("CAP_SYS_BOOT", set);
        Assert.Equal(Capabilities.SecureDefault.Count, set.Count); // one added, one removed
    }

    [Fact]
    public void LastWordOnACapabilityWins() =>
        Assert.Equal(new[] { "!CAP_NET_RAW" }, Capabilities.NormalizeAll(new[] { "NET_RAW", "!NET_RAW" }));

    [Theory]
    [InlineData("lock", "lock")]
    [InlineData("NPROC", "nproc")]
    [InlineData(" virt_uptime ", "virt_uptime")]
    public void KnownFlagsNormalise(string flag, string expected) => Assert.Equal(expected, GuestFlags.Normalize(flag));

    [Theory]
    [InlineData("lok")]
    [InlineData("")]
    public void UnknownFlagsAreRefused(string flag) =>
        Assert.Equal("InvalidFlag", Assert.Throws<VServerException>(() => GuestFlags.Normalize(flag)).ErrorId);

    [Fact]
    public void ResourceLimitParsesSoftHardAndInfinity()
    {
        Assert.Equal(new ResourceLimit("nofile", 100, 200), ResourceLimit.Parse("NOFILE", "100:200"));
        Assert.Equal(new ResourceLimit("core", ResourceLimit.Unlimited, ResourceLimit.Unlimited), ResourceLimit.Parse("RLIMIT_CORE", "inf"));
        Assert.Equal("InvalidResourceLimit", Assert.Throws<VServerException>(() => ResourceLimit.Parse("nofile", "200:100")).ErrorId);
        Assert.Equal("InvalidResourceLimit", Assert.Throws<VServerException>(() => ResourceLimit.Parse("files", "1")).ErrorId);
        Assert.Equal("InvalidResourceLimit", Assert.Throws<VServerException>(() => ResourceLimit.Parse("nofile", "lots")).ErrorId);
    }

    [Fact]
    public void ResourceLimitsFromATable()
    {
        var table = new System.Collections.Hashtable
        {
            ["nofile"] = 1024,
            ["nproc"] = "100:200",
            ["stack"] = new System.Collections.Hashtable { ["Soft"] = 8388608L, ["Hard"] = "inf" },
        };
        var limits = GuestSettings.ParseResourceLimits(table).OrderBy(l => l.Resource).ToArray();
        Assert.Equal(new ResourceLimit("nofile", 1024, 1024), limits[0]);
        Assert.Equal(new ResourceLimit("nproc", 100, 200), limits[1]);
        Assert.Equal(new ResourceLimit("stack", 8388608, ResourceLimit.Unlimited), limits[2]);
    }

    [Theory]
    [InlineData("/etc/init.d/rc 3", new[] { "/etc/init.d/rc", "3" })]
    [InlineData("/bin/sh -c 'echo a b'", new[] { "/bin/sh", "-c", "echo a b" })]
    [InlineData("say \"x \\\" y\"", new[] { "say", "x \" y" })]
    public void CommandLineSplitsWithoutExpanding(string text, string[] expected)
    {
        var args = CommandLine.Split(text);
        Assert.Equal(expected, args);
        Assert.Equal(expected, CommandLine.Split(CommandLine.Join(args)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("echo 'unbalanced")]
    public void BadCommandsAreRefused(string text) =>
        Assert.Equal("InvalidCommand", Assert.Throws<VServerException>(() => CommandLine.Split(text)).ErrorId);

    [Fact]
    public void SettingsAreAllValidatedBeforeAnyChange()
    {
        var c = new GuestConfig("web") { Hostname = "old" };
        var s = new GuestSettings { Hostname = "new", Capabilities = new[] { "NOPE" } };
        Assert.Throws<VServerException>(() => s.ApplyTo(c));
        Assert.Equal("old", c.Hostname);
    }

    [Fact]
    public void CommandStyleNeedsAStartCommand()
    {
        var c = new GuestConfig("web");
        var e = Assert.Throws<VServerException>(() => new GuestSettings { InitStyle = InitStyle.Command }.ApplyTo(c));
        Assert.Equal("MissingStartCommand", e.ErrorId);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(1024L)]
    public void TooSmallMemoryLimitIsRefused(long bytes) =>
        Assert.Equal("InvalidMemoryLimit", Assert.Throws<VServerException>(() => new GuestSettings { MemoryLimit = bytes }.ApplyTo(new GuestConfig("w"))).ErrorId);

    [Theory]
    [InlineData(-21)]
    [InlineData(20)]
    public void NiceOutOfRangeIsRefused(int nice) =>
        Assert.Equal("InvalidNice", Assert.Throws<VServerException>(() => new GuestSettings { Nice = nice }.ApplyTo(new GuestConfig("w"))).ErrorId);

    [Fact]
    public void ClearResetsNamedSettings()
    {
        var c = new GuestConfig("w") { MemoryLimit = 1 << 30, Nice = 5 };
        new GuestSettings { Clear = new[] { "memorylimit", "Nice" } }.ApplyTo(c);
        Assert.Null(c.MemoryLimit);
        Assert.Null(c.Nice);
        Assert.Equal("InvalidClear", Assert.Throws<VServerException>(() => new GuestSettings { Clear = new[] { "Bogus" } }.ApplyTo(c)).ErrorId);
    }
}
