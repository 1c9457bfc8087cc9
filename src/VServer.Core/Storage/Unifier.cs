using System.IO.Enumeration;
using System.Security.Cryptography;
using VServer.Native;

namespace VServer.Storage;

/// <summary>What to unify and how.</summary>
public sealed class UnifyOptions
{
    /// <summary>More paths or globs to leave alone, besides <see cref="Unifier.DefaultExcludes"/> and each guest's apps/vunify/exclude.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = Array.Empty<string>();

    /// <summary>Files smaller than this are not looked at.</summary>
    public long MinimumSize { get; init; } = 1;

    /// <summary>When set, the other guests' files are made to share this guest's extents (and not each other's).</summary>
    public string? Reference { get; init; }
}

/// <summary>
/// Unification (util-vserver's vunify) with shared extents instead of immutable hard links:
/// identical files of several guests are found (same size, then same SHA-256), and the kernel
/// is asked with FIDEDUPERANGE to make one share the other's extents. The kernel compares the
/// bytes itself and shares atomically; a later write to either copies (copy on write), so a
/// change in one guest never shows in another. Every file keeps its inode, owner, mode and times.
/// Files are only ever opened for reading, by a path with no symlink in it, and checked to be
/// the very file that was scanned.
/// </summary>
public sealed class Unifier
{
    /// <summary>vunify's: configuration and variable data are never unified.</summary>
    public static readonly IReadOnlyList<string> DefaultExcludes = new[] { "/etc", "/var", "/tmp", "/home", "/root", "/dev", "/proc", "/sys", "/run" };

    /// <summary>Filesystems whose files can share extents.</summary>
    private static readonly HashSet<long> ReflinkFileSystems = new() { 0x58465342 /*xfs*/, 0x9123683E /*btrfs*/, 0xCA451A4E /*bcachefs*/, 0x7461636F /*ocfs2*/ };

    private const long Chunk = 16L << 20; // bytes per FIDEDUPERANGE call (btrfs refuses more)

    private readonly GuestStore _store;

    public Unifier(GuestStore store) => _store = store;

    /// <summary>Test seam: runs after a candidate was hashed and before it is opened for the dedupe (guest, path).</summary>
    internal Action<string, string>? BeforeDedupe { get; set; }

    private sealed record Candidate(int Guest, string Path, long Size, ulong Device, ulong Inode);

    private sealed class GuestTree : IDisposable
    {
        public required string Name { get; init; }
        public required GuestRootFs Root { get; init; }
        public required Func<string, bool> Excluded { get; init; }
        public required bool IsReference { get; init; }
        private UnifyGuestResult? _result;

        public UnifyGuestResult Result => _result ??= new UnifyGuestResult { Name = Name };

        public void Dispose() => Root.Dispose();
    }

    /// <summary>Checks that every guest's root can share extents; throws ReflinkNotSupported naming the filesystem otherwise.</summary>
    public static void CheckReflink(string guest, string root)
    {
        var fd = Sys.Open(root, Sys.O_PATH_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_);
        try
        {
            var (type, _, _, _) = Sys.FStatFs(fd, root);
            if (!ReflinkFileSystems.Contains(type))
            {
                throw NotSupported(guest, root, Sys.FileSystemName(type));
            }
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    private static VServerException NotSupported(string guest, string root, string fs) => new("ReflinkNotSupported", ErrorKind.InvalidOperation,
        $"Guest '{guest}': its root {root} is on {fs}, which cannot share extents between files. Unification needs XFS with reflink " +
        "(mkfs.xfs -m reflink=1) or btrfs; it never falls back to hard links, which would let one guest write into another's files. Nothing was changed.", guest);

    public UnifyResult Run(IReadOnlyList<string> guests, UnifyOptions options, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        var started = DateTimeOffset.UtcNow;
        var names = guests.ToList();
        if (options.Reference is string reference && !names.Contains(reference))
        {
            names.Insert(0, reference);
        }
        if (options.MinimumSize < 1)
        {
            throw new VServerException("InvalidMinimumSize", ErrorKind.InvalidArgument, $"MinimumSize {options.MinimumSize} is not a size: it must be 1 or more.", options.MinimumSize);
        }
        var trees = new List<GuestTree>();
        try
        {
            // everything is checked before anything is read or changed
            var excludes = options.Exclude.Select(NormalizeExclude).ToList();
            var configs = names.Select(n => _store.ReadConfig(n)).ToList();
            foreach (var c in configs.Where(c => c.Template is not null))
            {
                reporter.Warning($"Guest '{c.Name}' is built on template {c.Template}: its files are shared by construction; it is left out.");
            }
            names = configs.Where(c => c.Template is null).Select(c => c.Name).ToList();
            var plan = names.Select(n =>
            {
                var root = _store.RootOf(configs.First(c => c.Name == n));
                CheckReflink(n, root);
                return (Name: n, Root: root, Excludes: DefaultExcludes.Concat(excludes).Concat(GuestExcludes(n)).ToList());
            }).ToList();
            foreach (var p in plan)
            {
                trees.Add(new GuestTree
                {
                    Name = p.Name,
                    Root = GuestRootFs.Open(p.Root),
                    Excluded = Matcher(p.Excludes),
                    IsReference = p.Name == options.Reference,
                });
            }

            var result = new UnifyResult { Guests = names.ToArray() };
            var candidates = Scan(trees, options.MinimumSize, result, reporter, cancel);
            Deduplicate(trees, candidates, options.Reference is not null, result, reporter, cancel);
            result.Duration = DateTimeOffset.UtcNow - started;
            result.Details = trees.Select(t => t.Result).ToArray();
            return result;
        }
        finally
        {
            foreach (var t in trees)
            {
                t.Dispose();
            }
        }
    }

    private List<Candidate> Scan(List<GuestTree> trees, long minimum, UnifyResult result, IOperationReporter reporter, CancellationToken cancel)
    {
        var files = new List<Candidate>();
        for (var i = 0; i < trees.Count; i++)
        {
            var t = trees[i];
            reporter.Progress("Unifying guests", $"Scanning {t.Name}", i * 50 / trees.Count);
            foreach (var e in TreeWalk.Walk(t.Root.HostPath, dir => !t.Excluded(dir), cancel))
            {
                if (!e.IsRegularFile || e.Size < minimum || t.Excluded(e.Path))
                {
                    continue;
                }
                files.Add(new Candidate(i, e.Path, e.Size, e.Device, e.Inode));
                t.Result.FilesScanned++;
                t.Result.BytesScanned += e.Size;
            }
            result.FilesScanned += t.Result.FilesScanned;
            result.BytesScanned += t.Result.BytesScanned;
        }
        return files;
    }

    private void Deduplicate(List<GuestTree> trees, List<Candidate> files, bool byReference, UnifyResult result, IOperationReporter reporter, CancellationToken cancel)
    {
        // same filesystem and size first; one candidate per inode (hard links share anyway)
        var groups = files
            .GroupBy(f => (f.Device, f.Size))
            .Select(g => g.GroupBy(f => f.Inode).Select(x => x.First()).ToList())
            .Where(g => g.Count > 1 && (!byReference || (g.Any(f => trees[f.Guest].IsReference) && g.Any(f => !trees[f.Guest].IsReference))))
            .ToList();
        var total = Math.Max(1, groups.Sum(g => g.Sum(f => f.Size)));
        long done = 0;
        foreach (var group in groups)
        {
            cancel.ThrowIfCancellationRequested();
            reporter.Progress("Unifying guests", $"{group[0].Size} bytes × {group.Count}: {group[0].Path}", 50 + (int)(done * 50 / total));
            done += group.Sum(f => f.Size);
            foreach (var same in group.GroupBy(f => Hash(trees[f.Guest], f)).Where(h => h.Key is not null).Select(h => h.ToList()))
            {
                if (same.Count < 2)
                {
                    continue;
                }
                var source = byReference ? same.FirstOrDefault(f => trees[f.Guest].IsReference) : same[0];
                if (source is null)
                {
                    continue;
                }
                var targets = same.Where(f => f != source && (!byReference || !trees[f.Guest].IsReference)).ToList();
                if (targets.Count > 0)
                {
                    ShareWith(trees, source, targets, result, reporter, cancel);
                }
            }
        }
        reporter.Progress("Unifying guests", "Done", 100);
    }

    /// <summary>SHA-256 of a scanned file, read through a path with no symlink; null when it is no longer that file.</summary>
    private static string? Hash(GuestTree tree, Candidate f)
    {
        var fd = tree.Root.OpenRegularNoFollow(f.Path);
        if (fd < 0)
        {
            return null;
        }
        try
        {
            if (!IsSame(fd, f))
            {
                return null;
            }
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buf = new byte[1 << 17];
            long read = 0;
            int n;
            while ((n = Sys.Read(fd, buf)) > 0)
            {
                sha.AppendData(buf, 0, n);
                read += n;
            }
            return read == f.Size ? Convert.ToHexString(sha.GetHashAndReset()) : null;
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    private static bool IsSame(int fd, Candidate f)
    {
        var st = Sys.FStat(fd);
        return (ulong)st.st_ino == f.Inode && (ulong)st.st_dev == f.Device && (long)st.st_size == f.Size;
    }

    private void ShareWith(List<GuestTree> trees, Candidate source, List<Candidate> targets, UnifyResult result, IOperationReporter reporter, CancellationToken cancel)
    {
        var src = trees[source.Guest].Root.OpenRegularNoFollow(source.Path);
        if (src < 0)
        {
            result.FilesSkipped += targets.Count;
            return;
        }
        try
        {
            if (!IsSame(src, source))
            {
                result.FilesSkipped += targets.Count;
                return;
            }
            var srcExtents = Sys.Fiemap(src);
            foreach (var t in targets)
            {
                cancel.ThrowIfCancellationRequested();
                var tree = trees[t.Guest];
                BeforeDedupe?.Invoke(tree.Name, t.Path);
                var dst = tree.Root.OpenRegularNoFollow(t.Path);
                if (dst < 0)
                {
                    result.FilesSkipped++;
                    continue;
                }
                try
                {
                    if (!IsSame(dst, t))
                    {
                        result.FilesSkipped++;
                        continue;
                    }
                    if (srcExtents is not null && Sys.Fiemap(dst) is { } dstExtents && SameExtents(srcExtents, dstExtents))
                    {
                        result.FilesAlreadyShared++;
                        continue;
                    }
                    var bytes = DedupeFile(src, dst, t.Size, tree, t, reporter);
                    if (bytes < 0)
                    {
                        result.FilesSkipped++;
                        continue;
                    }
                    result.FilesDeduplicated++;
                    result.BytesDeduplicated += bytes;
                    tree.Result.FilesDeduplicated++;
                    tree.Result.BytesDeduplicated += bytes;
                }
                finally
                {
                    Sys.Close(dst);
                }
            }
        }
        finally
        {
            Sys.Close(src);
        }
    }

    /// <summary>Dedupes a whole file in chunks; the bytes shared, or -1 when the kernel found them different (the file changed).</summary>
    private static long DedupeFile(int src, int dst, long size, GuestTree tree, Candidate t, IOperationReporter reporter)
    {
        long shared = 0;
        for (long offset = 0; offset < size; offset += Chunk)
        {
            var length = Math.Min(Chunk, size - offset);
            var (status, bytes) = Sys.Dedupe(src, offset, length, dst, offset);
            if (status == Sys.DedupeDiffers)
            {
                return -1;
            }
            if (status < 0)
            {
                if (-status is Errno.EOPNOTSUPP or Errno.EINVAL && offset == 0 && shared == 0)
                {
                    throw NotSupported(tree.Name, tree.Root.HostPath, "a filesystem that refuses FIDEDUPERANGE (" + Errno.Name(-status) + ")");
                }
                reporter.Warning($"Guest '{tree.Name}': {t.Path} was left alone: FIDEDUPERANGE failed with {Errno.Name(-status)}.");
                return -1;
            }
            shared += bytes;
        }
        return shared;
    }

    private static bool SameExtents(List<Sys.Extent> a, List<Sys.Extent> b) =>
        a.Count > 0 && a.Count == b.Count && a.Zip(b).All(p => p.First.Physical == p.Second.Physical && p.First.Length == p.Second.Length && p.First.Logical == p.Second.Logical);

    /// <summary>A guest's own excludes: <c>apps/vunify/exclude</c> in its config directory, one path or glob a line.</summary>
    private IEnumerable<string> GuestExcludes(string name)
    {
        var file = Path.Combine(_store.Paths.ConfigDir(name), "apps", "vunify", "exclude");
        if (!File.Exists(file))
        {
            return Array.Empty<string>();
        }
        return File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.TrimStart('~', '+')) // vunify's marks: the path is what counts here
            .Select(NormalizeExclude).ToList();
    }

    private static string NormalizeExclude(string pattern)
    {
        var p = pattern.Trim();
        if (p.Length == 0 || p.Contains('\0'))
        {
            throw new VServerException("InvalidExclude", ErrorKind.InvalidArgument, $"'{pattern}' is not an exclude: give a guest path (/usr/share/doc) or a glob (*.pyc).", pattern);
        }
        return p.Length > 1 ? p.TrimEnd('/') : p;
    }

    /// <summary>
    /// Matches guest paths against excludes: a path with '/' is a prefix (a directory and
    /// everything below it) or, with '*' or '?', a glob on the whole path; one without '/' is a
    /// glob on the file name.
    /// </summary>
    internal static Func<string, bool> Matcher(IReadOnlyList<string> patterns) => path =>
    {
        var name = path[(path.LastIndexOf('/') + 1)..];
        foreach (var p in patterns)
        {
            var glob = p.IndexOfAny(new[] { '*', '?' }) >= 0;
            if (!p.Contains('/'))
            {
                if (glob ? FileSystemName.MatchesSimpleExpression(p, name, ignoreCase: false) : name == p)
                {
                    return true;
                }
            }
            else if (glob
                ? FileSystemName.MatchesSimpleExpression(p, path, ignoreCase: false) || FileSystemName.MatchesSimpleExpression(p + "/*", path, ignoreCase: false)
                : path == p || path.StartsWith(p + "/", StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    };
}
