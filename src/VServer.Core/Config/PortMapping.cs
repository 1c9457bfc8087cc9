using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace VServer;

/// <summary>
/// A published port: <c>[hostaddress:]hostport:guestport[/tcp|udp]</c>, e.g. <c>8080:80</c> or
/// <c>192.0.2.2:2222:22/tcp</c>. While the guest runs, connections to the host's port (on every
/// host address, or the one given) are forwarded to the guest's first IPv4 address (Bridge mode).
/// </summary>
public sealed record PortMapping(IPAddress? HostAddress, int HostPort, int GuestPort, string Protocol)
{
    public static PortMapping Parse(string spec)
    {
        VServerException Bad(string why) => new("InvalidPublish", ErrorKind.InvalidArgument,
            $"'{spec}' is not a published port: {why}. Use [hostaddress:]hostport:guestport[/tcp|udp], e.g. 8080:80 or 192.0.2.2:2222:22/tcp.", spec);
        var s = (spec ?? "").Trim();
        var proto = "tcp";
        var slash = s.LastIndexOf('/');
        if (slash >= 0)
        {
            proto = s[(slash + 1)..].ToLowerInvariant();
            s = s[..slash];
            if (proto is not ("tcp" or "udp"))
            {
                throw Bad($"'{proto}' is not tcp or udp");
            }
        }
        var parts = s.Split(':');
        if (parts.Length is not (2 or 3))
        {
            throw Bad("give a host port and a guest port");
        }
        IPAddress? addr = null;
        if (parts.Length == 3 && (!IPAddress.TryParse(parts[0], out addr) || addr.AddressFamily != AddressFamily.InterNetwork))
        {
            throw Bad($"'{parts[0]}' is not an IPv4 address of the host");
        }
        int Port(string p) => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 65535 ? n : throw Bad($"'{p}' is not a port (1 to 65535)");
        return new PortMapping(addr, Port(parts[^2]), Port(parts[^1]), proto);
    }

    public override string ToString() =>
        (HostAddress is null ? "" : HostAddress + ":") + HostPort.ToString(CultureInfo.InvariantCulture) + ":" + GuestPort.ToString(CultureInfo.InvariantCulture) + "/" + Protocol;

    /// <summary>Whether two mappings claim the same host port (one on all addresses claims it on each).</summary>
    public bool Clashes(PortMapping other) =>
        HostPort == other.HostPort && Protocol == other.Protocol && (HostAddress is null || other.HostAddress is null || HostAddress.Equals(other.HostAddress));
}
