using System.Diagnostics;
using System.IO.Compression;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Build;

/// <summary>
/// The Archive method: a root filesystem tarball (<c>.tar</c>, <c>.tar.gz</c>, <c>.tar.xz</c>,
/// <c>.tar.zst</c>) unpacked into the staging root. The archive is hostile (it may come from a
/// guest): every member is checked first, and the whole archive is refused, naming the member,
/// when one would land outside the root — an absolute name, a <c>..</c> component, a path that runs
/// through a symlink member of the archive, a hard link to outside. Only then does GNU tar unpack
/// it, keeping owners (numeric), modes, xattrs, ACLs, hard links and device nodes.
/// </summary>
public sealed class ArchiveBuilder : IRootBuilder
{
    public ArchiveBuilder(string source) => Source = source;

    public string Source { get; }

    public BuildMethod Method => BuildMethod.Archive;

    /// <summary>How the archive is compressed, from its name: "", gz, xz or zst.</summary>
    public static string Compression(string file)
    {
        var name = Path.GetFileName(file).ToLowerInvariant();
        return name switch
        {
            _ when name.EndsWith(".tar", StringComparison.Ordinal) => "",
            _ when name.EndsWith(".tar.gz", StringComparison.Ordinal) || name.EndsWith(".tgz", StringComparison.Ordinal) => "gz",
            _ when name.EndsWith(".tar.xz", StringComparison.Ordinal) || name.EndsWith(".txz", StringComparison.Ordinal) => "xz",
            _ when name.EndsWith(".tar.zst", StringComparison.Ordinal) || name.EndsWith(".tzst", StringComparison.Ordinal) => "zst",
            _ => throw new VServerException("UnknownArchiveFormat", ErrorKind.InvalidArgument,
                $"'{file}' is not a .tar, .tar.gz, .tar.xz or .tar.zst file.", file),
        };
    }

    public void Preflight()
    {
        var compression = Compression(Source);
        if (!File.Exists(Source) || new FileInfo(Source).LinkTarget is not null)
        {
            throw new VServerException("SourceNotFound", ErrorKind.ObjectNotFound, $"Archive '{Source}' is not a file.", Source);
        }
        RequireTools(compression, $"to unpack '{Source}'");
    }

    /// <summary>
    /// The programs a tar archive of <paramref name="compression"/> needs: tar, the compressor tar
    /// runs (gzip, xz, zstd), and <paramref name="more"/>; the first one missing is refused by name.
    /// </summary>
    internal static void RequireTools(string compression, string purpose, params string[] more)
    {
        foreach (var tool in new[] { "tar", compression switch { "gz" => "gzip", "xz" => "xz", "zst" => "zstd", _ => null } }.Concat(more).OfType<string>())
        {
            if (HostProcess.Find(tool) is null)
            {
                throw new VServerException("ArchiveToolNotFound", ErrorKind.NotInstalled, $"{tool} is needed {purpose}.", tool);
            }
        }
    }

    /// <summary>tar's option for <paramref name="compression"/> (<see cref="Compression"/>): --gzip, --xz, --zstd, or none.</summary>
    internal static IEnumerable<string> CompressOption(string compression) => compression switch
    {
        "gz" => new[] { "--gzip" },
        "xz" => new[] { "--xz" },
        "zst" => new[] { "--zstd" },
        _ => Array.Empty<string>(),
    };

    /// <summary>tar's arguments that unpack <paramref name="file"/> into <paramref name="directory"/> keeping numeric owners, modes, xattrs and ACLs.</summary>
    internal static List<string> ExtractArgs(string file, string directory)
    {
        var args = new List<string> { "--extract", "--file=" + file, "--directory=" + directory, "--numeric-owner", "--same-owner",
            "--preserve-permissions", "--xattrs", "--xattrs-include=*", "--acls", "--delay-directory-restore" };
        args.AddRange(CompressOption(Compression(file)));
        return args;
    }

    public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel)
    {
        var activity = "Building guest " + config.Name;
        reporter.Progress(activity, $"Checking every member of {Source}", 5);
        var members = Check(Source, cancel);
        reporter.Progress(activity, $"Unpacking {members} members", 40);
        var r = HostProcess.Run(HostProcess.Find("tar")!, ExtractArgs(Source, root.HostPath), cancel);
        if (r.ExitCode != 0)
        {
            throw new VServerException("ArchiveUnpackFailed", ErrorKind.WriteError,
                $"Unpacking {Source} for guest '{config.Name}' failed: {OciRuntime.FirstLine(r.StandardError, "tar exited " + r.ExitCode)}", config.Name);
        }
        reporter.Progress(activity, "Giving the guest its own identity", 95);
        GuestIdentity.Renew(root, reporter);
        reporter.Progress(activity, "Done", 100);
    }

    /// <summary>Reads every member and refuses the archive at the first one that would land outside the root. Returns the member count.</summary>
    public static int Check(string file, CancellationToken cancel = default) => Scan(file, null, cancel);

    /// <summary>
    /// <see cref="Check"/>, calling <paramref name="visit"/> with each member and its clean name
    /// ("./etc/x" → "etc/x") after the member passed, for checks of the caller's own (which throw).
    /// </summary>
    public static int Scan(string file, Action<TarMember, string>? visit, CancellationToken cancel = default)
    {
        var compression = Compression(file);
        using var raw = File.OpenRead(file);
        Process? decompressor = null;
        Stream stream = raw;
        try
        {
            switch (compression)
            {
                case "gz":
                    stream = new GZipStream(raw, CompressionMode.Decompress);
                    break;
                case "xz":
                case "zst":
                    decompressor = Process.Start(new ProcessStartInfo(HostProcess.Find(compression == "xz" ? "xz" : "zstd")!)
                    {
                        ArgumentList = { "-dc", "--", file },
                        RedirectStandardOutput = true,
                        UseShellExecute = false,
                    })!;
                    stream = decompressor.StandardOutput.BaseStream;
                    break;
            }
            var symlinks = new HashSet<string>(StringComparer.Ordinal);
            var count = 0;
            foreach (var entry in TarScanner.Members(stream))
            {
                cancel.ThrowIfCancellationRequested();
                count++;
                var name = Member(file, entry.Name, entry.Name);
                if (name.Length == 0)
                {
                    visit?.Invoke(entry, name);
                    continue; // "./" itself
                }
                // a member under a symlink member would be written wherever that link points
                if (ThroughSymlink(Path.GetDirectoryName(name), symlinks) is string link)
                {
                    throw Refused(file, entry.Name, $"its path runs through the symlink member '{link}'");
                }
                switch (entry)
                {
                    case { IsSymlink: true }:
                        symlinks.Add(name); // its target is data inside the guest, never followed here
                        break;
                    case { IsHardLink: true }:
                        if (ThroughSymlink(Member(file, entry.LinkName, entry.Name), symlinks) is not null)
                        {
                            throw Refused(file, entry.Name, $"it is a hard link to '{entry.LinkName}', which runs through a symlink member");
                        }
                        break;
                    default:
                        symlinks.Remove(name); // replaced by a file or directory of the same name
                        break;
                }
                visit?.Invoke(entry, name);
            }
            return count;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or ArgumentException)
        {
            throw new VServerException("InvalidArchive", ErrorKind.InvalidData, $"'{file}' is not a readable tar archive: {e.Message}", file, e);
        }
        finally
        {
            if (stream != raw)
            {
                stream.Dispose();
            }
            if (decompressor is not null)
            {
                if (!decompressor.HasExited)
                {
                    decompressor.Kill();
                }
                decompressor.WaitForExit();
                decompressor.Dispose();
            }
        }
    }

    /// <summary>The symlink member that <paramref name="path"/> is, or lies under; null when none.</summary>
    private static string? ThroughSymlink(string? path, HashSet<string> symlinks)
    {
        for (var p = path; !string.IsNullOrEmpty(p); p = Path.GetDirectoryName(p))
        {
            if (symlinks.Contains(p))
            {
                return p;
            }
        }
        return null;
    }

    /// <summary>A member name as a clean path inside the root ("./etc/x" → "etc/x"), or refused.</summary>
    private static string Member(string file, string value, string member)
    {
        if (value.StartsWith('/'))
        {
            throw Refused(file, member, $"'{value}' is an absolute name");
        }
        var parts = value.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Contains(".."))
        {
            throw Refused(file, member, $"'{value}' climbs out with '..'");
        }
        return string.Join('/', parts);
    }

    private static VServerException Refused(string file, string member, string why) => new("ArchiveMemberRefused", ErrorKind.InvalidData,
        $"Archive '{file}' is refused: its member '{member}' would land outside the guest's root ({why}). Nothing was unpacked.", member);
}
