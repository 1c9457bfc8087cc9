using System.Collections;
using System.Globalization;

namespace VServer.Config;

/// <summary>
/// Settings given by a user (New-VServerGuest, Set-VServerGuest, the CLI). <see cref="ApplyTo"/>
/// parses and validates every value first and only then changes the configuration, so a bad
/// value leaves it untouched. Null means "not given".
/// </summary>
public sealed class GuestSettings
{
    public int? Context { get; set; }
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public string[]? Interfaces { get; set; }
    public string[]? Flags { get; set; }
    public string[]? Capabilities { get; set; }
    public InitStyle? InitStyle { get; set; }
    public string? StartCommand { get; set; }
    public string? StopCommand { get; set; }
    public long? MemoryLimit { get; set; }
    public double? CpuLimit { get; set; }
    public long? ProcessLimit { get; set; }
    public long? SwapLimit { get; set; }
    public int? CpuWeight { get; set; }
    public long? DiskLimit { get; set; }

    /// <summary>True: the guest gets a range of host ids of its own (handed out by the store); false: its root is host root again.</summary>
    public bool? PrivateUsers { get; set; }
    public int? Nice { get; set; }
    public IDictionary? ResourceLimits { get; set; }
    public bool? OnBoot { get; set; }
    public string? Root { get; set; }
    public NetworkMode? NetworkMode { get; set; }
    public string? Bridge { get; set; }
    public string[]? Publish { get; set; }
    public string[]? DnsServer { get; set; }

    /// <summary>Settings to remove (reset to their default): property names such as MemoryLimit.</summary>
    public string[]? Clear { get; set; }

    public static readonly IReadOnlyList<string> ClearableNames = new[]
    {
        "Hostname", "Domainname", "Interface", "Flag", "Capability", "StartCommand", "StopCommand",
        "MemoryLimit", "SwapLimit", "CpuLimit", "CpuWeight", "ProcessLimit", "DiskLimit", "Nice", "ResourceLimit", "OnBoot", "NetworkMode", "Bridge", "Publish", "DnsServer", "PrivateUsers",
    };

    public void ApplyTo(GuestConfig c)
    {
        // 1. Parse and validate everything.
        var ctx = Context is int x ? Validate.Context(x) : (int?)null;
        var host = Hostname is null ? null : Validate.Hostname(Hostname);
        var domain = Domainname is null ? null : Validate.Hostname(Domainname, "domain name");
        var itfs = Interfaces?.Select(InterfaceSpec.Parse).ToList();
        var flags = Flags is null ? null : GuestFlags.NormalizeAll(Flags).ToList();
        var caps = Capabilities is null ? null : Config.Capabilities.NormalizeAll(Capabilities).ToList();
        var start = StartCommand is null ? null : CommandLine.Split(StartCommand);
        var stop = StopCommand is null ? null : CommandLine.Split(StopCommand);
        var mem = MemoryLimit is long m ? Validate.MemoryLimit(m) : (long?)null;
        var cpu = CpuLimit is double cl ? Validate.CpuLimit(cl) : (double?)null;
        var pids = ProcessLimit is long pl ? Validate.Positive(pl, "InvalidProcessLimit", "process limit") : (long?)null;
        var swap = SwapLimit is long sl ? Validate.SwapLimit(sl) : (long?)null;
        var weight = CpuWeight is int cw ? Validate.CpuWeight(cw) : (int?)null;
        var disk = DiskLimit is long dl ? Validate.DiskLimit(dl) : (long?)null;
        var nice = Nice is int n ? Validate.Nice(n) : (int?)null;
        var rlimits = ResourceLimits is null ? null : ParseResourceLimits(ResourceLimits);
        var bridge = Bridge is null ? null : InterfaceSpec.IsValidDeviceName(Bridge) ? Bridge
            : throw new VServerException("InvalidBridge", ErrorKind.InvalidArgument, $"'{Bridge}' is not a valid bridge name: 1 to 15 letters, digits, '_', '.' or '-'.", Bridge);
        var publish = Publish?.Select(PortMapping.Parse).ToList();
        var dns = DnsServer?.Select(d => d.Trim()).ToList();
        if (dns is not null)
        {
            var none = dns.Any(d => d.Equals("none", StringComparison.OrdinalIgnoreCase));
            var bad = dns.FirstOrDefault(d => !d.Equals("none", StringComparison.OrdinalIgnoreCase) && !System.Net.IPAddress.TryParse(d, out _));
            if (bad is not null || (none && dns.Count > 1))
            {
                throw new VServerException("InvalidDnsServer", ErrorKind.InvalidArgument,
                    $"'{bad ?? string.Join(",", dns)}' is not a list of name server addresses (or the single word None, which keeps the guest's own /etc/resolv.conf).", bad ?? string.Join(",", dns));
            }
            dns = none ? new List<string> { "none" } : dns;
        }
        var clear = (Clear ?? Array.Empty<string>()).Select(NormalizeClear).ToHashSet(StringComparer.Ordinal);
        string? root = null;
        if (Root is not null)
        {
            if (!Path.IsPathRooted(Root) || Path.GetFullPath(Root).TrimEnd('/').Length == 0)
            {
                throw new VServerException("InvalidRoot", ErrorKind.InvalidArgument, $"The root directory '{Root}' must be an absolute path other than '/'.", Root);
            }
            root = Path.GetFullPath(Root).TrimEnd('/');
        }

        // 2. Apply to a copy, check the whole, then commit.
        var t = c.Clone();
        foreach (var name in clear)
        {
            switch (name)
            {
                case "Hostname": t.Hostname = null; break;
                case "Domainname": t.Domainname = null; break;
                case "Interface": t.Interfaces.Clear(); break;
                case "Flag": t.Flags.Clear(); break;
                case "Capability": t.Capabilities.Clear(); break;
                case "StartCommand": t.StartCommand = null; break;
                case "StopCommand": t.StopCommand = null; break;
                case "MemoryLimit": t.MemoryLimit = null; t.SwapLimit = null; break; // swap is limited beyond memory
                case "CpuLimit": t.CpuLimit = null; break;
                case "SwapLimit": t.SwapLimit = null; break;
                case "CpuWeight": t.CpuWeight = null; break;
                case "ProcessLimit": t.ProcessLimit = null; break;
                case "DiskLimit": t.DiskLimit = null; break;
                case "PrivateUsers": t.PrivateUsers = null; break;
                case "Nice": t.Nice = null; break;
                case "ResourceLimit": t.ResourceLimits.Clear(); break;
                case "OnBoot": t.OnBoot = false; break;
                case "NetworkMode": t.NetworkMode = null; break;
                case "Bridge": t.Bridge = null; break;
                case "Publish": t.Publish.Clear(); break;
                case "DnsServer": t.DnsServers.Clear(); break;
            }
        }
        if (ctx is not null) t.Context = ctx;
        if (host is not null) t.Hostname = host;
        if (domain is not null) t.Domainname = domain;
        if (itfs is not null) t.Interfaces = itfs;
        if (flags is not null) t.Flags = flags;
        if (caps is not null) t.Capabilities = caps;
        if (InitStyle is InitStyle style) t.InitStyle = style;
        if (start is not null) t.StartCommand = start;
        if (stop is not null) t.StopCommand = stop;
        if (mem is not null) t.MemoryLimit = mem;
        if (cpu is not null) t.CpuLimit = cpu;
        if (swap is not null) t.SwapLimit = swap;
        if (weight is not null) t.CpuWeight = weight;
        if (pids is not null) t.ProcessLimit = pids;
        if (disk is not null) t.DiskLimit = disk;
        if (PrivateUsers is bool users) t.PrivateUsers = !users ? null : t.PrivateUsers ?? IdRange.Pending; // a guest keeps the range it has
        if (nice is not null) t.Nice = nice;
        if (rlimits is not null)
        {
            foreach (var r in rlimits)
            {
                t.ResourceLimits.RemoveAll(x => x.Resource == r.Resource);
                t.ResourceLimits.Add(r);
            }
            t.ResourceLimits.Sort((a, b) => string.CompareOrdinal(a.Resource, b.Resource));
        }
        if (OnBoot is bool ob) t.OnBoot = ob;
        if (root is not null) t.Root = root;
        if (NetworkMode is global::VServer.NetworkMode mode) t.NetworkMode = mode;
        if (bridge is not null) t.Bridge = bridge;
        if (publish is not null) t.Publish = publish;
        if (dns is not null) t.DnsServers = dns;
        t.CheckConsistency();

        c.Context = t.Context; c.Hostname = t.Hostname; c.Domainname = t.Domainname; c.Interfaces = t.Interfaces;
        c.Flags = t.Flags; c.Capabilities = t.Capabilities; c.InitStyle = t.InitStyle; c.StartCommand = t.StartCommand;
        c.StopCommand = t.StopCommand; c.MemoryLimit = t.MemoryLimit; c.CpuLimit = t.CpuLimit; c.ProcessLimit = t.ProcessLimit;
        c.SwapLimit = t.SwapLimit; c.CpuWeight = t.CpuWeight;
        c.DiskLimit = t.DiskLimit; c.PrivateUsers = t.PrivateUsers;
        c.Nice = t.Nice; c.ResourceLimits = t.ResourceLimits; c.OnBoot = t.OnBoot; c.Root = t.Root;
        c.NetworkMode = t.NetworkMode; c.Bridge = t.Bridge; c.Publish = t.Publish; c.DnsServers = t.DnsServers;
    }

    private static string NormalizeClear(string name)
    {
        var n = name.Trim();
        if (n.EndsWith("s", StringComparison.OrdinalIgnoreCase) && !n.Equals("Addresses", StringComparison.OrdinalIgnoreCase))
        {
            var singular = n[..^1];
            if (ClearableNames.Contains(singular, StringComparer.OrdinalIgnoreCase))
            {
                n = singular;
            }
        }
        if (n.Equals("Addresses", StringComparison.OrdinalIgnoreCase))
        {
            n = "Interface";
        }
        var match = ClearableNames.FirstOrDefault(k => k.Equals(n, StringComparison.OrdinalIgnoreCase));
        return match ?? throw new VServerException("InvalidClear", ErrorKind.InvalidArgument,
            $"'{name}' is not a setting that can be cleared. Use one of: {string.Join(", ", ClearableNames)}.", name);
    }

    /// <summary>
    /// Resource limits from a hashtable: <c>@{ nofile = 1024; nproc = '100:200'; core = 'inf';
    /// stack = @{ Soft = 8MB; Hard = 'inf' } }</c>.
    /// </summary>
    public static List<ResourceLimit> ParseResourceLimits(IDictionary table)
    {
        var list = new List<ResourceLimit>();
        foreach (DictionaryEntry e in table)
        {
            var key = Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "";
            var res = ResourceLimit.NormalizeResource(key);
            ResourceLimit limit;
            if (e.Value is IDictionary sides)
            {
                ulong? soft = null, hard = null;
                foreach (DictionaryEntry s in sides)
                {
                    var side = (Convert.ToString(s.Key, CultureInfo.InvariantCulture) ?? "").ToLowerInvariant();
                    var v = ValueOf(s.Value, res);
                    if (side == "soft") soft = v;
                    else if (side == "hard") hard = v;
                    else throw new VServerException("InvalidResourceLimit", ErrorKind.InvalidArgument,
                        $"'{s.Key}' is not 'Soft' or 'Hard' in the limit for '{key}'.", s.Key);
                }
                limit = new ResourceLimit(res, soft, hard).Validated();
            }
            else if (e.Value is string text)
            {
                limit = ResourceLimit.Parse(res, text);
            }
            else
            {
                var v = ValueOf(e.Value, res);
                limit = new ResourceLimit(res, v, v);
            }
            list.RemoveAll(l => l.Resource == res);
            list.Add(limit);
        }
        return list;
    }

    private static ulong ValueOf(object? value, string res) => value switch
    {
        string s => ResourceLimit.ParseValue(s, res),
        int i when i >= 0 => (ulong)i,
        long l when l >= 0 => (ulong)l,
        ulong u => u,
        uint u => u,
        double d when d >= 0 && d == Math.Floor(d) && d < 1.8e19 => (ulong)d,
        int or long when Convert.ToInt64(value, CultureInfo.InvariantCulture) == -1 => ResourceLimit.Unlimited,
        _ => throw new VServerException("InvalidResourceLimit", ErrorKind.InvalidArgument,
            $"'{value}' is not a valid value for the resource limit '{res}': give a whole number or 'inf'.", value ?? ""),
    };
}
