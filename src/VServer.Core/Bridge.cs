using System.Net;
using System.Net.Sockets;

namespace VServer;

/// <summary>
/// A host bridge guests attach to (Bridge network mode), as VServer keeps it under the config
/// root in util-vserver's style (<c>.bridges/NAME/{address,nat,isolated,dns}</c>): its own
/// addresses (the guests' gateway), NAT out, isolation of its guests from each other, and the DNS
/// servers written into its guests' /etc/resolv.conf. Type name <c>VServer.Bridge</c>.
/// </summary>
public sealed class Bridge
{
    public const string DefaultName = "vsbr0";

    /// <summary>What the default bridge gets when a guest first uses it: a gateway address and NAT out.</summary>
    public const string DefaultAddress = "10.200.0.1/24";

    public Bridge(string name) => Name = name;

    public string Name { get; }

    /// <summary>The bridge's own addresses with their prefix (<c>10.200.0.1/24</c>, <c>fd00::1/64</c>): the gateway of its guests.</summary>
    public List<string> Addresses { get; set; } = new();

    /// <summary>Traffic from the bridge's subnets that leaves the host by another interface is masqueraded.</summary>
    public bool Nat { get; set; }

    /// <summary>Guests on the bridge cannot reach each other (bridge port isolation).</summary>
    public bool Isolated { get; set; }

    /// <summary>Name servers for its guests' resolv.conf; one of the bridge's own addresses is let through the shield for DNS.</summary>
    public List<string> DnsServers { get; set; } = new();

    /// <summary>Whether the host link exists now.</summary>
    public bool Exists { get; init; }

    /// <summary>Running guests attached to it.</summary>
    public string[] Guests { get; init; } = Array.Empty<string>();

    /// <summary>The bridge's address networks (<c>10.200.0.0/24</c>), what NAT and the guests' routes use.</summary>
    public IEnumerable<(IPAddress Address, int Prefix)> Networks() => Addresses.Select(ParseCidr);

    public static (IPAddress Address, int Prefix) ParseCidr(string cidr)
    {
        var slash = cidr.IndexOf('/');
        if (slash > 0 && IPAddress.TryParse(cidr[..slash], out var ip) && int.TryParse(cidr[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p)
            && p >= 1 && p <= (ip.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32) && !ip.IsIPv6LinkLocal)
        {
            return (ip, p);
        }
        throw new VServerException("InvalidBridgeAddress", ErrorKind.InvalidArgument,
            $"'{cidr}' is not a bridge address: give ADDRESS/PREFIX, e.g. 10.200.0.1/24 or fd00:1::1/64.", cidr);
    }

    /// <summary>The network an address and prefix lie in, as nft and ip write it (<c>10.200.0.0/24</c>).</summary>
    public static string NetworkOf(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }
        return new IPAddress(bytes) + "/" + prefix.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
