using System.Diagnostics;
using System.Net;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Guest networking: the ip commands (unit), and real namespaces, veths and bridges (root).</summary>
[Collection("guests")]
public class NetworkTests
{
    private static string Subnet() => $"10.213.{Random.Shared.Next(1, 250)}";

    private static string Bridge() => "vst" + Guid.NewGuid().ToString("N")[..6];

    private static string? Try(Action start)
    {
        try
        {
            start();
            return null;
        }
        catch (VServerException e)
        {
            return e.ErrorId;
        }
    }

    private static void DeleteBridge(string bridge) => Ip.TryRun("link", "delete", bridge);

    private static bool LinkExists(string name) => Directory.Exists("/sys/class/net/" + name);

    private static string HostLink(LiveGuest g) => GuestNetwork.HostLinkName(g.Roots.Paths, g.Name, 0);

    private static readonly VServerPaths Default = new(VServerPaths.DefaultConfigRoot, VServerPaths.DefaultVdirRoot, VServerPaths.DefaultRunRoot);

    private static string[] DeviceNames(string procNetDev) =>
        procNetDev.Split('\n').Skip(2).Select(l => l.Split(':')[0].Trim()).Where(n => n.Length > 0).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void BridgeAndIpvlanCommandsAreArgumentLists()
    {
        var c = new GuestConfig("web1") { Context = 40007, Bridge = "br9" };
        c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.9.0.2/24"));
        c.Interfaces.Add(InterfaceSpec.Parse("eth0:fd00::2/64"));
        c.Interfaces.Add(InterfaceSpec.Parse("db=10.8.0.2/16"));
        Assert.Equal(NetworkMode.Bridge, c.EffectiveNetworkMode);
        var cmds = GuestNetwork.Commands(Default, c, new Dictionary<string, IPAddress[]> { ["br9"] = new[] { IPAddress.Parse("10.9.0.1"), IPAddress.Parse("192.0.2.1") } })
            .Select(a => string.Join(' ', a)).ToList();
        Assert.Equal(new[]
        {
            $"link add vsfa24652b.0 type veth peer name eth0 address {GuestNetwork.MacOf(Default, "web1", 0)} netns vs-web1",
            "link set vsfa24652b.0 master br9 up",
            "-n vs-web1 addr add 10.9.0.2/24 dev eth0",
            "-n vs-web1 addr add fd00::2/64 dev eth0",
            "-n vs-web1 link set eth0 up",
            $"link add vsfa24652b.1 type veth peer name db address {GuestNetwork.MacOf(Default, "web1", 1)} netns vs-web1",
            "link set vsfa24652b.1 master br9 up",
            "-n vs-web1 addr add 10.8.0.2/16 dev db",
            "-n vs-web1 link set db up",
            "-n vs-web1 route add default via 10.9.0.1",
        }, cmds);

        // host link names are keyed by the guest's name (host-wide, like vs-NAME), never longer than 15
        Assert.NotEqual(GuestNetwork.HostLinkName(Default, "web1", 0), GuestNetwork.HostLinkName(Default, "web2", 0));
        Assert.Equal(12, GuestNetwork.HostLinkName(Default, "a-guest-name-of-forty-characters-or-so", 9).Length); // vs + 8 hex + .9

        c.NetworkMode = NetworkMode.IPvlan;
        Assert.Equal(new[]
        {
            "link add link eth0 name vsfa24652b.0 type ipvlan mode l2",
            "link set vsfa24652b.0 netns vs-web1",
            "-n vs-web1 link set vsfa24652b.0 name eth0",
            "-n vs-web1 addr add 10.9.0.2/24 dev eth0",
            "-n vs-web1 addr add fd00::2/64 dev eth0",
            "-n vs-web1 link set eth0 up",
        }, GuestNetwork.Commands(Default, c).Take(6).Select(a => string.Join(' ', a)));

        c.NetworkMode = NetworkMode.None;
        Assert.Empty(GuestNetwork.Commands(Default, c)); // lo is up from the namespace's making
        Assert.Equal(NetworkMode.None, new GuestConfig("bare").EffectiveNetworkMode);
    }

    [RootFact]
    public void ANamespaceIsMadeAsIpNetnsMakesItAndABatchNamesItsFailingCommand()
    {
        var name = "vs-t" + Guid.NewGuid().ToString("N")[..8];
        var path = Path.Combine(GuestNetwork.NetnsDirectory, name);
        Native.Sys.NetnsAdd(GuestNetwork.NetnsDirectory, name);
        try
        {
            // iproute2 sees it, with its loopback up, and nothing else in it
            Assert.Contains(name, Ip.Run("netns", "list"));
            Assert.Contains("state UNKNOWN", Ip.Run("-n", name, "link", "show", "lo"));
            Assert.Contains("LOOPBACK,UP", Ip.Run("-n", name, "link", "show", "lo"));
            Assert.Single(Ip.Run("-n", name, "-o", "link", "show").Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal("open,EEXIST", Assert.ThrowsAny<VServerException>(() => Native.Sys.NetnsAdd(GuestNetwork.NetnsDirectory, name)).ErrorId);

            Ip.Batch(name, Array.Empty<string[]>()); // nothing to do: no process
            var e = Assert.Throws<VServerException>(() => Ip.Batch(name, new[]
            {
                new[] { "addr", "add", "127.0.0.2/8", "dev", "lo" },
                new[] { "link", "set", "nosuch0", "up" },
                new[] { "addr", "add", "127.0.0.3/8", "dev", "lo" },
            }));
            Assert.Equal("NetworkSetupFailed", e.ErrorId);
            Assert.Contains($"'ip -n {name} link set nosuch0 up' failed", e.Message);
            Assert.Contains("nosuch0", e.Message);
            Assert.Contains("127.0.0.2", Ip.Run("-n", name, "addr", "show", "lo")); // in order, and the first failure stops it
            Assert.DoesNotContain("127.0.0.3", Ip.Run("-n", name, "addr", "show", "lo"));
            Assert.Throws<VServerException>(() => Ip.Batch(name, new[] { new[] { "link", "set", "lo down; reboot" } }));
        }
        finally
        {
            Assert.True(Native.Sys.NetnsDelete(path));
        }
        Assert.DoesNotContain(name, Ip.Run("netns", "list"));
        Assert.False(File.Exists(path));
        Assert.DoesNotContain(path, File.ReadAllText("/proc/self/mountinfo"));
    }

    [Fact]
    public void HostWideNamesAreKeyedByInstallation()
    {
        // two installations (run roots) with a guest of the same name share no host-wide name
        var other = new VServerPaths("/srv/b/etc", "/srv/b/vservers", "/srv/b/run");
        var key = other.InstallationKey;
        Assert.Matches("^[0-9a-f]{8}$", key);
        Assert.Equal("", Default.InstallationKey);
        Assert.Equal(key, new VServerPaths("/x", "/y", "/srv/b/run").InstallationKey); // the run root decides
        Assert.NotEqual(key, new VServerPaths("/srv/b/etc", "/srv/b/vservers", "/srv/c/run").InstallationKey);

        Assert.Equal("vs-web1", GuestNetwork.NamespaceOf(Default, "web1"));
        Assert.Equal($"vs-{key}-web1", GuestNetwork.NamespaceOf(other, "web1"));
        Assert.Equal("/run/netns/vs-" + key + "-web1", GuestNetwork.NamespacePath(other, "web1"));
        Assert.Equal("/vserver/web1", Cgroups.PathFor(Default, "web1"));
        Assert.Equal($"/vserver.{key}/web1", Cgroups.PathFor(other, "web1"));
        Assert.Equal("vsfa24652b.0", GuestNetwork.HostLinkName(Default, "web1", 0));
        Assert.NotEqual(GuestNetwork.HostLinkName(Default, "web1", 0), GuestNetwork.HostLinkName(other, "web1", 0));
        Assert.True(Cgroups.IsUnderAnyInstallation($"/vserver.{key}/web1/payload"));
        Assert.False(Cgroups.IsUnderAnyInstallation("/vserverx/web1"));

        var c = new GuestConfig("web1") { Bridge = "br9" };
        c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.9.0.2/24"));
        Assert.Contains($"-n vs-{key}-web1 addr add 10.9.0.2/24 dev eth0", GuestNetwork.Commands(other, c).Select(a => string.Join(' ', a)));
    }

    [Fact]
    public void NetworkSettingsRoundTripAndBadValuesAreRefused()
    {
        using var roots = new TempRoots();
        var c = new GuestConfig("web1") { NetworkMode = NetworkMode.IPvlan, Bridge = "br0" };
        ConfigDirectory.Write(roots.Paths.ConfigDir("web1"), c, "/vservers/web1");
        Assert.Equal("ipvlan\n", File.ReadAllText(Path.Combine(roots.Paths.ConfigDir("web1"), "netmode")));
        var back = ConfigDirectory.Read(roots.Paths.ConfigDir("web1"), "web1", roots.Paths);
        Assert.Equal((NetworkMode.IPvlan, "br0"), (back.NetworkMode!.Value, back.Bridge));
        File.WriteAllText(Path.Combine(roots.Paths.ConfigDir("web1"), "netmode"), "tunnel\n");
        Assert.Equal("InvalidConfiguration", Assert.Throws<VServerException>(() => ConfigDirectory.Read(roots.Paths.ConfigDir("web1"), "web1", roots.Paths)).ErrorId);
        var e = Assert.Throws<VServerException>(() => new GuestSettings { Bridge = "no spaces" }.ApplyTo(c));
        Assert.Equal("InvalidBridge", e.ErrorId);
        Assert.Equal("br0", c.Bridge);
    }

    [GuestFact]
    public void BridgeGuestsTalkAndTheirNetworkGoesWithThem()
    {
        var net = Subnet();
        var bridge = Bridge();
        try
        {
            using var a = new LiveGuest(c => { c.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.2/24")); c.Bridge = bridge; });
            using var b = new LiveGuest(c => { c.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.3/24")); c.Bridge = bridge; }, sharing: a);
            Assert.True(LinkExists(bridge));
            Assert.True(File.Exists(a.Netns));
            Assert.Equal(bridge, Path.GetFileName(new DirectoryInfo($"/sys/class/net/{HostLink(a)}/master").LinkTarget));
            Assert.Contains($"inet {net}.2/24", a.Sh("ip addr show eth0"));

            // a small HTTP request from b to a's busybox httpd
            a.Sh("mkdir -p /www && echo hello-from-a > /www/index.html && httpd -p 8080 -h /www");
            string? page = null, why = null;
            Assert.True(LiveGuest.WaitFor(() =>
            {
                // (this busybox wget crashes with -q or -O -: save quietly by hand, then print)
                var (code, output, err) = b.Exec("/bin/sh", "-c", $"wget -O /tmp/page http://{net}.2:8080/index.html 2>/dev/null && cat /tmp/page");
                (page, why) = (output, $"exit {code}: {err}");
                return code == 0;
            }, 10), "b could not fetch a's page: " + why + " / a listens: " + a.Sh("netstat -ltn"));
            Assert.Equal("hello-from-a", page);
            var eth0 = GuestNetwork.Interfaces(a.Roots.Paths, a.Store.ReadConfig(a.Name)).Single(i => i.Name == "eth0");
            Assert.Equal((HostLink(a), NetworkMode.Bridge), (eth0.HostName, eth0.Mode));
            Assert.Contains($"{net}.2/24", eth0.Addresses);
            Assert.True(eth0.RxBytes > 0 && eth0.TxBytes > 0 && eth0.RxPackets > 0);

            // a stop removes the namespace and the veth
            var bLink = HostLink(b);
            b.Runtime.Stop(b.Name, TimeSpan.FromSeconds(3));
            Assert.False(File.Exists(b.Netns));
            Assert.False(LinkExists(bLink));

            // so does a crash: init killed, the exit hook cleans up
            var aLink = HostLink(a);
            Process.Start("kill", new[] { "-9", a.State.InitPid.ToString(System.Globalization.CultureInfo.InvariantCulture) })!.WaitForExit();
            Assert.True(LiveGuest.WaitFor(() => !File.Exists(a.Netns) && !LinkExists(aLink), 15), "the crashed guest's network is still there");
        }
        finally
        {
            DeleteBridge(bridge);
        }
    }

    [GuestFact]
    public void HostModeSeesTheHostAndNoneOnlyLoopback()
    {
        using var host = new LiveGuest(c => c.NetworkMode = NetworkMode.Host);
        using var none = new LiveGuest(c => c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.213.0.9/24")), sharing: host, configureAfter: c => c.NetworkMode = NetworkMode.None);
        using var plain = new LiveGuest(sharing: host);
        Assert.Equal(DeviceNames(File.ReadAllText("/proc/net/dev")), DeviceNames(host.Sh("cat /proc/net/dev")));
        Assert.False(File.Exists(host.Netns));
        Assert.Equal(new[] { "lo" }, DeviceNames(none.Sh("cat /proc/net/dev")));
        Assert.Equal(new[] { "lo" }, DeviceNames(plain.Sh("cat /proc/net/dev")));
        Assert.Contains("127.0.0.1", plain.Sh("ip addr show lo"));
    }

    [GuestFact]
    public void ConflictsAreRefusedBeforeAnythingChanges()
    {
        var net = Subnet();
        var bridge = Bridge();
        try
        {
            using var a = new LiveGuest(c => { c.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.2/24")); c.Bridge = bridge; });
            using var b = new LiveGuest(c => { c.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.2/24")); c.Bridge = bridge; }, start: false, sharing: a);
            var e = Assert.Throws<VServerException>(() => b.Runtime.Start(b.Name));
            Assert.Equal("AddressInUse", e.ErrorId);
            Assert.Contains($"{net}.2", e.Message);
            Assert.Contains(a.Name, e.Message);
            Assert.Equal(GuestState.Stopped, b.Runtime.Status(b.Name).State);
            Assert.False(File.Exists(b.Netns));
            Assert.False(LinkExists(HostLink(b)));

            // two guests with one address started at the same moment: exactly one runs
            using var d = new LiveGuest(x => { x.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.4/24")); x.Bridge = bridge; }, start: false, sharing: a);
            using var e2 = new LiveGuest(x => { x.Interfaces.Add(InterfaceSpec.Parse($"eth0:{net}.4/24")); x.Bridge = bridge; }, start: false, sharing: a);
            var outcomes = new string?[2];
            Parallel.Invoke(
                () => outcomes[0] = Try(() => d.Runtime.Start(d.Name)),
                () => outcomes[1] = Try(() => e2.Runtime.Start(e2.Name)));
            Assert.Equal(new string?[] { null, "AddressInUse" }, outcomes.OrderBy(o => o, StringComparer.Ordinal));
            Assert.Equal(1, new[] { d, e2 }.Count(g => g.Runtime.Status(g.Name).State == GuestState.Running));

            using var c = new LiveGuest(x => { x.Interfaces.Add(InterfaceSpec.Parse($"vsnodev9:{net}.7/24")); x.NetworkMode = NetworkMode.IPvlan; }, start: false, sharing: a);
            e = Assert.Throws<VServerException>(() => c.Runtime.Start(c.Name));
            Assert.Equal("HostDeviceNotFound", e.ErrorId);
            Assert.Contains("vsnodev9", e.Message);
            Assert.False(File.Exists(c.Netns));
            Assert.Equal(GuestState.Running, a.Runtime.Status(a.Name).State);
        }
        finally
        {
            DeleteBridge(bridge);
        }
    }
}
