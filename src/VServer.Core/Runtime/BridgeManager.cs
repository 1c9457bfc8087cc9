using VServer.Storage;

namespace VServer.Runtime;

/// <summary>The bridges as managed objects: listed, changed (live where guests are attached) and removed.</summary>
public static class BridgeManager
{
    private static bool LinkExists(string name) => Directory.Exists("/sys/class/net/" + name);

    /// <summary>Configured bridges and bridges guests are attached to now, by name.</summary>
    public static IReadOnlyList<Bridge> List(GuestStore store)
    {
        var bridges = new BridgeStore(store.Paths);
        var uses = HostFirewall.Uses(store).ToDictionary(u => u.Name, u => u.Ports.Select(p => p.Guest).Distinct().ToArray(), StringComparer.Ordinal);
        return bridges.Names().Concat(uses.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(n => bridges.Read(n, LinkExists(n), uses.GetValueOrDefault(n)) ?? new Bridge(n) { Exists = LinkExists(n), Guests = uses.GetValueOrDefault(n) ?? Array.Empty<string>() })
            .ToList();
    }

    public static Bridge Get(GuestStore store, string name) =>
        List(store).FirstOrDefault(b => b.Name == BridgeStore.ValidName(name))
        ?? throw new VServerException("BridgeNotFound", ErrorKind.ObjectNotFound, $"No bridge named '{name}' is configured or in use.", name);

    /// <summary>
    /// Writes a bridge's configuration and applies it at once where the bridge exists: its
    /// addresses, the isolation of its guest ports, and the host's rules (NAT, DNS through the shield).
    /// </summary>
    public static Bridge Set(GuestStore store, Bridge wanted, IOperationReporter reporter)
    {
        var bridges = new BridgeStore(store.Paths);
        using var hostLock = GuestNetwork.NetworkLock(store.Paths);
        var before = bridges.Read(wanted.Name);
        bridges.Write(wanted);
        if (LinkExists(wanted.Name))
        {
            foreach (var gone in (before?.Addresses ?? new List<string>()).Except(wanted.Addresses))
            {
                Ip.TryRun("addr", "del", gone, "dev", wanted.Name);
            }
            foreach (var a in wanted.Addresses)
            {
                Ip.Run("addr", "replace", a, "dev", wanted.Name);
            }
            var ports = HostFirewall.Uses(store).Where(u => u.Name == wanted.Name).SelectMany(u => u.Ports);
            foreach (var p in ports)
            {
                Ip.Run("link", "set", "dev", p.HostLink, "type", "bridge_slave", "isolated", wanted.Isolated ? "on" : "off");
            }
            if (before is not null && !before.Addresses.SequenceEqual(wanted.Addresses) && ports.Any())
            {
                reporter.Warning($"Bridge '{wanted.Name}': its addresses changed while guests are attached; their default routes follow at their next start.");
            }
        }
        HostFirewall.Apply(store);
        return Get(store, wanted.Name);
    }

    /// <summary>Removes a bridge's configuration and its host link; refused while a running guest is attached.</summary>
    public static void Remove(GuestStore store, string name)
    {
        BridgeStore.ValidName(name);
        var bridges = new BridgeStore(store.Paths);
        using var hostLock = GuestNetwork.NetworkLock(store.Paths);
        var attached = HostFirewall.Uses(store).Where(u => u.Name == name).SelectMany(u => u.Ports.Select(p => p.Guest)).Distinct().ToArray();
        if (attached.Length > 0)
        {
            throw new VServerException("BridgeInUse", ErrorKind.InvalidOperation,
                $"Bridge '{name}' cannot be removed: running guests are attached to it ({string.Join(", ", attached)}). Stop them first.", name);
        }
        if (!bridges.Exists(name) && !LinkExists(name))
        {
            throw new VServerException("BridgeNotFound", ErrorKind.ObjectNotFound, $"No bridge named '{name}' is configured or exists.", name);
        }
        if (LinkExists(name))
        {
            Ip.Run("link", "del", name);
        }
        bridges.Delete(name);
        HostFirewall.Apply(store);
    }
}
