using System.Net;
using VServer.Config;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The host's nftables rules as VServer writes them (pure), and nft's own check of them.</summary>
public class FirewallTests
{
    private static HostFirewall.BridgeUse Sample() => new("vstx0",
        new Bridge("vstx0") { Addresses = { "10.231.0.1/24", "fd00:231::1/64" }, Nat = true, DnsServers = { "10.231.0.1", "9.9.9.9" } },
        new[]
        {
            new HostFirewall.Port("web", "vs0011aabb.0", "02:11:22:33:44:55", new[] { IPAddress.Parse("10.231.0.2"), IPAddress.Parse("fd00:231::2") })
            {
                Published = new[] { PortMapping.Parse("8080:80"), PortMapping.Parse("192.0.2.2:5353:53/udp") },
            },
            new HostFirewall.Port("v6only", "vs0011aabc.0", "02:11:22:33:44:56", new[] { IPAddress.Parse("fd00:231::3") }),
        });

    [Fact]
    public void TheRulesShieldTheHostNatTheSubnetsAndPinEachPort()
    {
        var s = HostFirewall.Script("vserver_test", new[] { Sample() });
        Assert.Contains("iifname { \"vstx0\" } jump guests_to_host", s);
        Assert.Contains("ct state established,related accept", s);
        Assert.Contains("iifname \"vstx0\" ip daddr 10.231.0.1 meta l4proto { tcp, udp } th dport 53 accept", s); // DNS to its own address only
        Assert.DoesNotContain("9.9.9.9", s);
        Assert.Contains("    drop\n", s);
        Assert.Contains("ip saddr 10.231.0.0/24 ip daddr != 10.231.0.0/24 oifname != \"vstx0\" masquerade", s);
        Assert.Contains("ip6 saddr fd00:231::/64 ip6 daddr != fd00:231::/64 oifname != \"vstx0\" masquerade", s);
        Assert.Contains("iifname \"vs0011aabb.0\" jump port_vs0011aabb_0", s);
        Assert.Contains("fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat ip to 10.231.0.2:80", s);
        Assert.Contains("ip daddr 192.0.2.2 ip daddr != 127.0.0.0/8 udp dport 5353 dnat ip to 10.231.0.2:53", s);
        Assert.Contains("ether saddr != 02:11:22:33:44:55 drop", s);
        Assert.Contains("ether type ip ip saddr != { 10.231.0.2 } drop", s);
        Assert.Contains("ether type ip6 ip6 saddr != { ::, fe80::/10, fd00:231::2 } drop", s);
        Assert.Contains("chain port_vs0011aabc_0 {\n    ether saddr != 02:11:22:33:44:56 drop\n    ether type arp arp saddr ether != 02:11:22:33:44:56 drop\n    ether type arp drop\n    ether type ip drop\n", s);
    }

    [Fact]
    public void NothingAttachedMeansNoTables()
    {
        Assert.Equal("add table inet vserver\ndelete table inet vserver\nadd table bridge vserver\ndelete table bridge vserver\n", HostFirewall.Script("vserver", Array.Empty<HostFirewall.BridgeUse>()));
    }

    [RootFact]
    public void NftAcceptsTheRules()
    {
        var nft = HostProcess.Find("nft");
        Assert.True(nft is not null || !TestEnvironment.Strict, "nft is not installed (apt-get install nftables)");
        if (nft is null)
        {
            return;
        }
        var r = HostProcess.Run(nft, new[] { "-c", "-f", "-" }, input: HostFirewall.Script("vserver_check", new[] { Sample(), new HostFirewall.BridgeUse("vstx1", null, Array.Empty<HostFirewall.Port>()) }));
        Assert.True(r.ExitCode == 0, r.StandardError);
    }

    [Theory]
    [InlineData("8080:80", "8080:80/tcp")]
    [InlineData("192.0.2.2:2222:22/tcp", "192.0.2.2:2222:22/tcp")]
    [InlineData("53:53/UDP", "53:53/udp")]
    public void PublishedPortsParse(string spec, string shown) => Assert.Equal(shown, PortMapping.Parse(spec).ToString());

    [Theory]
    [InlineData("80")]
    [InlineData("0:80")]
    [InlineData("8080:70000")]
    [InlineData("8080:80/sctp")]
    [InlineData("host:8080:80")]
    [InlineData("fd00::1:8080:80")]
    public void BadPublishedPortsAreRefusedByValue(string spec)
    {
        var e = Assert.Throws<VServerException>(() => PortMapping.Parse(spec));
        Assert.Equal("InvalidPublish", e.ErrorId);
        Assert.Contains(spec, e.Message);
    }

    [Fact]
    public void ResolvConfComesFromTheGuestTheBridgeOrTheHostsReachableResolvers()
    {
        const string host = "search example.com\nnameserver 127.0.0.53\nnameserver 10.255.255.53\noptions edns0\n";
        var g = new GuestConfig("web");
        var (content, warning) = VServer.Build.GuestResolvConf.Decide(g, null, host);
        Assert.Null(warning);
        Assert.Equal(VServer.Build.GuestResolvConf.Header + "\nsearch example.com\nnameserver 10.255.255.53\n", content);

        var bridge = new Bridge("vsbr0") { DnsServers = { "10.200.0.1" } };
        Assert.EndsWith("\nnameserver 10.200.0.1\n", VServer.Build.GuestResolvConf.Decide(g, bridge, host).Content);
        g.DnsServers = new() { "9.9.9.9", "2620:fe::fe" };
        Assert.EndsWith("\nnameserver 9.9.9.9\nnameserver 2620:fe::fe\n", VServer.Build.GuestResolvConf.Decide(g, bridge, host).Content);
        g.DnsServers = new() { "none" };
        Assert.Equal((null, null), VServer.Build.GuestResolvConf.Decide(g, bridge, host));

        // only loopback resolvers on the host (systemd-resolved): nothing written, and said why
        var (none, why) = VServer.Build.GuestResolvConf.Decide(new GuestConfig("web"), null, "nameserver 127.0.0.53\n");
        Assert.Null(none);
        Assert.Contains("127.0.0.53", why);
        Assert.Contains("loopback", why);
    }

    [Theory]
    [InlineData("bogus")]
    [InlineData("none,9.9.9.9")]
    public void BadDnsServersAreRefusedByValue(string list)
    {
        var e = Assert.Throws<VServerException>(() => new GuestSettings { DnsServer = list.Split(',') }.ApplyTo(new GuestConfig("web")));
        Assert.Equal("InvalidDnsServer", e.ErrorId);
    }

    [Fact]
    public void MacAddressesAreLocalStableAndPerInstallation()
    {
        var a = new VServerPaths("/etc/vservers", "/vservers", "/run/vservers");
        var b = new VServerPaths("/tmp/x/etc", "/tmp/x/vdir", "/tmp/x/run");
        var mac = GuestNetwork.MacOf(a, "web", 0);
        Assert.Matches("^02(:[0-9a-f]{2}){5}$", mac);
        Assert.Equal(mac, GuestNetwork.MacOf(a, "web", 0));
        Assert.NotEqual(mac, GuestNetwork.MacOf(a, "web", 1));
        Assert.NotEqual(mac, GuestNetwork.MacOf(b, "web", 0));
    }
}
