using System.Globalization;
using System.Text.RegularExpressions;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Build;

/// <summary>What a Debootstrap build installs.</summary>
public sealed record DebootstrapOptions
{
    /// <summary>The release codename (bookworm); null: the host's own (VERSION_CODENAME of /etc/os-release).</summary>
    public string? Distribution { get; init; }

    /// <summary>The mirror; null: the first Debian mirror of the host's apt sources.</summary>
    public string? Mirror { get; init; }

    /// <summary>debootstrap's variant: minbase by default.</summary>
    public string Variant { get; init; } = "minbase";

    /// <summary>More packages (debootstrap --include).</summary>
    public IReadOnlyList<string> Include { get; init; } = Array.Empty<string>();

    /// <summary>Where downloaded packages are kept for the next build of the same distribution and architecture.</summary>
    public string? CacheRoot { get; init; }
}

/// <summary>
/// The Debootstrap method (util-vserver's <c>build -m debootstrap</c>): Debian's debootstrap from an
/// argument list, never a shell, into the staging root, so a refused or interrupted build leaves
/// nothing. Its <c>I:</c> lines are the progress; its failure names the step and its log's last
/// lines. Downloaded packages are kept per distribution and architecture under the vdir root's
/// <c>.cache/</c>. The new tree gets its own machine-id and SSH host keys.
/// </summary>
public sealed partial class DebootstrapBuilder : IRootBuilder
{
    public DebootstrapBuilder(DebootstrapOptions options)
    {
        Distribution = Name(options.Distribution ?? HostDistribution(), "distribution");
        Mirror = ValidMirror(options.Mirror ?? AptSources.FirstDebianMirror(Distribution));
        Variant = options.Variant is "minbase" or "buildd" or "fakechroot" ? options.Variant
            : throw new VServerException("InvalidVariant", ErrorKind.InvalidArgument, $"'{options.Variant}' is not a debootstrap variant (minbase, buildd, fakechroot).", options.Variant);
        Include = options.Include.Select(p => Name(p, "package")).ToArray();
        CacheRoot = options.CacheRoot;
    }

    public string Distribution { get; }
    public string Mirror { get; }
    public string Variant { get; }
    public IReadOnlyList<string> Include { get; }
    public string? CacheRoot { get; }

    public BuildMethod Method => BuildMethod.Debootstrap;

    [GeneratedRegex("^[a-z0-9][a-z0-9.+-]{0,63}$")]
    private static partial Regex NamePattern();

    private static string Name(string value, string what) => NamePattern().IsMatch(value) ? value
        : throw new VServerException("InvalidDebootstrapArgument", ErrorKind.InvalidArgument, $"'{value}' is not a valid {what} name.", value);

    private static string ValidMirror(string mirror) =>
        Uri.TryCreate(mirror, UriKind.Absolute, out var u) && u.Scheme is "http" or "https" or "file" && !mirror.Contains(' ') ? mirror
            : throw new VServerException("InvalidMirror", ErrorKind.InvalidArgument, $"'{mirror}' is not a mirror URL (http, https or file).", mirror);

    /// <summary>VERSION_CODENAME of the host's /etc/os-release (read as data).</summary>
    public static string HostDistribution()
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/os-release"))
            {
                if (line.StartsWith("VERSION_CODENAME=", StringComparison.Ordinal))
                {
                    var v = line["VERSION_CODENAME=".Length..].Trim().Trim('"');
                    if (v.Length > 0)
                    {
                        return v;
                    }
                }
            }
        }
        catch (IOException)
        {
        }
        throw new VServerException("DistributionUnknown", ErrorKind.InvalidArgument, "The host's /etc/os-release names no VERSION_CODENAME: give -Distribution.", "/etc/os-release");
    }

    public void Preflight()
    {
        if (HostProcess.Find("debootstrap") is null)
        {
            throw new VServerException("DebootstrapNotFound", ErrorKind.NotInstalled, "debootstrap is not installed (Debian package 'debootstrap').", "debootstrap");
        }
        if (Native.Sys.GetEuid() != 0)
        {
            throw new VServerException("NeedsRoot", ErrorKind.PermissionDenied, "debootstrap needs root (it creates device nodes and chroots).", "debootstrap");
        }
    }

    public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel)
    {
        var activity = "Building guest " + config.Name;
        var args = new List<string> { "--variant=" + Variant };
        if (Include.Count > 0)
        {
            args.Add("--include=" + string.Join(',', Include));
        }
        if (CacheRoot is not null)
        {
            var arch = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
            {
                System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
                _ => "amd64",
            };
            var cache = Path.Combine(CacheRoot, "debootstrap", Distribution + "-" + arch);
            Directory.CreateDirectory(cache);
            args.Add("--cache-dir=" + cache);
        }
        args.AddRange(new[] { Distribution, root.HostPath, Mirror });
        reporter.Progress(activity, $"debootstrap {Distribution} from {Mirror}", 1);
        var step = "start";
        var count = 0;
        // debootstrap runs on a worker; its lines come back here, the only thread that may report
        using var lines = new System.Collections.Concurrent.BlockingCollection<string>();
        var run = Task.Run(() =>
        {
            try
            {
                return HostProcess.Run(HostProcess.Find("debootstrap")!, args, cancel, lines.Add);
            }
            finally
            {
                lines.CompleteAdding();
            }
        });
        foreach (var line in lines.GetConsumingEnumerable())
        {
            // I: Retrieving …, I: Extracting …, I: Configuring …
            if (line.StartsWith("I: ", StringComparison.Ordinal))
            {
                step = line[3..];
                reporter.Progress(activity, step, Math.Min(95, 1 + ++count / 4));
            }
        }
        var r = run.GetAwaiter().GetResult();
        if (r.ExitCode != 0)
        {
            var log = "";
            try
            {
                var text = System.Text.Encoding.UTF8.GetString(root.ReadFile("debootstrap/debootstrap.log", 1 << 22));
                log = string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(5));
            }
            catch (VServerException)
            {
            }
            throw new VServerException("DebootstrapFailed", ErrorKind.InvalidOperation,
                $"debootstrap of {Distribution} for guest '{config.Name}' failed at '{step}' ({OciRuntime.FirstLine(r.StandardError, "exit " + r.ExitCode.ToString(CultureInfo.InvariantCulture))}). Log: {(log.Length > 0 ? log : "(none)")}", config.Name);
        }
        reporter.Progress(activity, "Giving the guest its own identity", 97);
        GuestIdentity.Renew(root, reporter);
        reporter.Progress(activity, "Done", 100);
    }
}

/// <summary>The host's apt sources, read as data: the one-line format (.list) and deb822 (.sources).</summary>
public static class AptSources
{
    /// <summary>The first Debian archive mirror (not the security archive) serving <paramref name="distribution"/>, else the first one at all.</summary>
    public static string FirstDebianMirror(string distribution, string etcApt = "/etc/apt")
    {
        var found = Read(etcApt).Where(s => !s.Uri.Contains("security", StringComparison.OrdinalIgnoreCase)).ToList();
        var best = found.FirstOrDefault(s => s.Suites.Contains(distribution)) ?? found.FirstOrDefault();
        return best?.Uri ?? throw new VServerException("MirrorUnknown", ErrorKind.InvalidArgument,
            $"No Debian mirror in {etcApt}/sources.list or sources.list.d: give -Mirror.", etcApt);
    }

    public sealed record Source(string Uri, IReadOnlyList<string> Suites);

    public static IEnumerable<Source> Read(string etcApt)
    {
        var files = new List<string>();
        if (File.Exists(Path.Combine(etcApt, "sources.list")))
        {
            files.Add(Path.Combine(etcApt, "sources.list"));
        }
        var d = Path.Combine(etcApt, "sources.list.d");
        if (Directory.Exists(d))
        {
            files.AddRange(Directory.GetFiles(d).Where(f => f.EndsWith(".list", StringComparison.Ordinal) || f.EndsWith(".sources", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        }
        foreach (var f in files)
        {
            var text = File.ReadAllText(f);
            foreach (var s in f.EndsWith(".sources", StringComparison.Ordinal) ? ParseDeb822(text) : ParseOneLine(text))
            {
                yield return s;
            }
        }
    }

    /// <summary><c>deb [options] URI SUITE COMPONENT…</c> lines.</summary>
    public static IEnumerable<Source> ParseOneLine(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Split('#')[0].Trim();
            if (!line.StartsWith("deb ", StringComparison.Ordinal) && !line.StartsWith("deb\t", StringComparison.Ordinal))
            {
                continue;
            }
            line = line[3..].Trim();
            if (line.StartsWith('['))
            {
                var end = line.IndexOf(']');
                line = end < 0 ? "" : line[(end + 1)..].Trim();
            }
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2)
            {
                yield return new Source(parts[0], new[] { parts[1] });
            }
        }
    }

    /// <summary>deb822 stanzas: Types, URIs, Suites (and Enabled: no).</summary>
    public static IEnumerable<Source> ParseDeb822(string text)
    {
        foreach (var stanza in text.Replace("\r", "").Split("\n\n"))
        {
            var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            string? last = null;
            foreach (var raw in stanza.Split('\n'))
            {
                if (raw.StartsWith('#') || raw.Trim().Length == 0)
                {
                    continue;
                }
                if ((raw.StartsWith(' ') || raw.StartsWith('\t')) && last is not null)
                {
                    fields[last] += " " + raw.Trim();
                    continue;
                }
                var colon = raw.IndexOf(':');
                if (colon > 0)
                {
                    last = raw[..colon].Trim();
                    fields[last] = raw[(colon + 1)..].Trim();
                }
            }
            if (!fields.TryGetValue("Types", out var types) || !types.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("deb") ||
                (fields.TryGetValue("Enabled", out var enabled) && enabled.Equals("no", StringComparison.OrdinalIgnoreCase)) ||
                !fields.TryGetValue("URIs", out var uris) || !fields.TryGetValue("Suites", out var suites))
            {
                continue;
            }
            var suiteList = suites.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var uri in uris.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                yield return new Source(uri, suiteList);
            }
        }
    }
}
