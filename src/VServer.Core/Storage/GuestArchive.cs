using System.Globalization;
using System.Text;
using VServer.Build;
using VServer.Config;
using VServer.Runtime;

namespace VServer.Storage;

/// <summary>What an export wrote.</summary>
public sealed record ExportResult(string Name, string Path, long Bytes, TimeSpan Duration, bool Frozen);

/// <summary>
/// One guest, configuration and root, in one tar archive (the format of Export-VServerGuest,
/// Import-VServerGuest and <c>vserver NAME export|import</c>):
/// <list type="bullet">
/// <item><c>.vserver-export</c> first: <c>format 1</c>, then <c>name</c>, <c>context</c>,
/// <c>exported</c> (ISO 8601) and <c>host</c> lines;</item>
/// <item><c>config/…</c>: the configuration directory, its files byte for byte;</item>
/// <item><c>root/…</c>: the guest's root with numeric owners, modes, xattrs, ACLs, hard links,
/// device nodes and sparse files (GNU tar, POSIX format).</item>
/// </list>
/// Compressed by the file's name: <c>.tar</c>, <c>.tar.gz</c>, <c>.tar.xz</c>, <c>.tar.zst</c>.
/// An import treats the archive as hostile: every member is checked before anything is unpacked.
/// </summary>
public static class GuestArchive
{
    public const string ManifestName = ".vserver-export";
    public const int Format = 1;

    /// <summary>Links of a configuration directory that name places on the exporting host: dropped at an import (the root is placed anew).</summary>
    private static readonly string[] HostLinks = { "vdir", "run", "cache" };

    /// <summary>
    /// Writes the guest to <paramref name="path"/>. A running guest is refused unless
    /// <paramref name="force"/>, which freezes its cgroup while it is read (so the copy is taken
    /// at one instant, as after a power cut) and thaws it after. The archive appears whole or not
    /// at all; an existing file is replaced only with <paramref name="force"/>.
    /// </summary>
    public static ExportResult Export(GuestStore store, string name, string path, bool force, IOperationReporter? reporter = null, CancellationToken cancel = default) =>
        Export(store, name, path, force, stream: null, reporter, cancel);

    /// <summary>
    /// <paramref name="stream"/>: tar writes, uncompressed, straight into this FIFO (Move-VServerGuest's
    /// ssh reads it), with no file of its own and no rename; <paramref name="path"/> is then only a name.
    /// </summary>
    internal static ExportResult Export(GuestStore store, string name, string path, bool force, string? stream, IOperationReporter? reporter, CancellationToken cancel)
    {
        reporter ??= NullReporter.Instance;
        Validate.ExistingGuestName(name);
        var compression = ArchiveBuilder.Compression(path);
        path = Path.GetFullPath(path);
        var c = store.ReadConfig(name);
        if (c.Template is not null)
        {
            throw new VServerException("ExportNotSupported", ErrorKind.InvalidOperation,
                $"Guest '{name}' is built on the template {c.Template}: its root is an overlay of shared layers, which an export does not carry. Nothing was written.", name);
        }
        if (stream is null && (Directory.Exists(path) || (File.Exists(path) && !force)))
        {
            throw new VServerException("ArchiveExists", ErrorKind.ResourceExists, $"{path} already exists; give another path, or -Force to replace the file.", path);
        }
        if (stream is null && !Directory.Exists(Path.GetDirectoryName(path)))
        {
            throw new VServerException("PathNotFound", ErrorKind.ObjectNotFound, $"The directory of {path} does not exist.", path);
        }
        ArchiveBuilder.RequireTools(compression, "for a guest archive (Debian packages tar, util-linux, gzip, xz-utils, zstd)", "unshare");
        var root = store.RootOf(c);
        if (!Directory.Exists(root) || new DirectoryInfo(root).LinkTarget is not null)
        {
            throw new VServerException("RootNotFound", ErrorKind.ObjectNotFound, $"Guest '{name}': its root {root} is not a directory.", name);
        }
        var run = new RunDirectory(store.Paths, name);
        using var guestLock = run.Lock(); // no start while it is read
        var cgroup = Cgroups.PathFor(store.Paths, name);
        var running = run.Status().State == GuestState.Running || Cgroups.Processes(cgroup).Count > 0;
        if (running && !force)
        {
            throw new VServerException("GuestRunning", ErrorKind.InvalidOperation,
                $"Guest '{name}' is running: stop it first, or give -Force to freeze it while it is read (the copy is then as after a power cut). Nothing was written.", name);
        }

        var token = Guid.NewGuid().ToString("N")[..12];
        var partial = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".partial-" + token);
        var work = Path.Combine(Path.GetTempPath(), "vserver-export-" + token);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var activity = $"Exporting guest {name} to {path}";
        try
        {
            Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.CreateDirectory(Path.Combine(work, "config"));
            Directory.CreateDirectory(Path.Combine(work, "root"));
            File.WriteAllText(Path.Combine(work, ManifestName), Manifest(name, c.Context));
            using (running ? Cgroups.Freeze(cgroup, TimeSpan.FromSeconds(30)) : null)
            {
                // the configuration and the root are bind-mounted as config/ and root/ in a mount
                // namespace of the export's own (gone with it), so tar names every member by its
                // place in the archive and never follows a link; --one-file-system keeps host
                // mounts under the root out
                var args = new List<string>
                {
                    "--mount", "--propagation", "private", "/bin/sh", "-c",
                    "mount --bind -- \"$1\" \"$3/config\" && mount --bind -- \"$2\" \"$3/root\" && cd -- \"$3\" && shift 3 && exec \"$0\" \"$@\"",
                    HostProcess.Find("tar")!, store.Paths.ConfigDir(name), root, work,
                    "--create", "--file=" + (stream ?? partial), "--format=posix", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
                    "--sparse", "--one-file-system",
                };
                args.AddRange(ArchiveBuilder.CompressOption(compression));
                args.AddRange(new[] { "--", ManifestName, "config", "root" });
                var r = HostProcess.Run(HostProcess.Find("unshare")!, args, cancel, onTick: () =>
                {
                    var written = File.Exists(partial) ? new FileInfo(partial).Length : 0;
                    reporter.Progress(activity, $"{written:N0} bytes written", -1);
                });
                if (r.ExitCode != 0)
                {
                    throw new VServerException("ExportFailed", ErrorKind.WriteError,
                        $"Exporting guest '{name}' to {path} failed: {OciRuntime.FirstLine(r.StandardError, "tar exited " + r.ExitCode)}. Nothing was written.", name);
                }
            }
            cancel.ThrowIfCancellationRequested();
            if (stream is not null)
            {
                return new ExportResult(name, path, 0, sw.Elapsed, running);
            }
            File.Move(partial, path, overwrite: true);
            var bytes = new FileInfo(path).Length;
            reporter.Progress(activity, $"{bytes:N0} bytes written", 100);
            return new ExportResult(name, path, bytes, sw.Elapsed, running);
        }
        finally
        {
            if (stream is null)
            {
                File.Delete(partial);
            }
            SafeRemove.RemoveTree(work);
        }
    }

    private static string Manifest(string name, int? context) => new StringBuilder()
        .Append("format ").Append(Format).Append('\n')
        .Append("name ").Append(name).Append('\n')
        .Append("context ").Append(context?.ToString(CultureInfo.InvariantCulture) ?? "").Append('\n')
        .Append("exported ").Append(DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture)).Append('\n')
        .Append("host ").Append(Environment.MachineName).Append('\n')
        .ToString();

    /// <summary>What an export's manifest says: the guest's name and context on the host it came from.</summary>
    public sealed record ArchiveInfo(string Name, int? Context, int Members);

    /// <summary>
    /// Reads the archive's manifest and checks every member: only <c>.vserver-export</c>,
    /// <c>config/…</c> and <c>root/…</c>; nothing under <c>root/</c> that would land outside it
    /// (absolute names, <c>..</c>, paths through a symlink member, hard links through one); in
    /// <c>config/</c> only directories, regular files and the links util-vserver keeps there
    /// (<c>vdir</c>, <c>run</c>, <c>cache</c>, <c>apps/vunify/refserver.*</c>). Refused whole, naming the member.
    /// </summary>
    public static ArchiveInfo Inspect(string file, CancellationToken cancel = default)
    {
        ArchiveBuilder.RequireTools(ArchiveBuilder.Compression(file), "for a guest archive (Debian packages tar, gzip, xz-utils, zstd)");
        if (!File.Exists(file) || new FileInfo(file).LinkTarget is not null)
        {
            throw new VServerException("SourceNotFound", ErrorKind.ObjectNotFound, $"Archive '{file}' is not a file.", file);
        }
        var count = 0;
        var first = true;
        ArchiveBuilder.Scan(file, (member, clean) =>
        {
            cancel.ThrowIfCancellationRequested();
            count++;
            if (first)
            {
                first = false;
                if (clean != ManifestName || member.Type is not ('0' or '\0'))
                {
                    throw NotAnExport(file, $"its first member is '{member.Name}', not {ManifestName}");
                }
                return;
            }
            var top = clean.Split('/')[0];
            if (top is not ("root" or "config"))
            {
                throw NotAnExport(file, $"its member '{member.Name}' is neither under config/ nor under root/");
            }
            if (member.IsHardLink && !(top == "root" && member.LinkName.TrimStart('.', '/').StartsWith("root/", StringComparison.Ordinal)))
            {
                throw Refused(file, member, $"a hard link to '{member.LinkName}', outside the root part");
            }
            if (top == "root")
            {
                return;
            }
            var rel = clean.Length > "config".Length ? clean["config/".Length..] : "";
            var ok = member.Type switch
            {
                '0' or '\0' or '5' when rel.Length == 0 => member.Type == '5',
                '0' or '\0' => true, // vdir, run and cache as files too: dropped at the import
                '5' => !HostLinks.Contains(rel),
                '2' => HostLinks.Contains(rel) || (rel.StartsWith("apps/vunify/refserver.", StringComparison.Ordinal) && rel.IndexOf('/', "apps/vunify/".Length) < 0),
                _ => false,
            };
            if (!ok)
            {
                throw Refused(file, member, $"a {TypeName(member.Type)}; a configuration directory holds only directories, files and util-vserver's own links");
            }
        }, cancel);
        if (first)
        {
            throw NotAnExport(file, "it is empty");
        }
        var manifest = ReadMember(file, ManifestName, cancel);
        var fields = manifest.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1].Trim());
        if (!fields.TryGetValue("format", out var format) || format != Format.ToString(CultureInfo.InvariantCulture))
        {
            throw NotAnExport(file, $"its {ManifestName} gives format '{VisibleText.Of(fields.GetValueOrDefault("format") ?? "")}', and this VServer reads format {Format}");
        }
        var name = fields.GetValueOrDefault("name") ?? "";
        int? context = fields.TryGetValue("context", out var cx) && int.TryParse(cx, NumberStyles.None, CultureInfo.InvariantCulture, out var x) ? x : null;
        return new ArchiveInfo(name, context, count);
    }

    /// <summary>
    /// Makes a guest from an export: checked whole first (<see cref="Inspect"/>), then built as every
    /// guest is, in staging directories renamed into place (nothing is left on a refusal or a
    /// failure). The configuration's files come through byte for byte; what named places on the
    /// other host (<c>vdir</c>, <c>run</c>, <c>cache</c>) is dropped, the root goes to the default
    /// place under the vdir root, and the name and context are the archive's unless given.
    /// Scripts in the configuration run on this host at the guest's start: each is named in a warning.
    /// </summary>
    public static Guest Import(GuestStore store, string file, string? name = null, int? context = null, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        file = Path.GetFullPath(file);
        var activity = "Importing " + file;
        reporter.Progress(activity, "Checking every member", 5);
        var info = Inspect(file, cancel);
        name ??= info.Name;
        Validate.GuestName(name);
        if (context is int want and not 0)
        {
            Validate.Context(want);
        }
        // the configuration is read and checked as any guest's, from a private copy, before anything is made
        var check = Path.Combine(Path.GetTempPath(), "vserver-import-" + Guid.NewGuid().ToString("N")[..12]);
        GuestConfig config;
        try
        {
            Directory.CreateDirectory(check, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            ExtractConfig(file, check, cancel);
            config = ConfigDirectory.Read(check, name, store.Paths);
            foreach (var script in Scripts(check))
            {
                reporter.Warning($"Guest '{name}': its configuration brings the script {script}, which runs on this host at the guest's start and stop; read it before you start the guest.");
            }
        }
        finally
        {
            SafeRemove.RemoveTree(check);
        }
        config.Root = null;
        config.Context = context ?? info.Context;
        if (context is null && config.Context is int archived && store.ContextsInUse().TryGetValue(archived, out var holder))
        {
            throw new VServerException("ContextInUse", ErrorKind.ResourceExists,
                $"The archive's context {archived} is already used by guest '{holder}' on this host; give another with -Context (or 0 for a free one). Nothing was imported.", archived);
        }
        if (context == 0)
        {
            config.Context = null; // a free one, handed out as at a create
        }
        reporter.Progress(activity, $"Unpacking {info.Members} members", 30);
        return store.Create(config, new ExportRootBuilder(file), reporter, cancel, seedConfig: dir =>
        {
            ExtractConfig(file, dir, cancel);
            foreach (var link in HostLinks)
            {
                File.Delete(Path.Combine(dir, link)); // a link or a file (Inspect refused a directory of these names)
            }
        });
    }

    /// <summary>The root part of an export, unpacked into the staging root (members already checked); the guest keeps its identity (machine-id, keys).</summary>
    private sealed class ExportRootBuilder(string file) : IRootBuilder
    {
        public BuildMethod Method => BuildMethod.Archive;

        public void Preflight() { }

        public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel) =>
            Extract(file, root.HostPath, "root", cancel);
    }

    private static void ExtractConfig(string file, string dir, CancellationToken cancel) => Extract(file, dir, "config", cancel);

    /// <summary>The members under <paramref name="part"/>/, unpacked into <paramref name="dir"/> with owners, modes, xattrs and ACLs.</summary>
    private static void Extract(string file, string dir, string part, CancellationToken cancel)
    {
        var args = ArchiveBuilder.ExtractArgs(file, dir);
        args.AddRange(new[] { "--strip-components=1", "--", part });
        var r = HostProcess.Run(HostProcess.Find("tar")!, args, cancel);
        if (r.ExitCode != 0)
        {
            throw new VServerException("ImportFailed", ErrorKind.WriteError,
                $"Unpacking the {part} of {file} failed: {OciRuntime.FirstLine(r.StandardError, "tar exited " + r.ExitCode)}", file);
        }
    }

    /// <summary>One member's bytes; tar stops at its first occurrence (the manifest is the first member) instead of reading on to the end.</summary>
    private static string ReadMember(string file, string member, CancellationToken cancel)
    {
        var args = new List<string> { "--extract", "--to-stdout", "--occurrence=1", "--file=" + file };
        args.AddRange(ArchiveBuilder.CompressOption(ArchiveBuilder.Compression(file)));
        args.AddRange(new[] { "--", member });
        var r = HostProcess.Run(HostProcess.Find("tar")!, args, cancel);
        return r.ExitCode == 0 ? r.StandardOutput : throw NotAnExport(file, $"its {member} cannot be read: {OciRuntime.FirstLine(r.StandardError, "tar exited " + r.ExitCode)}");
    }

    /// <summary>The configuration's scripts (scripts/*), which VServer runs on the host.</summary>
    private static IEnumerable<string> Scripts(string dir)
    {
        var scripts = Path.Combine(dir, "scripts");
        return Directory.Exists(scripts)
            ? Directory.EnumerateFileSystemEntries(scripts, "*", SearchOption.AllDirectories).Select(p => "scripts/" + Path.GetRelativePath(scripts, p)).Order(StringComparer.Ordinal).ToList()
            : Enumerable.Empty<string>();
    }

    private static string TypeName(char type) => type switch
    {
        '1' => "hard link",
        '2' => "symbolic link",
        '3' => "character device",
        '4' => "block device",
        '5' => "directory",
        '6' => "FIFO",
        _ => $"member of type '{type}'",
    };

    private static VServerException Refused(string file, TarMember member, string why) => new("ArchiveMemberRefused", ErrorKind.InvalidData,
        $"Archive '{file}' is refused: its member '{member.Name}' is {why}. Nothing was unpacked.", member.Name);

    private static VServerException NotAnExport(string file, string why) => new("NotAGuestArchive", ErrorKind.InvalidData,
        $"'{file}' is not a VServer guest export: {why}. Nothing was imported.", file);
}
