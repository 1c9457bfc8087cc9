using System.Net;

namespace VServer.Storage;

/// <summary>
/// The bridges' configuration, one directory each under <c>$CONFIG_ROOT/.bridges/</c>, one value
/// per file as util-vserver keeps a guest's: <c>address</c> (one ADDRESS/PREFIX per line),
/// <c>nat</c> and <c>isolated</c> (present: on), <c>dns</c> (one server per line). A change
/// writes only the files that changed, all or nothing.
/// </summary>
public sealed class BridgeStore
{
    public BridgeStore(VServerPaths paths) => Paths = paths;

    public VServerPaths Paths { get; }

    public string Root => Path.Combine(Paths.ConfigRoot, ".bridges");

    public string DirOf(string name) => Path.Combine(Root, name);

    public static string ValidName(string name) => InterfaceSpec.IsValidDeviceName(name) ? name
        : throw new VServerException("InvalidBridge", ErrorKind.InvalidArgument, $"'{name}' is not a valid bridge name: 1 to 15 letters, digits, '_', '.' or '-'.", name);

    public IReadOnlyList<string> Names() => Directory.Exists(Root)
        ? Directory.GetDirectories(Root).Select(Path.GetFileName).OfType<string>().Where(InterfaceSpec.IsValidDeviceName).Order(StringComparer.Ordinal).ToArray()
        : Array.Empty<string>();

    public bool Exists(string name) => Directory.Exists(DirOf(ValidName(name)));

    /// <summary>A bridge's configuration; null when it has none.</summary>
    public Bridge? Read(string name, bool exists = false, string[]? guests = null)
    {
        var dir = DirOf(ValidName(name));
        if (!Directory.Exists(dir))
        {
            return null;
        }
        IEnumerable<string> Lines(string f) => File.Exists(Path.Combine(dir, f))
            ? File.ReadAllLines(Path.Combine(dir, f)).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
            : Array.Empty<string>();
        var b = new Bridge(name)
        {
            Addresses = Lines("address").ToList(),
            Nat = File.Exists(Path.Combine(dir, "nat")),
            Isolated = File.Exists(Path.Combine(dir, "isolated")),
            DnsServers = Lines("dns").ToList(),
            Exists = exists,
            Guests = guests ?? Array.Empty<string>(),
        };
        foreach (var a in b.Addresses)
        {
            try
            {
                Bridge.ParseCidr(a);
            }
            catch (VServerException)
            {
                throw new VServerException("InvalidConfiguration", ErrorKind.InvalidData, $"Bridge '{name}': {Path.Combine(dir, "address")} holds '{a}', which is not ADDRESS/PREFIX.", name);
            }
        }
        return b;
    }

    /// <summary>Checks and writes a bridge's configuration (only the files that changed).</summary>
    public void Write(Bridge b)
    {
        var dir = DirOf(ValidName(b.Name));
        foreach (var a in b.Addresses)
        {
            Bridge.ParseCidr(a);
        }
        foreach (var d in b.DnsServers)
        {
            if (!IPAddress.TryParse(d, out _))
            {
                throw new VServerException("InvalidDnsServer", ErrorKind.InvalidArgument, $"'{d}' is not an IP address of a name server.", d);
            }
        }
        var tx = new ConfigTransaction();
        void Set(string file, string? content) => tx.Set(Path.Combine(dir, file), content);
        Set("address", b.Addresses.Count == 0 ? null : string.Concat(b.Addresses.Select(a => a + "\n")));
        Set("nat", b.Nat ? "" : null);
        Set("isolated", b.Isolated ? "" : null);
        Set("dns", b.DnsServers.Count == 0 ? null : string.Concat(b.DnsServers.Select(a => a + "\n")));
        Directory.CreateDirectory(dir);
        tx.Commit();
    }

    /// <summary>
    /// The default bridge's configuration, made on its first use: a gateway address and NAT, so a
    /// guest with an address in 10.200.0.0/24 reaches the outside with no further step.
    /// </summary>
    public Bridge EnsureDefault()
    {
        if (Read(Bridge.DefaultName) is Bridge b)
        {
            return b;
        }
        b = new Bridge(Bridge.DefaultName) { Addresses = { Bridge.DefaultAddress }, Nat = true };
        Write(b);
        return b;
    }

    public void Delete(string name)
    {
        var dir = DirOf(ValidName(name));
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
