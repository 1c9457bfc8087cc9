using System.Globalization;
using System.Text;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>What Install-VServerHostService did.</summary>
public sealed record HostServiceResult(string UnitPath, string WantsLink, bool UnitChanged, bool LinkChanged);

/// <summary>
/// The systemd unit that starts the marked guests when the host boots (<c>vserver boot</c>) and
/// stops every guest when it shuts down (<c>vserver shutdown SECONDS</c>, in parallel), enabled
/// as <c>systemctl enable</c> does it: a link in <c>multi-user.target.wants</c>. VServer writes
/// only its own unit: a file of that name that it did not write is the administrator's.
/// </summary>
public static class HostService
{
    public const string UnitName = "vserver-guests.service";

    /// <summary>The first line of every unit VServer writes; a file without it is not VServer's.</summary>
    public const string Marker = "# Written by Install-VServerHostService (VServer); Install-VServerHostService rewrites it.";

    public static string Render(VServerPaths paths, string cli, int stopSeconds)
    {
        static string Quote(string s) => s.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+:@=".Contains(c)) ? s : "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        var sb = new StringBuilder()
            .Append(Marker).Append('\n')
            .Append("[Unit]\n")
            .Append("Description=VServer guests: the marked ones at boot (apps/init/mark default), all of them stopped at shutdown\n")
            .Append("Wants=network-online.target\n")
            .Append("After=network-online.target local-fs.target remote-fs.target nftables.service\n\n")
            .Append("[Service]\n")
            .Append("Type=oneshot\n")
            .Append("RemainAfterExit=yes\n");
        foreach (var (name, value, fallback) in new[]
        {
            ("VSERVER_CONFIG_ROOT", paths.ConfigRoot, VServerPaths.DefaultConfigRoot),
            ("VSERVER_VDIR_ROOT", paths.VdirRoot, VServerPaths.DefaultVdirRoot),
            ("VSERVER_RUN_ROOT", paths.RunRoot, VServerPaths.DefaultRunRoot),
        })
        {
            if (value != fallback)
            {
                sb.Append("Environment=").Append(Quote(name + "=" + value)).Append('\n');
            }
        }
        return sb
            .Append("ExecStart=").Append(Quote(cli)).Append(" boot\n")
            .Append("ExecStop=").Append(Quote(cli)).Append(" shutdown ").Append(stopSeconds.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append("TimeoutStartSec=infinity\n")
            .Append("TimeoutStopSec=").Append((stopSeconds + 30).ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append("KillMode=process\n\n")
            .Append("[Install]\n")
            .Append("WantedBy=multi-user.target\n")
            .ToString();
    }

    /// <param name="root">The system's root ("/"; another directory, as <c>systemctl --root</c>, for an image or a test).</param>
    /// <param name="force">Replace a file or link of that name that VServer did not write.</param>
    public static HostServiceResult Install(string root, VServerPaths paths, string cli, int stopSeconds, bool force, IOperationReporter? reporter = null)
    {
        reporter ??= NullReporter.Instance;
        var dir = Path.Combine(root, "etc/systemd/system");
        var unit = Path.Combine(dir, UnitName);
        var wantsDir = Path.Combine(dir, "multi-user.target.wants");
        var link = Path.Combine(wantsDir, UnitName);
        var linkTarget = "/etc/systemd/system/" + UnitName; // as systemctl enable makes it, also under another root
        var content = Render(paths, cli, stopSeconds);

        var info = new FileInfo(unit);
        string? existing = null;
        if (info.LinkTarget is not null || Directory.Exists(unit))
        {
            if (!force)
            {
                throw new VServerException("UnitNotOurs", ErrorKind.ResourceExists, $"{unit} is not a file VServer wrote; give -Force to replace it.", unit);
            }
        }
        else if (info.Exists)
        {
            existing = File.ReadAllText(unit);
            if (!existing.StartsWith(Marker, StringComparison.Ordinal) && !force)
            {
                throw new VServerException("UnitNotOurs", ErrorKind.ResourceExists,
                    $"{unit} exists and VServer did not write it (its first line is not VServer's mark); it is left as it is. Give -Force to replace it.", unit);
            }
        }
        var linkInfo = new FileInfo(link);
        if ((linkInfo.Exists || linkInfo.LinkTarget is not null || Directory.Exists(link)) && linkInfo.LinkTarget != linkTarget && !force)
        {
            throw new VServerException("UnitNotOurs", ErrorKind.ResourceExists, $"{link} exists and is not the link systemctl enable makes; give -Force to replace it.", link);
        }
        var unitChanged = existing != content;
        if (unitChanged)
        {
            Directory.CreateDirectory(dir);
            if (info.LinkTarget is not null || Directory.Exists(unit))
            {
                SafeRemove.RemoveTree(unit);
            }
            AtomicFile.WriteAllText(unit, content);
            File.SetUnixFileMode(unit, (UnixFileMode)0x1A4); // 0644
        }
        var linkChanged = linkInfo.LinkTarget != linkTarget;
        if (linkChanged)
        {
            Directory.CreateDirectory(wantsDir);
            var tmp = link + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
            File.CreateSymbolicLink(tmp, linkTarget);
            if (Directory.Exists(link) && new DirectoryInfo(link).LinkTarget is null)
            {
                SafeRemove.RemoveTree(link);
            }
            Native.Sys.Rename(tmp, link);
        }
        // a running systemd reads the new unit now; elsewhere (an image, no systemd) at its next start
        if (root == "/" && Directory.Exists("/run/systemd/system") && (unitChanged || linkChanged) && HostProcess.Find("systemctl") is string systemctl)
        {
            var r = HostProcess.Run(systemctl, new[] { "daemon-reload" });
            if (r.ExitCode != 0)
            {
                reporter.Warning($"systemctl daemon-reload failed: {OciRuntime.FirstLine(r.StandardError, "exit " + r.ExitCode)}; run it before the next boot.");
            }
        }
        return new HostServiceResult(unit, link, unitChanged, linkChanged);
    }
}
