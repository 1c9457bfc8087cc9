using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// A guest's network: a network namespace VServer makes and names after the guest
/// (<c>vs-NAME</c>, so <c>ip netns exec vs-NAME …</c> works), filled before the guest's init
/// runs and deleted when the guest ends. Bridge: a veth pair per interface, the host end
/// (<c>vsHHHHHHHH.N</c>) on a host bridge; IPvlan: an ipvlan (L2) interface on a host device; None:
/// loopback only; Host: no namespace at all.
/// </summary>
public static class GuestNetwork
{
    /// <summary>The guest's network namespace: <c>vs-NAME</c>, or <c>vs-KEY-NAME</c> for an installation other than the default (<see cref="VServerPaths.InstallationKey"/>).</summary>
    public static string NamespaceOf(VServerPaths paths, string guest) =>
        "vs-" + (paths.InstallationKey.Length == 0 ? "" : paths.InstallationKey + "-") + GuestId.Of(guest);

    public static string NamespacePath(VServerPaths paths, string guest) => Path.Combine(NetnsDirectory, NamespaceOf(paths, guest));

    /// <summary>iproute2's directory of named network namespaces.</summary>
    public const string NetnsDirectory = "/run/netns";

    /// <summary>
    /// The host-side name of a guest's interface: <c>vs</c>, a 32-bit hash of the guest's name in
    /// hex, <c>.N</c> (at most 15 characters). Host links are host-wide like the namespace
    /// <c>vs-NAME</c>, so they are keyed by the name too, not by the context number, which two
    /// VServer installations on one host may both use.
    /// </summary>
    public static string HostLinkName(VServerPaths paths, string guest, int index) =>
        "vs" + Convert.ToHexString(System.IO.Hashing.XxHash32.Hash(System.Text.Encoding.UTF8.GetBytes(paths.InstallationKey.Length == 0 ? guest : paths.InstallationKey + "/" + guest))).ToLowerInvariant() + "." + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The MAC address of a guest's interface: locally administered (02:…), from a hash of the
    /// installation, the guest and the interface, so the host's anti-spoofing rules know it before
    /// the interface exists and it stays the same across starts.
    /// </summary>
    public static string MacOf(VServerPaths paths, string guest, int index)
    {
        var h = System.IO.Hashing.XxHash64.Hash(System.Text.Encoding.UTF8.GetBytes(paths.InstallationKey + "/" + guest + "/" + index.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return "02:" + string.Join(':', h.Take(5).Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>The installation's network lock: one network setup, teardown or rule change at a time.</summary>
    internal static HostLock NetworkLock(VServerPaths paths)
    {
        Directory.CreateDirectory(paths.RunRoot);
        return HostLock.Acquire(Path.Combine(paths.RunRoot, ".network.lock"));
    }

    /// <summary>The interface published ports are forwarded to: the first with an IPv4 address (Bridge mode).</summary>
    public static Link? PublishTarget(IReadOnlyList<Link> links) =>
        links.FirstOrDefault(x => x.Addresses.Any(a => a.Family == AddressFamily.InterNetwork));

    /// <summary>One interface inside the guest, with all its addresses.</summary>
    public sealed record Link(int Index, string GuestName, string HostName, string? Parent, IReadOnlyList<InterfaceSpec> Addresses);

    /// <summary>The guest's interfaces: specs with the same guest-side name share one interface.</summary>
    public static IReadOnlyList<Link> Links(VServerPaths paths, GuestConfig c)
    {
        var mode = c.EffectiveNetworkMode;
        if (mode is NetworkMode.Host or NetworkMode.None)
        {
            return Array.Empty<Link>();
        }
        var links = new List<Link>();
        var i = 0;
        // specs with the same name (or, without one, the same device) are one interface with several addresses
        foreach (var g in c.Interfaces.Where(x => !x.NoDev)
                     .Select((spec, n) => (spec, key: spec.Name ?? spec.Device ?? $"eth{n}"))
                     .GroupBy(x => x.key))
        {
            var specs = g.Select(x => x.spec).ToList();
            // Bridge: the device part names the guest's interface; IPvlan: it names the host device, and the guest's is ethN
            var guestName = mode == NetworkMode.Bridge ? g.Key : specs[0].Name ?? $"eth{i}";
            links.Add(new Link(i, guestName, HostLinkName(paths, c.Name, i), mode is NetworkMode.IPvlan or NetworkMode.Macvlan ? specs[0].Device : null, specs));
            i++;
        }
        return links;
    }

    /// <summary>
    /// The ip commands that fill the guest's namespace, in order. Pure: tests read them, and
    /// <see cref="Setup"/> runs them.
    /// </summary>
    public static IReadOnlyList<string[]> Commands(VServerPaths paths, GuestConfig c, IReadOnlyDictionary<string, IPAddress[]>? bridgeAddresses = null)
    {
        var ns = NamespaceOf(paths, c.Name);
        var mode = c.EffectiveNetworkMode;
        var bridge = c.Bridge ?? GuestConfig.DefaultBridge;
        var links = Links(paths, c);
        var cmds = new List<string[]>(); // (lo is up from the namespace's making, Native.Sys.NetnsAdd)
        foreach (var l in links)
        {
            if (mode == NetworkMode.Bridge)
            {
                cmds.Add(new[] { "link", "add", l.HostName, "type", "veth", "peer", "name", l.GuestName, "address", MacOf(paths, c.Name, l.Index), "netns", ns });
                cmds.Add(new[] { "link", "set", l.HostName, "master", bridge, "up" });
            }
            else
            {
                cmds.Add(mode == NetworkMode.Macvlan
                    ? new[] { "link", "add", "link", l.Parent!, "name", l.HostName, "address", MacOf(paths, c.Name, l.Index), "type", "macvlan", "mode", "bridge" }
                    : new[] { "link", "add", "link", l.Parent!, "name", l.HostName, "type", "ipvlan", "mode", "l2" });
                cmds.Add(new[] { "link", "set", l.HostName, "netns", ns });
                cmds.Add(new[] { "-n", ns, "link", "set", l.HostName, "name", l.GuestName });
            }
            foreach (var a in l.Addresses)
            {
                cmds.Add(new[] { "-n", ns, "addr", "add", $"{a.Address}/{a.Prefix ?? (a.Family == AddressFamily.InterNetworkV6 ? 64 : 24)}", "dev", l.GuestName });
            }
            cmds.Add(new[] { "-n", ns, "link", "set", l.GuestName, "up" });
        }
        // a default route via the bridge's own address, when it has one in the guest's subnet
        if (mode == NetworkMode.Bridge && bridgeAddresses is not null && bridgeAddresses.TryGetValue(bridge, out var gateways))
        {
            foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
            {
                var via = gateways.FirstOrDefault(gw => gw.AddressFamily == family &&
                    links.SelectMany(l => l.Addresses).Any(a => a.Family == family && SameSubnet(a, gw)));
                if (via is not null)
                {
                    cmds.Add(new[] { "-n", ns, "route", "add", "default", "via", via.ToString() }); // (ip takes the family from the gateway)
                }
            }
        }
        return cmds;
    }

    private static bool SameSubnet(InterfaceSpec a, IPAddress other)
    {
        var prefix = a.Prefix ?? (a.Family == AddressFamily.InterNetworkV6 ? 64 : 24);
        var x = a.Address.GetAddressBytes();
        var y = other.GetAddressBytes();
        for (var bit = 0; bit < prefix; bit++)
        {
            var mask = (byte)(0x80 >> (bit % 8));
            if ((x[bit / 8] & mask) != (y[bit / 8] & mask))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Checks what can be checked before anything changes: the host device of each IPvlan
    /// interface, and addresses already used by another running (or starting) guest on the same bridge.
    /// </summary>
    public static void Check(GuestConfig c, GuestStore store)
    {
        var mode = c.EffectiveNetworkMode;
        var links = Links(store.Paths, c);
        foreach (var l in links)
        {
            if (mode is NetworkMode.IPvlan or NetworkMode.Macvlan && (l.Parent is null || !Directory.Exists("/sys/class/net/" + l.Parent)))
            {
                throw new VServerException("HostDeviceNotFound", ErrorKind.ObjectNotFound,
                    $"Guest '{c.Name}': interface {l.GuestName} needs the host device '{l.Parent ?? "(none given)"}' for {mode}, and the host has none of that name (give it as DEV:ADDRESS).", l.Parent);
            }
        }
        if (c.Publish.Count > 0 && (mode != NetworkMode.Bridge || !links.SelectMany(l => l.Addresses).Any(a => a.Family == AddressFamily.InterNetwork)))
        {
            throw new VServerException("InvalidPublish", ErrorKind.InvalidData,
                $"Guest '{c.Name}' publishes ports ({string.Join(", ", c.Publish)}), which needs the Bridge network mode and an IPv4 address to forward them to (its mode is {mode}).", c.Name);
        }
        if (mode != NetworkMode.Bridge)
        {
            return;
        }
        var mine = links.SelectMany(l => l.Addresses).Select(a => a.Address).ToList();
        if (mine.Count == 0)
        {
            return; // no address and (checked above) no port: nothing another guest can hold
        }
        var bridge = c.Bridge ?? GuestConfig.DefaultBridge;
        // a guest whose namespace exists is running or starting (its state is written later)
        foreach (var other in store.ListNames().Where(n => n != c.Name && File.Exists(NamespacePath(store.Paths, n))))
        {
            GuestConfig oc;
            try
            {
                oc = store.ReadConfig(other);
            }
            catch (VServerException)
            {
                continue;
            }
            var taken = c.Publish.FirstOrDefault(p => oc.Publish.Any(p.Clashes));
            if (taken is not null)
            {
                throw new VServerException("PortInUse", ErrorKind.ResourceExists,
                    $"Guest '{c.Name}' cannot start: host port {taken.HostPort}/{taken.Protocol} is already published by running guest '{other}' ({oc.Publish.First(taken.Clashes)}).", taken.ToString());
            }
            if (oc.EffectiveNetworkMode != NetworkMode.Bridge || (oc.Bridge ?? GuestConfig.DefaultBridge) != bridge)
            {
                continue;
            }
            var clash = Links(store.Paths, oc).SelectMany(l => l.Addresses).Select(a => a.Address).FirstOrDefault(mine.Contains);
            if (clash is not null)
            {
                throw new VServerException("AddressInUse", ErrorKind.ResourceExists,
                    $"Guest '{c.Name}' cannot start: address {clash} is already used by running guest '{other}' on bridge {bridge}.", clash.ToString());
            }
        }
    }

    /// <summary>
    /// Makes and fills the guest's namespace (nothing for Host mode); returns its path for the
    /// bundle, or null for Host. Anything half-made is removed again when a step fails. A guest with
    /// private users brings the namespace its user namespace owns (<paramref name="ownedNetns"/>), so
    /// its root may mount sysfs and set its network's sysctls; VServer names and fills that one.
    /// </summary>
    public static string? Setup(GuestConfig c, GuestStore store, IOperationReporter reporter, int ownedNetns = -1)
    {
        var mode = c.EffectiveNetworkMode;
        if (mode == NetworkMode.Host)
        {
            return null;
        }
        // one network setup at a time on this host: the conflict check and the addresses it
        // clears are then the same picture (two guests starting at once with one address)
        using var hostLock = NetworkLock(store.Paths);
        Check(c, store);
        Teardown(store.Paths, c.Name); // left by a crash
        Native.Sys.NetnsAdd(NetnsDirectory, NamespaceOf(store.Paths, c.Name), ownedNetns);
        var links = Links(store.Paths, c);
        try
        {
            Dictionary<string, IPAddress[]>? gateways = null;
            Bridge? config = null;
            if (mode == NetworkMode.Bridge && links.Count > 0)
            {
                var bridge = c.Bridge ?? GuestConfig.DefaultBridge;
                var bridges = new BridgeStore(store.Paths);
                config = bridge == Bridge.DefaultName ? bridges.EnsureDefault() : bridges.Read(bridge);
                if (!Directory.Exists("/sys/class/net/" + bridge))
                {
                    reporter.Verbose($"Creating host bridge {bridge}.");
                    // another guest starting at the same moment may make it first
                    if (!Ip.TryRun("link", "add", bridge, "type", "bridge") && !Directory.Exists("/sys/class/net/" + bridge))
                    {
                        Ip.Run("link", "add", bridge, "type", "bridge");
                    }
                }
                foreach (var a in config?.Addresses ?? new List<string>())
                {
                    Ip.Run("addr", "replace", a, "dev", bridge); // the guests' gateway
                }
                if (config is { Nat: true } && config.Networks().Any(n => n.Address.AddressFamily == AddressFamily.InterNetworkV6)
                    && File.Exists("/proc/sys/net/ipv6/conf/all/forwarding") && File.ReadAllText("/proc/sys/net/ipv6/conf/all/forwarding").Trim() == "0")
                {
                    // switching it on would stop the host taking router advertisements: the administrator's call
                    reporter.Warning($"Bridge '{bridge}' has an IPv6 address and NAT, but IPv6 forwarding is off on this host (net.ipv6.conf.all.forwarding=0): guest '{c.Name}' reaches the outside over IPv4 only. Switch it on with sysctl if the host's IPv6 setup allows.");
                }
                Ip.Run("link", "set", bridge, "up");
                gateways = new() { [bridge] = AddressesOf(bridge) };
            }
            // one ip process for the host's side, one for the namespace's: the host's side makes
            // the links the namespace's side configures
            var cmds = Commands(store.Paths, c, gateways);
            var ns = NamespaceOf(store.Paths, c.Name);
            var hostSide = cmds.Where(x => x[0] != "-n").ToList();
            if (config is { Isolated: true })
            {
                hostSide.AddRange(links.Select(l => new[] { "link", "set", "dev", l.HostName, "type", "bridge_slave", "isolated", "on" }));
            }
            Ip.Batch(null, hostSide);
            Ip.Batch(ns, cmds.Where(x => x[0] == "-n").Select(x => x[2..]).ToList());
            if (links.Count > 0)
            {
                HostFirewall.Apply(store); // a guest with loopback alone has no part in the host's rules
            }
            return NamespacePath(store.Paths, c.Name);
        }
        catch
        {
            Teardown(store.Paths, c.Name);
            try
            {
                HostFirewall.Apply(store);
            }
            catch (VServerException)
            {
                // the first error is the one to report
            }
            throw;
        }
    }

    /// <summary>
    /// Whether a change from <paramref name="before"/> to <paramref name="after"/> touches only the
    /// addresses of a Bridge guest's interfaces (the same interfaces, mode and bridge): those a running
    /// guest takes at once (<see cref="ChangeAddresses"/>).
    /// </summary>
    public static bool AddressesOnly(VServerPaths paths, GuestConfig before, GuestConfig after) =>
        before.EffectiveNetworkMode == NetworkMode.Bridge && after.EffectiveNetworkMode == NetworkMode.Bridge &&
        (before.Bridge ?? GuestConfig.DefaultBridge) == (after.Bridge ?? GuestConfig.DefaultBridge) &&
        Links(paths, before).Select(l => l.GuestName).SequenceEqual(Links(paths, after).Select(l => l.GuestName), StringComparer.Ordinal) &&
        Links(paths, after).Count > 0;

    /// <summary>
    /// Changes a running Bridge guest's addresses in its namespace: those it no longer has are
    /// deleted, new ones added, and its default routes follow the bridge's address in its subnets.
    /// An address another running guest on the bridge holds is refused before anything changes.
    /// Returns the undo. The host's rules follow with <see cref="HostFirewall.Apply"/> once the
    /// configuration holds the new addresses.
    /// </summary>
    public static Action ChangeAddresses(GuestStore store, GuestConfig before, GuestConfig after)
    {
        using var hostLock = NetworkLock(store.Paths);
        Check(after, store);
        var ns = NamespaceOf(store.Paths, after.Name);
        var bridge = after.Bridge ?? GuestConfig.DefaultBridge;
        var gateways = new Dictionary<string, IPAddress[]> { [bridge] = AddressesOf(bridge) };
        static string Cidr(InterfaceSpec a) => $"{a.Address}/{a.Prefix ?? (a.Family == AddressFamily.InterNetworkV6 ? 64 : 24)}";
        static List<string[]> Routes(IReadOnlyList<string[]> cmds) => cmds.Where(c => c.Length > 3 && c[2] == "route").Select(c => c[3..]).ToList();
        var oldLinks = Links(store.Paths, before);
        var forward = new List<string[]>();
        var back = new List<string[]>();
        // the old default routes go first (a gateway may leave the guest's subnets), the new ones come last
        foreach (var r in Routes(Commands(store.Paths, before, gateways)))
        {
            forward.Add(new[] { "route", "del", "default", "via", r[^1] });
        }
        foreach (var (l, i) in Links(store.Paths, after).Select((l, i) => (l, i)))
        {
            var had = oldLinks[i].Addresses.Select(Cidr).ToList();
            var has = l.Addresses.Select(Cidr).ToList();
            forward.AddRange(had.Except(has).Select(a => new[] { "addr", "del", a, "dev", l.GuestName }));
            forward.AddRange(has.Except(had).Select(a => new[] { "addr", "add", a, "dev", l.GuestName }));
            back.AddRange(has.Except(had).Select(a => new[] { "addr", "del", a, "dev", l.GuestName }));
            back.AddRange(had.Except(has).Select(a => new[] { "addr", "add", a, "dev", l.GuestName }));
        }
        forward.AddRange(Routes(Commands(store.Paths, after, gateways)).Select(r => new[] { "route", "replace", "default", "via", r[^1] }));
        back.AddRange(Routes(Commands(store.Paths, before, gateways)).Select(r => new[] { "route", "replace", "default", "via", r[^1] }));
        try
        {
            Ip.Batch(ns, forward);
        }
        catch
        {
            Undo(ns, back);
            throw;
        }
        return () => Undo(ns, back);
    }

    /// <summary>Puts a guest's addresses back, one command at a time (one that fails does not stop the others).</summary>
    private static void Undo(string ns, IReadOnlyList<string[]> commands)
    {
        foreach (var c in commands)
        {
            Ip.TryRun(new[] { "-n", ns }.Concat(c).ToArray());
        }
    }

    /// <summary>
    /// Deletes the guest's namespace and makes the host's rules match the guests still attached (the
    /// cleanup's part). <paramref name="attached"/> false: the guest ran with loopback alone, had no
    /// part in the rules, and they stay as they are.
    /// </summary>
    public static void Release(GuestStore store, string guest, IOperationReporter reporter, bool attached = true)
    {
        if (!attached)
        {
            Teardown(store.Paths, guest);
            return;
        }
        using var hostLock = NetworkLock(store.Paths);
        Teardown(store.Paths, guest);
        try
        {
            HostFirewall.Apply(store);
        }
        catch (VServerException e)
        {
            reporter.Warning($"Guest '{guest}': the host's rules could not be brought up to date after it stopped: {e.Message}");
        }
    }

    /// <summary>The host's addresses on a device (ip -j addr).</summary>
    private static IPAddress[] AddressesOf(string device)
    {
        using var doc = JsonDocument.Parse(Ip.Run("-j", "addr", "show", "dev", device));
        return doc.RootElement.EnumerateArray()
            .SelectMany(l => l.TryGetProperty("addr_info", out var ai) ? ai.EnumerateArray() : Enumerable.Empty<JsonElement>())
            .Select(a => IPAddress.TryParse(a.GetProperty("local").GetString(), out var ip) ? ip : null)
            .OfType<IPAddress>().ToArray();
    }

    /// <summary>The interfaces in a running guest's namespace, loopback included, with their counters (ip -j -s addr).</summary>
    public static IReadOnlyList<GuestInterface> Interfaces(VServerPaths paths, GuestConfig c)
    {
        var mode = c.EffectiveNetworkMode;
        if (mode == NetworkMode.Host || !File.Exists(NamespacePath(paths, c.Name)))
        {
            return Array.Empty<GuestInterface>();
        }
        var links = Links(paths, c);
        var receiver = mode == NetworkMode.Bridge ? PublishTarget(links)?.GuestName : null;
        using var doc = JsonDocument.Parse(Ip.Run("-n", NamespaceOf(paths, c.Name), "-j", "-s", "addr", "show"));
        var result = new List<GuestInterface>();
        foreach (var l in doc.RootElement.EnumerateArray())
        {
            var name = l.GetProperty("ifname").GetString() ?? "";
            var known = links.FirstOrDefault(x => x.GuestName == name);
            long Stat(string dir, string key) =>
                l.TryGetProperty("stats64", out var st) && st.TryGetProperty(dir, out var d) && d.TryGetProperty(key, out var v) ? v.GetInt64() : 0;
            result.Add(new GuestInterface
            {
                Guest = c.Name,
                Name = name,
                HostName = known is null ? null : mode == NetworkMode.Bridge ? known.HostName : known.Parent,
                Mode = mode,
                Addresses = l.TryGetProperty("addr_info", out var ai)
                    ? ai.EnumerateArray().Select(a => $"{a.GetProperty("local").GetString()}/{a.GetProperty("prefixlen").GetInt32()}").ToArray()
                    : Array.Empty<string>(),
                MacAddress = l.TryGetProperty("address", out var mac) ? mac.GetString() : null,
                State = l.TryGetProperty("operstate", out var os) ? os.GetString() ?? "" : "",
                RxBytes = Stat("rx", "bytes"),
                TxBytes = Stat("tx", "bytes"),
                RxPackets = Stat("rx", "packets"),
                TxPackets = Stat("tx", "packets"),
                Namespace = NamespaceOf(paths, c.Name),
                Published = name == receiver ? c.Publish.Select(p => p.ToString()).ToArray() : Array.Empty<string>(),
            });
        }
        return result;
    }

    /// <summary>Deletes the guest's namespace: its veth pairs (host ends included) and ipvlans go with it.</summary>
    public static void Teardown(VServerPaths paths, string guest)
    {
        Native.Sys.NetnsDelete(NamespacePath(paths, guest));
    }
}
