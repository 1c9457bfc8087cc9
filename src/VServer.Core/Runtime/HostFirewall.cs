using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// VServer's own nftables tables (<c>inet vserver</c> and <c>bridge vserver</c>; <c>vserver_KEY</c>
/// for another installation), made whole from the bridges' configuration and the guests attached
/// now — so they are the same after any sequence of starts, stops and crashes, and gone when no
/// guest is attached:
/// <list type="bullet">
/// <item>the host's services are shielded: whatever a guest sends to any address of the host
/// (the bridge's, its IPv6 link-local, the host's others) is dropped, except replies, neighbour
/// discovery and DNS to a bridge address named as the bridge's DNS server;</item>
/// <item>NAT out: traffic from a NAT bridge's subnets leaving by another interface is masqueraded
/// (and IPv4 forwarding is switched on while needed, and put back as it was after);</item>
/// <item>no spoofing: each guest port of a bridge passes only frames from the guest's own MAC and
/// packets from its configured addresses (IPv6 link-local too).</item>
/// </list>
/// nft reads the rules from standard input as one transaction (never a shell string).
/// </summary>
public static class HostFirewall
{
    /// <summary>One guest interface on a bridge: its host-side port, MAC and addresses, and the host ports published to it.</summary>
    public sealed record Port(string Guest, string HostLink, string Mac, IReadOnlyList<IPAddress> Addresses)
    {
        public IReadOnlyList<PortMapping> Published { get; init; } = Array.Empty<PortMapping>();
    }

    /// <summary>A bridge in use: its configuration (null: none, shielded only) and its guest ports.</summary>
    public sealed record BridgeUse(string Name, Bridge? Config, IReadOnlyList<Port> Ports);

    public static string TableOf(VServerPaths paths) => paths.InstallationKey.Length == 0 ? "vserver" : "vserver_" + paths.InstallationKey;

    private static string Ipv4ForwardFile => "/proc/sys/net/ipv4/ip_forward";

    private static string ForwardRecord(VServerPaths paths) => Path.Combine(paths.RunRoot, ".ip_forward.before");

    /// <summary>The nft script that replaces both tables (or only deletes them when nothing is attached). Pure: tests read it.</summary>
    public static string Script(string table, IReadOnlyList<BridgeUse> uses)
    {
        var sb = new StringBuilder();
        // "add" then "delete": removes the table whether or not it exists, in the same transaction
        sb.Append("add table inet ").Append(table).Append('\n');
        sb.Append("delete table inet ").Append(table).Append('\n');
        sb.Append("add table bridge ").Append(table).Append('\n');
        sb.Append("delete table bridge ").Append(table).Append('\n');
        if (uses.Count == 0)
        {
            return sb.ToString();
        }
        var names = string.Join(", ", uses.Select(u => Quote(u.Name)));
        sb.Append("table inet ").Append(table).Append(" {\n");
        sb.Append("  chain input {\n    type filter hook input priority -10; policy accept;\n");
        sb.Append("    iifname { ").Append(names).Append(" } jump guests_to_host\n  }\n");
        sb.Append("  chain guests_to_host {\n    ct state established,related accept\n");
        sb.Append("    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept\n");
        foreach (var u in uses.Where(u => u.Config is not null))
        {
            var own = u.Config!.Networks().Select(n => n.Address).ToList();
            foreach (var dns in u.Config.DnsServers.Select(IPAddress.Parse).Where(d => own.Any(o => o.Equals(d))))
            {
                sb.Append("    iifname ").Append(Quote(u.Name)).Append(dns.AddressFamily == AddressFamily.InterNetworkV6 ? " ip6 daddr " : " ip daddr ")
                  .Append(dns).Append(" meta l4proto { tcp, udp } th dport 53 accept\n");
            }
        }
        sb.Append("    drop\n  }\n");
        // published ports: to the guest's first IPv4 address, from outside (prerouting) and from the host itself (output)
        var dnat = new StringBuilder();
        foreach (var p in uses.SelectMany(u => u.Ports).Where(p => p.Published.Count > 0))
        {
            var target = p.Addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
            foreach (var m in target is null ? Array.Empty<PortMapping>() : p.Published)
            {
                dnat.Append("    ").Append(m.HostAddress is null ? "fib daddr type local" : "ip daddr " + m.HostAddress).Append(" ip daddr != 127.0.0.0/8 ")
                    .Append(m.Protocol).Append(" dport ").Append(m.HostPort.ToString(CultureInfo.InvariantCulture))
                    .Append(" dnat ip to ").Append(target).Append(':').Append(m.GuestPort.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        if (dnat.Length > 0)
        {
            sb.Append("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n").Append(dnat).Append("  }\n");
            sb.Append("  chain output {\n    type nat hook output priority -100; policy accept;\n").Append(dnat).Append("  }\n");
        }
        var nat = uses.Where(u => u.Config is { Nat: true }).ToList();
        if (nat.Count > 0)
        {
            sb.Append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
            foreach (var u in nat)
            {
                foreach (var (addr, prefix) in u.Config!.Networks())
                {
                    // not within the subnet: with br_netfilter, packets bridged between two guests pass this hook too
                    var (family, subnet) = (addr.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "ip", Bridge.NetworkOf(addr, prefix));
                    sb.Append("    ").Append(family).Append(" saddr ").Append(subnet).Append(' ').Append(family).Append(" daddr != ").Append(subnet)
                      .Append(" oifname != ").Append(Quote(u.Name)).Append(" masquerade\n");
                }
            }
            sb.Append("  }\n");
        }
        sb.Append("}\n");

        var ports = uses.SelectMany(u => u.Ports).ToList();
        sb.Append("table bridge ").Append(table).Append(" {\n");
        sb.Append("  chain prerouting {\n    type filter hook prerouting priority -300; policy accept;\n");
        foreach (var p in ports)
        {
            sb.Append("    iifname ").Append(Quote(p.HostLink)).Append(" jump ").Append(ChainOf(p)).Append('\n');
        }
        sb.Append("  }\n");
        foreach (var p in ports)
        {
            var v4 = p.Addresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork).ToList();
            var v6 = p.Addresses.Where(a => a.AddressFamily == AddressFamily.InterNetworkV6).ToList();
            sb.Append("  chain ").Append(ChainOf(p)).Append(" {\n");
            sb.Append("    ether saddr != ").Append(p.Mac).Append(" drop\n");
            sb.Append("    ether type arp arp saddr ether != ").Append(p.Mac).Append(" drop\n");
            if (v4.Count > 0)
            {
                sb.Append("    ether type arp arp saddr ip != { ").Append(string.Join(", ", v4)).Append(" } drop\n");
                sb.Append("    ether type ip ip saddr != { ").Append(string.Join(", ", v4)).Append(" } drop\n");
            }
            else
            {
                sb.Append("    ether type arp drop\n    ether type ip drop\n");
            }
            // IPv6: its addresses, its link-local ones, and the unspecified address of duplicate address detection
            sb.Append("    ether type ip6 ip6 saddr != { ::, fe80::/10").Append(string.Concat(v6.Select(a => ", " + a))).Append(" } drop\n");
            sb.Append("  }\n");
        }
        sb.Append("}\n");
        return sb.ToString();
    }

    private static string Quote(string name) => "\"" + name + "\"";

    private static string ChainOf(Port p) => "port_" + p.HostLink.Replace('.', '_').Replace('-', '_');

    /// <summary>The bridges in use now: every guest whose namespace exists (running or starting) in Bridge mode, by bridge, each with the network it runs with.</summary>
    public static IReadOnlyList<BridgeUse> Uses(GuestStore store)
    {
        var bridges = new BridgeStore(store.Paths);
        var byBridge = new SortedDictionary<string, List<Port>>(StringComparer.Ordinal);
        foreach (var name in store.ListNames().Where(n => File.Exists(GuestNetwork.NamespacePath(store.Paths, n))))
        {
            GuestConfig c;
            try
            {
                // a running guest's network as it runs: a change waiting for its next start moves nothing here
                c = LiveSettings.NetworkAsApplied(store.ReadConfig(name), new RunDirectory(store.Paths, name).ReadState());
            }
            catch (VServerException)
            {
                continue;
            }
            var links = GuestNetwork.Links(store.Paths, c);
            if (c.EffectiveNetworkMode != NetworkMode.Bridge || links.Count == 0)
            {
                continue; // loopback alone: nothing on a bridge to guard or forward (its start and stop leave the rules alone)
            }
            var bridge = c.Bridge ?? Bridge.DefaultName;
            if (!byBridge.TryGetValue(bridge, out var list))
            {
                byBridge[bridge] = list = new List<Port>();
            }
            var receiver = GuestNetwork.PublishTarget(links)?.Index;
            foreach (var l in links)
            {
                list.Add(new Port(name, l.HostName, GuestNetwork.MacOf(store.Paths, name, l.Index), l.Addresses.Select(a => a.Address).ToList())
                {
                    // the first interface with an IPv4 address receives the published ports
                    Published = l.Index == receiver ? c.Publish : Array.Empty<PortMapping>(),
                });
            }
        }
        return byBridge.Select(b => new BridgeUse(b.Key, bridges.Read(b.Key), b.Value)).ToList();
    }

    /// <summary>
    /// Makes the tables what the bridges and attached guests say now. The caller holds the
    /// network lock (<c>$RUN_ROOT/.network.lock</c>).
    /// </summary>
    public static void Apply(GuestStore store)
    {
        var uses = TestSeams.SkipHostFirewall ? Array.Empty<BridgeUse>() : Uses(store);
        var marker = TablesMarker(store.Paths);
        // no guest on a bridge and no tables made: nothing to do, and no nft process to ask (the
        // marker is written before any table is made and removed after they are deleted)
        if (uses.Count == 0 && !(File.Exists(marker) && TablesExist(store.Paths)))
        {
            if (File.Exists(marker))
            {
                File.Delete(marker);
            }
            RestoreForwarding(store.Paths);
            return;
        }
        var nft = HostProcess.Find("nft") ?? throw new VServerException("NftNotFound", ErrorKind.NotInstalled,
            "nftables (the nft command) is not installed (Debian package nftables): VServer needs it to shield the host from its guests and for NAT.", "nft");
        if (uses.Count > 0)
        {
            Directory.CreateDirectory(store.Paths.RunRoot);
            File.WriteAllText(marker, TableOf(store.Paths) + "\n");
        }
        var r = HostProcess.Run(nft, new[] { "-f", "-" }, input: Script(TableOf(store.Paths), uses));
        if (r.ExitCode != 0)
        {
            throw new VServerException("FirewallFailed", ErrorKind.InvalidOperation,
                $"nft refused VServer's rules: {OciRuntime.FirstLine(r.StandardError, "exit code " + r.ExitCode)}", TableOf(store.Paths));
        }
        if (uses.Count == 0)
        {
            File.Delete(marker);
        }
        if (uses.Any(u => u.Config is { Nat: true } && u.Config.Networks().Any(n => n.Address.AddressFamily == AddressFamily.InterNetwork)))
        {
            EnableForwarding(store.Paths);
        }
        else
        {
            RestoreForwarding(store.Paths);
        }
    }

    /// <summary>Says that this installation may have tables in the kernel (<c>$RUN_ROOT/.nft-tables</c>).</summary>
    private static string TablesMarker(VServerPaths paths) => Path.Combine(paths.RunRoot, ".nft-tables");

    /// <summary>Whether this installation's tables are in the kernel now.</summary>
    public static bool TablesExist(VServerPaths paths)
    {
        var nft = HostProcess.Find("nft");
        return nft is not null && HostProcess.Run(nft, new[] { "list", "table", "inet", TableOf(paths) }).ExitCode == 0;
    }

    private static void EnableForwarding(VServerPaths paths)
    {
        var now = File.ReadAllText(Ipv4ForwardFile).Trim();
        if (now == "1")
        {
            return;
        }
        Directory.CreateDirectory(paths.RunRoot);
        AtomicFile.WriteAllText(ForwardRecord(paths), now + "\n");
        File.WriteAllText(Ipv4ForwardFile, "1\n");
    }

    /// <summary>Puts IPv4 forwarding back as it was before VServer switched it on (only then).</summary>
    private static void RestoreForwarding(VServerPaths paths)
    {
        var record = ForwardRecord(paths);
        if (!File.Exists(record))
        {
            return;
        }
        var before = File.ReadAllText(record).Trim();
        if (before is "0" or "1")
        {
            File.WriteAllText(Ipv4ForwardFile, before + "\n");
        }
        File.Delete(record);
    }
}
