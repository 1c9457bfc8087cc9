using System.Text;
using VServer.Storage;

namespace VServer.Build;

/// <summary>
/// The guest's own name files, written in-root at every build and whenever Set-VServerGuest changes
/// its names or addresses: <c>/etc/hostname</c>, and in <c>/etc/hosts</c> the lines for its names
/// and addresses (marked <c># vserver</c>). Every other line of the guest's /etc/hosts is its own
/// and is kept as it is. The existing file is read as hostile data (in-root, size-capped).
/// </summary>
public static class GuestNameFiles
{
    public const string Marker = "# vserver";

    public static void Write(GuestRootFs root, GuestConfig config)
    {
        var hostname = config.Hostname ?? config.Name;
        if (root.LStat("etc") is null)
        {
            root.CreateDirectory("etc");
        }
        root.WriteText("etc/hostname", hostname + "\n");
        string existing;
        try
        {
            existing = root.LStat("etc/hosts") is null ? "" : Encoding.UTF8.GetString(root.ReadFile("etc/hosts", 1 << 20));
        }
        catch (VServerException)
        {
            existing = ""; // unreadable or too large: replaced by ours
        }
        root.WriteText("etc/hosts", Merge(existing, config));
    }

    /// <summary>The guest's own lines of <paramref name="existing"/>, then VServer's (pure, for the tests).</summary>
    public static string Merge(string existing, GuestConfig config)
    {
        var hostname = config.Hostname ?? config.Name;
        var fqdn = config.Domainname is null ? hostname : hostname + "." + config.Domainname;
        var names = fqdn == hostname ? hostname : fqdn + " " + hostname;
        var kept = existing.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => !l.TrimEnd().EndsWith(Marker, StringComparison.Ordinal)).ToList();
        while (kept.Count > 0 && kept[^1].Length == 0)
        {
            kept.RemoveAt(kept.Count - 1);
        }
        var sb = new StringBuilder();
        foreach (var l in kept)
        {
            sb.Append(l).Append('\n');
        }
        bool Maps(string address) => kept.Any(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) is [var a, .. var rest] && a == address && rest.Contains("localhost"));
        if (!Maps("127.0.0.1"))
        {
            sb.Append("127.0.0.1\tlocalhost\t").Append(Marker).Append('\n');
        }
        if (!Maps("::1"))
        {
            sb.Append("::1\tlocalhost ip6-localhost ip6-loopback\t").Append(Marker).Append('\n');
        }
        var addresses = config.Interfaces.Select(i => i.Address.ToString()).Distinct().ToList();
        if (addresses.Count == 0)
        {
            addresses.Add("127.0.1.1");
        }
        foreach (var a in addresses)
        {
            sb.Append(a).Append('\t').Append(names).Append('\t').Append(Marker).Append('\n');
        }
        return sb.ToString();
    }
}
