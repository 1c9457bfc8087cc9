using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// "The internet" for the networking tests: a network namespace joined to the host by a veth
/// (the host's end 198.18.N.1, routed directly), with a busybox httpd whose CGI prints the client
/// address it sees. Removed on dispose.
/// </summary>
internal sealed class Upstream : IDisposable
{
    private readonly Process _httpd;

    public Upstream()
    {
        Octet = Random.Shared.Next(1, 250);
        Name = "vsup" + Guid.NewGuid().ToString("N")[..6];
        HostLink = "vuh" + Guid.NewGuid().ToString("N")[..6];
        Dir = Path.Combine(Path.GetTempPath(), Name);
        Directory.CreateDirectory(Path.Combine(Dir, "cgi-bin"));
        File.WriteAllText(Path.Combine(Dir, "cgi-bin", "ip"), "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n");
        File.SetUnixFileMode(Path.Combine(Dir, "cgi-bin", "ip"), (UnixFileMode)0x1ED);
        Ip.Run("netns", "add", Name);
        Ip.Run("link", "add", HostLink, "type", "veth", "peer", "name", "eth0", "netns", Name);
        Ip.Run("addr", "add", $"{HostAddress}/24", "dev", HostLink);
        Ip.Run("link", "set", HostLink, "up");
        Ip.Run("-n", Name, "addr", "add", $"{Address}/24", "dev", "eth0");
        Ip.Run("-n", Name, "link", "set", "eth0", "up");
        Ip.Run("-n", Name, "link", "set", "lo", "up");
        _httpd = Process.Start(new ProcessStartInfo("ip", new[] { "netns", "exec", Name, TestEnvironment.BusyboxPath!, "httpd", "-f", "-p", "9000", "-h", Dir }) { UseShellExecute = false })!;
        TestEnvironment.WaitFor(() => HostProcess.Run("ip", new[] { "netns", "exec", Name, TestEnvironment.BusyboxPath!, "netstat", "-ltn" }).StandardOutput.Contains(":9000", StringComparison.Ordinal), 5);
    }

    public int Octet { get; }
    public string Name { get; }
    public string HostLink { get; }
    public string Dir { get; }
    public string Address => $"198.18.{Octet}.2";
    public string HostAddress => $"198.18.{Octet}.1";

    /// <summary>What the upstream server says the client's address was, fetched from inside a guest.</summary>
    public (int Code, string Seen) FetchFrom(LiveGuest g)
    {
        // (this busybox wget crashes with -T, -q or -O -: no timeout flag, saved by hand, then printed)
        var r = g.Exec("/bin/sh", "-c", $"timeout 5 wget -O /tmp/ip http://{Address}:9000/cgi-bin/ip 2>/dev/null && cat /tmp/ip");
        // httpd writes the client as [::ffff:a.b.c.d]
        return (r.Code, r.Out.Trim().Trim('[', ']').Replace("::ffff:", "", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        try
        {
            _httpd.Kill();
            _httpd.WaitForExit(3000);
        }
        catch (InvalidOperationException)
        {
        }
        Ip.TryRun("netns", "delete", Name);
        Ip.TryRun("link", "delete", HostLink);
        Directory.Delete(Dir, recursive: true);
    }
}

/// <summary>
/// Hosting networks: a bridge that is the guests' gateway with NAT out, the host's services
/// shielded from its guests, no spoofing of another guest's address or of a MAC, and rules that
/// follow the guests through starts, crashes and stops. Each attack runs first against a host made
/// weak on purpose (no VServer rules), where it must succeed, then against the default.
/// </summary>
[Collection("guests")]
public class HostNetworkTests
{
    private static string Subnet() => $"10.214.{Random.Shared.Next(1, 250)}";

    private static string NewBridge() => "vsh" + Guid.NewGuid().ToString("N")[..6];

    private static Action<GuestConfig> On(string bridge, string address, params string[] caps) => c =>
    {
        c.Interfaces.Add(InterfaceSpec.Parse($"eth0:{address}/24"));
        c.Bridge = bridge;
        c.Capabilities.AddRange(caps);
    };

    private static void Cleanup(TempRoots roots, string bridge)
    {
        var store = new GuestStore(roots.Paths);
        try
        {
            BridgeManager.Remove(store, bridge);
        }
        catch (VServerException)
        {
            Ip.TryRun("link", "delete", bridge);
        }
    }

    private static bool Tables(VServerPaths paths) => HostFirewall.TablesExist(paths);

    /// <remarks>
    /// A guest with loopback alone (no interface: the default) has no part in the host's rules, so
    /// its start and stop leave them alone: no nft run, and no reading of every guest to rebuild
    /// them, which made each of 200 guests started at once pay for all the others under the network lock.
    /// </remarks>
    [GuestFact]
    public void ALoopbackOnlyGuestStartsAndStopsWithoutRebuildingTheHostsRules()
    {
        var net = Subnet();
        var bridge = NewBridge();
        using var roots = new TempRoots();
        var nft = HostProcess.Find("nft")!;
        var traced = new List<string>();
        var before = HostProcess.Trace;
        try
        {
            using var g = new LiveGuest(On(bridge, $"{net}.2"), start: false);
            new BridgeStore(g.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" }, Nat = true });
            g.Runtime.Start(g.Name);
            Assert.True(Tables(g.Roots.Paths));
            using var lo = new LiveGuest(start: false, sharing: g);
            Assert.Equal(NetworkMode.None, new GuestStore(lo.Roots.Paths).ReadConfig(lo.Name).EffectiveNetworkMode);
            HostProcess.Trace = line => { lock (traced) { traced.Add(line); } };
            lo.Runtime.Start(lo.Name);
            Assert.Equal("lo", lo.Sh("ls /sys/class/net").Trim()); // its own namespace, loopback alone
            lo.Runtime.Stop(lo.Name, TimeSpan.FromSeconds(3));
            lock (traced)
            {
                Assert.DoesNotContain(traced, l => l.StartsWith(nft, StringComparison.Ordinal));
            }
            Assert.True(Tables(g.Roots.Paths)); // the attached guest's rules stay
            // the attached guest's stop does rebuild them (the trace sees nft): the test can tell
            g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(3));
            lock (traced)
            {
                Assert.Contains(traced, l => l.StartsWith(nft, StringComparison.Ordinal));
            }
            Assert.False(Tables(g.Roots.Paths));
        }
        finally
        {
            HostProcess.Trace = before;
            Cleanup(roots, bridge);
        }
    }

    [GuestFact]
    public void ABridgeGuestReachesTheOutsideThroughNatAndTheRulesGoWithTheLastGuest()
    {
        var forwardBefore = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim();
        using var up = new Upstream();
        var net = Subnet();
        var bridge = NewBridge();
        using var roots = new TempRoots();
        var store = new GuestStore(roots.Paths);
        try
        {
            // weak: no NAT, a route back from upstream: upstream sees the guest's own address
            Ip.Run("-n", up.Name, "route", "add", $"{net}.0/24", "via", up.HostAddress);
            File.WriteAllText("/proc/sys/net/ipv4/ip_forward", "1\n");
            using (var weak = new LiveGuest(On(bridge, $"{net}.2"), start: false))
            {
                new BridgeStore(weak.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" } });
                weak.Runtime.Start(weak.Name);
                Assert.Contains($"default via {net}.1", weak.Sh("ip route"));
                var (code, seen) = up.FetchFrom(weak);
                Assert.True(code == 0, "the guest could not reach upstream at all");
                Assert.Equal($"{net}.2", seen);
            }
            File.WriteAllText("/proc/sys/net/ipv4/ip_forward", forwardBefore + "\n");
            Ip.Run("-n", up.Name, "route", "del", $"{net}.0/24");

            // default: NAT on, no route back needed; upstream sees the host
            using (var g = new LiveGuest(On(bridge, $"{net}.2"), start: false))
            {
                new BridgeStore(g.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" }, Nat = true });
                g.Runtime.Start(g.Name);
                Assert.True(Tables(g.Roots.Paths));
                Assert.Equal("1", File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());
                var (code, seen) = up.FetchFrom(g);
                Assert.True(code == 0, "the guest could not reach upstream through NAT");
                Assert.Equal(up.HostAddress, seen);
                g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(3));
                Assert.False(Tables(g.Roots.Paths)); // the last guest took the rules with it
                Assert.Equal(forwardBefore, File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());
            }
        }
        finally
        {
            File.WriteAllText("/proc/sys/net/ipv4/ip_forward", forwardBefore + "\n");
            Cleanup(roots, bridge);
        }
    }

    /// <summary>A listener on every address of the host, IPv4 and IPv6: what counts is whether a guest's connection arrives.</summary>
    private sealed class Canary : IDisposable
    {
        private readonly TcpListener _listener;
        private int _hits;

        public Canary()
        {
            _listener = new TcpListener(IPAddress.IPv6Any, 0);
            _listener.Server.DualMode = true;
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(async () =>
            {
                while (true)
                {
                    try
                    {
                        using var c = await _listener.AcceptTcpClientAsync();
                        Interlocked.Increment(ref _hits);
                    }
                    catch (Exception)
                    {
                        return;
                    }
                }
            });
        }

        public int Port { get; }
        public int Hits => Volatile.Read(ref _hits);

        public void Dispose() => _listener.Stop();
    }

    /// <summary>The host's addresses a guest could aim at: the bridge's, its IPv6 link-local (with the guest's interface as scope), the host's other IPv4 ones.</summary>
    private static IEnumerable<string> HostTargets(string bridge, string net)
    {
        yield return $"{net}.1";
        var ll = Ip.Run("-6", "-o", "addr", "show", "dev", bridge, "scope", "link").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .SkipWhile(w => w != "inet6").Skip(1).FirstOrDefault();
        if (ll is not null)
        {
            yield return ll.Split('/')[0] + "%eth0";
        }
        foreach (var line in Ip.Run("-4", "-o", "addr", "show", "scope", "global").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var w = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var addr = w[Array.IndexOf(w, "inet") + 1].Split('/')[0];
            if (w[1] != bridge && !addr.StartsWith("10.214.", StringComparison.Ordinal))
            {
                yield return addr;
            }
        }
    }

    /// <summary>Waits until the guest's IPv6 link-local address has passed duplicate address detection.</summary>
    private static void Ipv6Ready(LiveGuest g) =>
        Assert.True(LiveGuest.WaitFor(() => g.Exec("/bin/sh", "-c", "ip -6 addr show dev eth0 scope link").Out is var o && o.Contains("fe80", StringComparison.Ordinal) && !o.Contains("tentative", StringComparison.Ordinal), 10), "the guest's IPv6 link-local address did not come up");

    private static bool Reaches(LiveGuest g, Canary canary, string target)
    {
        var before = canary.Hits;
        g.Exec("/bin/sh", "-c", $"echo x | nc -w 2 {target} {canary.Port.ToString(CultureInfo.InvariantCulture)}");
        return LiveGuest.WaitFor(() => canary.Hits > before, 1);
    }

    [GuestFact]
    public void TheHostsServicesAreShieldedFromItsGuests()
    {
        var net = Subnet();
        var bridge = NewBridge();
        using var canary = new Canary();
        using var roots = new TempRoots();
        try
        {
            List<string> targets;
            TestSeams.SkipHostFirewall = true; // weak: no VServer rules at all
            try
            {
                using var weak = new LiveGuest(On(bridge, $"{net}.2"), start: false);
                new BridgeStore(weak.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" } });
                weak.Runtime.Start(weak.Name);
                Ipv6Ready(weak);
                targets = HostTargets(bridge, net).ToList();
                foreach (var t in targets)
                {
                    Assert.True(LiveGuest.WaitFor(() => Reaches(weak, canary, t), 5), $"the weak guest did not reach the host's canary at {t}: the test could not see a leak");
                }
            }
            finally
            {
                TestSeams.SkipHostFirewall = false;
            }

            using var g = new LiveGuest(On(bridge, $"{net}.2"), start: false);
            new BridgeStore(g.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" } });
            g.Runtime.Start(g.Name);
            Ipv6Ready(g);
            foreach (var t in targets)
            {
                Assert.False(Reaches(g, canary, t), $"a guest reached the host's service at {t}");
            }
            // the host still reaches the guest, and the replies come back
            g.Sh("mkdir -p /www && echo hi > /www/index.html && httpd -p 8080 -h /www");
            Assert.True(LiveGuest.WaitFor(() =>
            {
                try
                {
                    using var c = new TcpClient();
                    c.Connect(IPAddress.Parse($"{net}.2"), 8080);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            }, 5), "the host could not reach the guest's httpd");
        }
        finally
        {
            Cleanup(roots, bridge);
        }
    }

    internal static long InEchos(LiveGuest g)
    {
        var lines = g.Sh("grep '^Icmp:' /proc/net/snmp").Split('\n');
        var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(values[Array.IndexOf(names, "InEchos")], CultureInfo.InvariantCulture);
    }

    /// <summary>Pings from the attacker as told; whether any echo request reached the victim.</summary>
    internal static bool Arrives(LiveGuest attacker, LiveGuest victim, string ping)
    {
        var before = InEchos(victim);
        attacker.Exec("/bin/sh", "-c", ping);
        return InEchos(victim) > before;
    }

    [GuestFact]
    public void AGuestWithNetAdminCannotTakeAnotherGuestsAddressOrForgeItsMac()
    {
        var net = Subnet();
        var bridge = NewBridge();
        using var roots = new TempRoots();
        var attack = $"ip addr add {net}.4/24 dev eth0; ping -c 2 -W 1 -I {net}.4 {net}.3";
        var forgedMac = $"ip link set dev eth0 address 02:00:00:00:00:99; ping -c 2 -W 1 {net}.3";
        try
        {
            foreach (var weakHost in new[] { true, false })
            {
                TestSeams.SkipHostFirewall = weakHost;
                try
                {
                    using var a = new LiveGuest(On(bridge, $"{net}.2", "NET_ADMIN", "NET_RAW"), start: false);
                    using var victim = new LiveGuest(On(bridge, $"{net}.3"), start: false, sharing: a);
                    using var owner = new LiveGuest(On(bridge, $"{net}.4"), start: false, sharing: a); // the address taken
                    a.Runtime.Start(a.Name);
                    victim.Runtime.Start(victim.Name);
                    owner.Runtime.Start(owner.Name);
                    Assert.True(Arrives(a, victim, $"ping -c 2 -W 1 {net}.3"), "an honest ping did not arrive");
                    Assert.Equal(weakHost, Arrives(a, victim, attack));
                    a.Sh($"ip addr del {net}.4/24 dev eth0");
                    Assert.Equal(weakHost, Arrives(a, victim, forgedMac));
                }
                finally
                {
                    TestSeams.SkipHostFirewall = false;
                }
            }
        }
        finally
        {
            Cleanup(roots, bridge);
        }
    }

    [GuestFact]
    public void APublishedPortReachesTheGuestFromOutsideAndFromTheHostAndIsHeldOnce()
    {
        using var client = new Upstream(); // a client network, joined to the host
        var net = Subnet();
        var bridge = NewBridge();
        var port = Random.Shared.Next(20000, 30000);
        using var roots = new TempRoots();
        try
        {
            using var g = new LiveGuest(c => { On(bridge, $"{net}.2")(c); c.Publish.Add(PortMapping.Parse($"{port}:80")); }, start: false);
            new BridgeStore(g.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" }, Nat = true });
            g.Runtime.Start(g.Name);
            g.Sh("mkdir -p /www && echo published > /www/index.html && httpd -p 80 -h /www");
            Assert.Equal(new[] { $"{port}:80/tcp" }, GuestNetwork.Interfaces(g.Roots.Paths, g.Store.ReadConfig(g.Name)).Single(i => i.Name == "eth0").Published);
            string? page = null;
            Assert.True(LiveGuest.WaitFor(() =>
            {
                var file = Path.Combine(client.Dir, "page");
                var r = HostProcess.Run("timeout", new[] { "5", "ip", "netns", "exec", client.Name, TestEnvironment.BusyboxPath!, "wget", "-O", file, $"http://{client.HostAddress}:{port}/index.html" });
                page = File.Exists(file) ? File.ReadAllText(file).Trim() : null;
                return r.ExitCode == 0;
            }, 10), "the client could not reach the published port");
            Assert.Equal("published", page);
            // from the host itself, by one of its addresses
            using (var tcp = new TcpClient())
            {
                tcp.Connect(IPAddress.Parse(client.HostAddress), port);
                tcp.GetStream().Write("GET /index.html HTTP/1.0\r\n\r\n"u8);
                using var reader = new StreamReader(tcp.GetStream());
                Assert.Contains("published", reader.ReadToEnd());
            }
            // a second guest with the same host port: refused, naming the first; nothing of it left
            using var other = new LiveGuest(c => { On(bridge, $"{net}.3")(c); c.Publish.Add(PortMapping.Parse($"{port}:8080")); }, start: false, sharing: g);
            var e = Assert.Throws<VServerException>(() => other.Runtime.Start(other.Name));
            Assert.Equal("PortInUse", e.ErrorId);
            Assert.Contains(g.Name, e.Message);
            Assert.False(File.Exists(other.Netns));
            g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(3));
            Assert.False(HostFirewall.TablesExist(g.Roots.Paths));
        }
        finally
        {
            Cleanup(roots, bridge);
        }
    }

    /// <summary>
    /// The attack: the guest makes its /etc/resolv.conf a symlink to a host file, for the host to
    /// write through at the next start. A host that writes by host path (weak on purpose) overwrites
    /// the host file; the default replaces the link inside the guest and leaves the host file alone.
    /// </summary>
    [GuestFact]
    public void AGuestsResolvConfSymlinkDoesNotLeadTheHostsWriteOut()
    {
        var net = Subnet();
        var bridge = NewBridge();
        using var roots = new TempRoots();
        var canary = Path.Combine(roots.Base, "host-file");
        try
        {
            foreach (var weak in new[] { true, false })
            {
                File.WriteAllText(canary, "host data\n");
                using var g = new LiveGuest(On(bridge, $"{net}.2"), start: false);
                new BridgeStore(g.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" }, DnsServers = { "192.0.2.53" } });
                g.Runtime.Start(g.Name);
                g.Sh($"rm -f /etc/resolv.conf && ln -s {canary} /etc/resolv.conf");
                g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(3));
                TestSeams.NaiveGuestWrites = weak;
                try
                {
                    g.Runtime.Start(g.Name);
                }
                finally
                {
                    TestSeams.NaiveGuestWrites = false;
                }
                if (weak)
                {
                    Assert.Contains("nameserver 192.0.2.53", File.ReadAllText(canary)); // the test can see the escape
                    continue;
                }
                Assert.Equal("host data\n", File.ReadAllText(canary));
                Assert.Equal("", g.Sh("test -L /etc/resolv.conf && echo link || true"));
                Assert.Contains("nameserver 192.0.2.53", g.Sh("cat /etc/resolv.conf"));

                // -DnsServer None: the guest's own file stays as it is
                g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(3));
                g.Store.Update(g.Name, new GuestSettings { DnsServer = new[] { "None" } });
                g.Runtime.Start(g.Name);
                g.Sh("echo 'nameserver 10.9.9.9' > /etc/resolv.conf");
                g.Runtime.Restart(g.Name, TimeSpan.FromSeconds(3));
                Assert.Equal("nameserver 10.9.9.9", g.Sh("cat /etc/resolv.conf").Trim());
            }
        }
        finally
        {
            TestSeams.NaiveGuestWrites = false;
            Cleanup(roots, bridge);
        }
    }

    [GuestFact]
    public void AMacvlanGuestIsOnTheHostsLanWithItsOwnMac()
    {
        // a veth end stands for the host's NIC; the LAN is a namespace behind it
        var lan = "vslan" + Guid.NewGuid().ToString("N")[..6];
        var nic = "vnic" + Guid.NewGuid().ToString("N")[..6];
        var net = $"10.216.{Random.Shared.Next(1, 250)}";
        Ip.Run("netns", "add", lan);
        try
        {
            Ip.Run("link", "add", nic, "type", "veth", "peer", "name", "eth0", "netns", lan);
            Ip.Run("link", "set", nic, "up");
            Ip.Run("-n", lan, "addr", "add", $"{net}.1/24", "dev", "eth0");
            Ip.Run("-n", lan, "link", "set", "eth0", "up");
            // (busybox's ping needs a raw socket)
            using var g = new LiveGuest(c => { c.Interfaces.Add(InterfaceSpec.Parse($"{nic}:{net}.2/24")); c.Capabilities.Add("NET_RAW"); }, start: false, configureAfter: c => c.NetworkMode = NetworkMode.Macvlan);
            g.Runtime.Start(g.Name);
            Assert.Contains($"inet {net}.2/24", g.Sh("ip addr show eth0"));
            Assert.Contains(GuestNetwork.MacOf(g.Roots.Paths, g.Name, 0), g.Sh("cat /sys/class/net/eth0/address"));
            Assert.True(LiveGuest.WaitFor(() => g.Exec("ping", "-c", "1", "-W", "1", $"{net}.1").Code == 0, 10), "the macvlan guest did not reach its LAN peer");
            var eth0 = GuestNetwork.Interfaces(g.Roots.Paths, g.Store.ReadConfig(g.Name)).Single(i => i.Name == "eth0");
            Assert.Equal((NetworkMode.Macvlan, nic), (eth0.Mode, eth0.HostName));
            g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(3));
            Assert.False(File.Exists(g.Netns));
        }
        finally
        {
            Ip.TryRun("netns", "delete", lan);
            Ip.TryRun("link", "delete", nic);
        }
    }

    [GuestFact]
    public void AnIsolatedBridgeKeepsItsGuestsApartButNotFromTheOutside()
    {
        using var up = new Upstream();
        var net = Subnet();
        var bridge = NewBridge();
        using var roots = new TempRoots();
        try
        {
            foreach (var isolated in new[] { false, true })
            {
                using var a = new LiveGuest(On(bridge, $"{net}.2", "NET_RAW"), start: false); // (busybox's ping needs a raw socket)
                using var b = new LiveGuest(On(bridge, $"{net}.3"), start: false, sharing: a);
                new BridgeStore(a.Roots.Paths).Write(new Bridge(bridge) { Addresses = { $"{net}.1/24" }, Nat = true, Isolated = isolated });
                a.Runtime.Start(a.Name);
                b.Runtime.Start(b.Name);
                var talk = LiveGuest.WaitFor(() => a.Exec("ping", "-c", "1", "-W", "1", $"{net}.3").Code == 0, isolated ? 3 : 10);
                Assert.Equal(!isolated, talk);
                Assert.Equal(0, up.FetchFrom(b).Code); // the way out stays open
            }
        }
        finally
        {
            Cleanup(roots, bridge);
        }
    }

    private static int PortChains(VServerPaths paths)
    {
        var nft = HostProcess.Find("nft")!;
        var r = HostProcess.Run(nft, new[] { "list", "table", "bridge", HostFirewall.TableOf(paths) });
        return r.ExitCode != 0 ? 0 : r.StandardOutput.Split('\n').Count(l => l.TrimStart().StartsWith("chain port_", StringComparison.Ordinal));
    }

    [GuestFact]
    public void TheRulesFollowTheGuestsThroughCrashesAndRestarts()
    {
        var net = Subnet();
        var bridge = NewBridge();
        using var roots = new TempRoots();
        try
        {
            using var a = new LiveGuest(On(bridge, $"{net}.2"));
            using var b = new LiveGuest(On(bridge, $"{net}.3"), sharing: a);
            Assert.Equal(2, PortChains(a.Roots.Paths));
            // a bridge with running guests is not removed
            var inUse = Assert.Throws<VServerException>(() => BridgeManager.Remove(a.Store, bridge));
            Assert.Equal("BridgeInUse", inUse.ErrorId);
            Assert.Contains(a.Name, inUse.Message);
            Assert.True(Directory.Exists("/sys/class/net/" + bridge));
            // a crash of b's init: its exit hook takes its rules
            Process.Start("kill", new[] { "-9", b.State.InitPid.ToString(CultureInfo.InvariantCulture) })!.WaitForExit();
            Assert.True(LiveGuest.WaitFor(() => PortChains(a.Roots.Paths) == 1, 15), "the crashed guest's rules stayed");
            b.Runtime.Start(b.Name);
            Assert.Equal(2, PortChains(a.Roots.Paths));
            // its monitor killed: stop and start again, still one set each
            Process.Start("kill", new[] { "-9", b.State.ConmonPid.ToString(CultureInfo.InvariantCulture) })!.WaitForExit();
            b.Runtime.Stop(b.Name, TimeSpan.FromSeconds(3));
            Assert.Equal(1, PortChains(a.Roots.Paths));
            b.Runtime.Start(b.Name);
            a.Runtime.Restart(a.Name, TimeSpan.FromSeconds(3));
            Assert.Equal(2, PortChains(a.Roots.Paths));
            b.Runtime.Stop(b.Name, TimeSpan.FromSeconds(3));
            a.Runtime.Stop(a.Name, TimeSpan.FromSeconds(3));
            Assert.Equal(0, PortChains(a.Roots.Paths));
            Assert.False(HostFirewall.TablesExist(a.Roots.Paths));
        }
        finally
        {
            Cleanup(roots, bridge);
        }
    }
}
