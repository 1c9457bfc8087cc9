using System.Net;
using System.Text;
using VServer.Storage;

namespace VServer.Build;

/// <summary>
/// The guest's <c>/etc/resolv.conf</c>, written in-root at every start: the guest's own DNS servers
/// (-DnsServer), else its bridge's, else the host's resolvers that a guest can reach (not loopback
/// ones such as systemd-resolved's 127.0.0.53). <c>-DnsServer None</c> leaves the guest's file alone.
/// A symlink there (a guest's own resolver setup) is replaced by the file, in-root, never followed.
/// </summary>
public static class GuestResolvConf
{
    public const string Header = "# written by VServer at each start (Set-VServerGuest -DnsServer None keeps the guest's own)";

    /// <summary>What to write, or null to leave the file alone; a warning when no server can be given. Pure: tests call it.</summary>
    public static (string? Content, string? Warning) Decide(GuestConfig c, Bridge? bridge, string hostResolvConf)
    {
        if (c.DnsServers.Count == 1 && string.Equals(c.DnsServers[0], "none", StringComparison.OrdinalIgnoreCase))
        {
            return (null, null);
        }
        var servers = c.DnsServers.Count > 0 ? c.DnsServers : bridge?.DnsServers.Count > 0 ? bridge.DnsServers : new List<string>();
        var search = new List<string>();
        if (servers.Count == 0)
        {
            var host = hostResolvConf.Split('\n').Select(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToList();
            var all = host.Where(w => w is ["nameserver", _, ..]).Select(w => w[1]).ToList();
            servers = all.Where(a => IPAddress.TryParse(a.Split('%')[0], out var ip) && !IPAddress.IsLoopback(ip)).ToList();
            search = host.Where(w => w.Length > 1 && w[0] is "search" or "domain").SelectMany(w => w.Skip(1)).Distinct().ToList();
            if (servers.Count == 0)
            {
                return (null, all.Count == 0
                    ? $"Guest '{c.Name}': no DNS server to give it (the host's /etc/resolv.conf names none): its /etc/resolv.conf is left as it is. Give one with Set-VServerGuest -DnsServer."
                    : $"Guest '{c.Name}': the host's resolvers ({string.Join(", ", all)}) are loopback addresses a guest cannot reach: its /etc/resolv.conf is left as it is. Give one with Set-VServerGuest -DnsServer or Set-VServerBridge -DnsServer.");
            }
        }
        var sb = new StringBuilder(Header).Append('\n');
        if (search.Count > 0)
        {
            sb.Append("search ").Append(string.Join(' ', search)).Append('\n');
        }
        foreach (var s in servers)
        {
            sb.Append("nameserver ").Append(s).Append('\n');
        }
        return (sb.ToString(), null);
    }

    /// <summary>Writes the file when it differs (in-root; a symlink there is replaced, not followed).</summary>
    public static void Write(GuestRootFs root, string content)
    {
        if (TestSeams.NaiveGuestWrites)
        {
            File.WriteAllText(Path.Combine(root.HostPath, "etc", "resolv.conf"), content); // the weak host of the red-team test: follows the guest's links
            return;
        }
        if (root.LStat("etc") is null)
        {
            root.CreateDirectory("etc");
        }
        if (root.LStat("etc/resolv.conf") is { } st)
        {
            if (Native.Sys.IsLink(st))
            {
                root.RemoveEntry("etc/resolv.conf");
            }
            else
            {
                try
                {
                    if (Encoding.UTF8.GetString(root.ReadFile("etc/resolv.conf", 64 * 1024)) == content)
                    {
                        return;
                    }
                }
                catch (VServerException)
                {
                    // unreadable or too large: replaced
                }
            }
        }
        root.WriteText("etc/resolv.conf", content);
    }
}
