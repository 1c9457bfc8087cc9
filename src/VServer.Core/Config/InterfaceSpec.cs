using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace VServer;

/// <summary>
/// One guest address, as util-vserver's <c>--interface [name=][dev:]ip[/prefix|/mask]</c>
/// describes it (seed 003: <c>eth0:62.24.85.244/24</c>), stored as
/// <c>interfaces/&lt;n&gt;/{ip,prefix,dev,name,nodev}</c>.
/// </summary>
public sealed partial class InterfaceSpec : IEquatable<InterfaceSpec>
{
    public InterfaceSpec(IPAddress address, int? prefix = null, string? device = null, string? name = null, bool noDev = false)
    {
        Address = address;
        Prefix = prefix;
        Device = device;
        Name = name;
        NoDev = noDev;
    }

    /// <summary>The interface's name inside the guest (util-vserver's <c>name</c> file), e.g. <c>eth0</c>.</summary>
    public string? Name { get; }

    /// <summary>The host device the address belongs to (<c>dev</c>, IPROOTDEV).</summary>
    public string? Device { get; }

    public IPAddress Address { get; }

    public int? Prefix { get; }

    /// <summary>util-vserver's <c>nodev</c>: the address is configured elsewhere; do not set it up.</summary>
    public bool NoDev { get; }

    public AddressFamily Family => Address.AddressFamily;

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,15}\\z")]
    private static partial Regex IfNamePattern();

    public static bool IsValidDeviceName(string s) => IfNamePattern().IsMatch(s) && s != "." && s != "..";

    /// <summary>Parses util-vserver's interface syntax; the error names the bad spec.</summary>
    public static InterfaceSpec Parse(string spec)
    {
        VServerException Bad(string why) => new("InvalidInterface", ErrorKind.InvalidArgument,
            $"The interface '{spec}' is not valid: {why}. Use [name=][dev:]ip[/prefix|/mask], e.g. eth0:62.24.85.244/24.", spec);

        if (string.IsNullOrWhiteSpace(spec))
        {
            throw Bad("it is empty");
        }
        var rest = spec.Trim();
        string? name = null, dev = null;
        var eq = rest.IndexOf('=');
        if (eq >= 0)
        {
            name = rest[..eq];
            rest = rest[(eq + 1)..];
            if (!IsValidDeviceName(name))
            {
                throw Bad($"'{name}' is not a valid interface name");
            }
        }
        string addrPart = rest, maskPart = "";
        var slash = rest.IndexOf('/');
        if (slash >= 0)
        {
            addrPart = rest[..slash];
            maskPart = rest[(slash + 1)..];
        }
        // An IPv6 address contains ':' itself: only split off a device when the whole is not an address.
        if (!IPAddress.TryParse(addrPart, out var address) || addrPart.Contains('%'))
        {
            var colon = addrPart.IndexOf(':');
            if (colon <= 0)
            {
                throw Bad($"'{addrPart}' is not an IP address");
            }
            dev = addrPart[..colon];
            addrPart = addrPart[(colon + 1)..];
            if (!IsValidDeviceName(dev))
            {
                throw Bad($"'{dev}' is not a valid device name");
            }
            if (!IPAddress.TryParse(addrPart, out address) || addrPart.Contains('%'))
            {
                throw Bad($"'{addrPart}' is not an IP address");
            }
        }
        if (address.AddressFamily == AddressFamily.InterNetwork && addrPart.Count(c => c == '.') != 3)
        {
            throw Bad($"'{addrPart}' is not a dotted-quad IPv4 address");
        }
        int? prefix = null;
        if (slash >= 0)
        {
            prefix = ParsePrefix(maskPart, address.AddressFamily) ?? throw Bad($"'{maskPart}' is neither a prefix length nor a netmask");
        }
        return new InterfaceSpec(address, prefix, dev, name);
    }

    internal static int? ParsePrefix(string text, AddressFamily family)
    {
        var max = family == AddressFamily.InterNetwork ? 32 : 128;
        if (text.Length > 0 && text.All(char.IsAsciiDigit))
        {
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p <= max ? p : null;
        }
        if (family == AddressFamily.InterNetwork && text.Count(c => c == '.') == 3 && IPAddress.TryParse(text, out var mask))
        {
            var b = mask.GetAddressBytes();
            var bits = ((uint)b[0] << 24) | ((uint)b[1] << 16) | ((uint)b[2] << 8) | b[3];
            var len = 0;
            while (len < 32 && (bits & (1u << (31 - len))) != 0)
            {
                len++;
            }
            var expected = len == 0 ? 0u : uint.MaxValue << (32 - len);
            return bits == expected ? len : null;
        }
        return null;
    }

    /// <summary>The address with its prefix, <c>10.0.1.2/23</c>.</summary>
    public string Cidr => Prefix is int p ? $"{Address}/{p}" : Address.ToString();

    public override string ToString() =>
        (Name is null ? "" : Name + "=") + (Device is null ? "" : Device + ":") + Cidr + (NoDev ? NoDevMark : "");

    private const string NoDevMark = " (nodev)";

    /// <summary>Reads back what <see cref="ToString"/> wrote (util-vserver's syntax, " (nodev)" after a nodev address).</summary>
    public static InterfaceSpec FromString(string text) =>
        text.EndsWith(NoDevMark, StringComparison.Ordinal) && Parse(text[..^NoDevMark.Length]) is var i
            ? new InterfaceSpec(i.Address, i.Prefix, i.Device, i.Name, noDev: true)
            : Parse(text);

    public bool Equals(InterfaceSpec? other) => other is not null && Address.Equals(other.Address) && Prefix == other.Prefix &&
        Device == other.Device && Name == other.Name && NoDev == other.NoDev;

    public override bool Equals(object? obj) => Equals(obj as InterfaceSpec);

    public override int GetHashCode() => HashCode.Combine(Address, Prefix, Device, Name, NoDev);
}
