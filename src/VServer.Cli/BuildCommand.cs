using System.Globalization;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Cli;

/// <summary>
/// <c>vserver NAME build -m METHOD [options] [-- METHOD-OPTIONS]</c> with util-vserver's options:
/// the seeds' build lines work as printed (with a current distribution name).
/// </summary>
internal static class BuildCommand
{
    public const string Help =
        "Usage: vserver NAME build -m METHOD [--context N] [--hostname NAME] [--interface [NAME=][DEV:]IP[/PREFIX]]...\n" +
        "                           [--netdev DEV] [--netprefix PREFIX] [--initstyle auto|sysv|plain|command]\n" +
        "                           [--flags FLAG,...] [--rootdir DIR] [--no-private-users] [-- METHOD-OPTIONS]\n" +
        "Methods: skeleton, busybox, debootstrap (-- -d DIST [-m MIRROR] [--include PKG,...]),\n" +
        "         clone (-- --source GUEST|DIR), template (-- --source DIR), archive (-- --source FILE.tar[.gz|.xz|.zst])\n";

    private static readonly Dictionary<string, BuildMethod> Methods = new(StringComparer.OrdinalIgnoreCase)
    {
        ["skeleton"] = BuildMethod.Skeleton, ["busybox"] = BuildMethod.Busybox, ["debootstrap"] = BuildMethod.Debootstrap,
        ["clone"] = BuildMethod.Clone, ["template"] = BuildMethod.Template, ["archive"] = BuildMethod.Archive,
    };

    public static int Run(string name, IReadOnlyList<string> args, GuestStore store, IOperationReporter reporter, CancellationToken cancel)
    {
        string? method = null, netdev = null, netprefix = null, source = null, dist = null, mirror = null;
        var settings = new GuestSettings();
        var interfaces = new List<string>();
        var include = new List<string>();
        var i = 0;
        string Value(string option) => i + 1 < args.Count ? args[++i]
            : throw new VServerException("InvalidBuildOption", ErrorKind.InvalidArgument, $"'{option}' needs a value.", option);
        for (; i < args.Count && args[i] != "--"; i++)
        {
            var (option, inline) = args[i].StartsWith("--", StringComparison.Ordinal) && args[i].Contains('=')
                ? (args[i][..args[i].IndexOf('=')], args[i][(args[i].IndexOf('=') + 1)..]) : (args[i], null);
            string Arg() => inline ?? Value(option);
            switch (option)
            {
                case "-h" or "--help":
                    Console.Write(Help);
                    return 0;
                case "-m" or "-M" or "--method": method = Arg(); break;
                case "--context":
                    settings.Context = int.TryParse(Arg(), NumberStyles.None, CultureInfo.InvariantCulture, out var ctx) ? ctx
                        : throw new VServerException("InvalidContext", ErrorKind.InvalidArgument, $"'{args[i]}' is not a context number.", args[i]);
                    break;
                case "--hostname": settings.Hostname = Arg(); break;
                case "--interface": interfaces.Add(Arg()); break;
                case "--netdev": netdev = Arg(); break;
                case "--netprefix": netprefix = Arg(); break;
                case "--initstyle":
                    var style = Arg();
                    settings.InitStyle = Enum.TryParse<InitStyle>(style, ignoreCase: true, out var s) && !int.TryParse(style, out _) ? s
                        : throw new VServerException("UnsupportedInitStyle", ErrorKind.InvalidArgument, $"'{style}' is not an init style VServer supports (auto, sysv, plain, command).", style);
                    break;
                case "--flags": settings.Flags = Arg().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--rootdir": settings.Root = Path.GetFullPath(Path.Combine(Arg(), name)); break;
                case "--private-users": settings.PrivateUsers = true; break; // the default where the host can (New-VServerGuest -PrivateUsers)
                case "--no-private-users": settings.PrivateUsers = false; break; // host root as the guest's root (-PrivateUsers:$false)
                default:
                    throw new VServerException("InvalidBuildOption", ErrorKind.InvalidArgument, $"'{args[i]}' is not a build option.\n{Help}", args[i]);
            }
        }
        // the method's own options, after --
        for (i++; i < args.Count; i++)
        {
            var option = args[i];
            switch (option)
            {
                case "-d": dist = Value(option); break;
                case "-m": mirror = Value(option); break;
                case "--include": include.AddRange(Value(option).Split(',', StringSplitOptions.RemoveEmptyEntries)); break;
                case "--source" or "-s": source = Value(option); break;
                default:
                    throw new VServerException("InvalidBuildOption", ErrorKind.InvalidArgument, $"'{option}' is not an option of the build method.\n{Help}", option);
            }
        }
        if (method is null || !Methods.TryGetValue(method, out var m))
        {
            throw new VServerException("UnknownBuildMethod", ErrorKind.InvalidArgument,
                $"'{method ?? "(none)"}' is not a build method VServer has: {string.Join(", ", Methods.Keys)}.", method ?? "");
        }
        // --netdev and --netprefix complete the interfaces that do not name their own
        settings.Interfaces = interfaces.Select(spec => Complete(spec, netdev, netprefix)).ToArray();
        var config = new GuestConfig(Validate.GuestName(name)) { InitStyle = InitStyle.Auto };
        settings.ApplyTo(config);
        GuestUsers.ApplyDefault(config, settings, store, reporter);
        if (m == BuildMethod.Clone && source is not null)
        {
            source = store.ResolveCloneSource(source);
        }
        var builder = RootBuilders.For(m, source: source, debootstrap: m == BuildMethod.Debootstrap
            ? new DebootstrapOptions { Distribution = dist, Mirror = mirror, Include = include, CacheRoot = Path.Combine(store.Paths.VdirRoot, ".cache") }
            : null);
        var guest = store.Create(config, builder, reporter, cancel);
        Console.WriteLine($"vserver: guest '{guest.Name}' built with {m} (context {guest.Context}, root {guest.Root})");
        return 0;
    }

    /// <summary><c>10.0.1.1</c> with --netdev eth0 --netprefix 23 is <c>eth0:10.0.1.1/23</c>; a spec's own device or prefix wins.</summary>
    internal static string Complete(string spec, string? netdev, string? netprefix)
    {
        var eq = spec.IndexOf('=');
        var name = eq >= 0 ? spec[..(eq + 1)] : "";
        var rest = eq >= 0 ? spec[(eq + 1)..] : spec;
        var hasDevice = rest.Contains(':') && !System.Net.IPAddress.TryParse(rest.Split('/')[0], out _);
        if (!hasDevice && netdev is not null)
        {
            rest = netdev + ":" + rest;
        }
        if (!rest.Contains('/') && netprefix is not null)
        {
            rest += "/" + netprefix;
        }
        return name + rest;
    }
}
