using System.IO.Enumeration;
using System.Collections.Concurrent;
using System.IO.Hashing;
using VServer.Native;

namespace VServer.Storage;

/// <summary>What to unify and how.</summary>
public sealed class UnifyOptions
{
    /// <summary>More paths or globs to leave alone, besides <see cref="Unifier.DefaultExcludes"/> and each guest's apps/vunify/exclude.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = Array.Empty<string>();

    /// <summary>
    /// Files smaller than this are not looked at. By default 64 KiB: most of a distribution's files
    /// are smaller (80% of a Debian tree's, a fifth of its bytes), and sharing each costs a kernel
    /// call (FIDEDUPERANGE), which made a unification of Debian guests about twice as slow as
    /// duperemove for a quarter more bytes saved; 1 shares every file.
    /// </summary>
    public long MinimumSize { get; init; } = DefaultMinimumSize;

    public const long DefaultMinimumSize = 64 * 1024;

    /// <summary>When set, the other guests' files are made to share this guest's extents (and not each other's).</summary>
    public string? Reference { get; init; }
}

/// <summary>
/// Unification (util-vserver's vunify) with shared extents instead of immutable hard links:
/// identical files of several guests are found (same size, then the same 128-bit XxHash of the
/// content, read on every core), and the kernel
/// is asked with FIDEDUPERANGE to make one share the other's extents. The kernel compares the
/// bytes itself and shares atomically; a later write to either copies (copy on write), so a
/// change in one guest never shows in another. Every file keeps its inode, owner, mode and times.
/// Files are only ever opened for reading, by a path with no symlink in it, and checked to be
/// the very file that was scanned.
/// </summary>
public sealed class Unifier
{
    /// <summary>
    /// What is never unified: the pseudo-filesystems' mount points and the directories a running
    /// guest keeps on tmpfs (their files at rest are leftovers). vunify also left out /etc, /var,
    /// /home and /root, because a hard-linked file had to be made immutable and could then not be
    /// changed by its guest; shared extents are copy-on-write (a write in one guest never reaches
    /// another), so configuration and variable data are unified like the rest. A guest's
    /// apps/vunify/exclude and -Exclude add to these.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultExcludes = new[] { "/dev", "/proc", "/sys", "/run", "/tmp" };

    /// <summary>Filesystems whose files can share extents.</summary>
    private static readonly HashSet<long> ReflinkFileSystems = new() { 0x58465342 /*xfs*/, 0x9123683E /*btrfs*/, 0xCA451A4E /*bcachefs*/, 0x7461636F /*ocfs2*/ };

    private const long Chunk = 16L << 20; // bytes per FIDEDUPERANGE call (btrfs refuses more)

    private static readonly ThreadLocal<byte[]> Buffer = new(() => new byte[1 << 20]);

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

        /// <summary>The mount the root is on: candidates are compared within one (a btrfs subvolume has a device number of its own).</summary>
        public required string FileSystem { get; init; }
        private UnifyGuestResult? _result;

        public UnifyGuestResult Result => _result ??= new UnifyGuestResult { Name = Name };

        public void Dispose() => Root.Dispose();
    }

    /// <summary>Whether the filesystem a directory is on can share extents (reflink copies, FIDEDUPERANGE).</summary>
    public static bool CanReflink(string dir)
    {
        try
        {
            CheckReflink("", dir);
            return true;
        }
        catch (VServerException)
        {
            return false;
        }
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
                    FileSystem = MountTable.MountPointOf(Native.Sys.RealPath(p.Root) ?? p.Root),
                });
            }

            var result = new UnifyResult { Guests = names.ToArray() };
            ScanAndShare(trees, options.MinimumSize, options.Reference is not null, result, reporter, cancel);
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

    /// <summary>What the walk found of one size on one filesystem: nothing is read until a second file of that size turns up.</summary>
    private sealed class SizeBucket
    {
        public readonly List<Candidate> Held = new();
        public readonly HashSet<(ulong, ulong)> Inodes = new();
        public bool HasReference;
        public bool HasOther;
        public bool Reading;
    }

    /// <summary>
    /// Walks, reads and shares in one pipeline: the guests are walked side by side (a cold cache
    /// waits on metadata); as soon as a second file of a size turns up on the same filesystem, both
    /// are read (XxHash128, several readers, in the order found, which is close to disk order);
    /// the first file read of each content becomes its source, and every later one is shared with
    /// it by the kernel while the walk and the reading go on. With a reference guest only its
    /// files are sources, and only the other guests' files are changed.
    /// </summary>
    private void ScanAndShare(List<GuestTree> trees, long minimum, bool byReference, UnifyResult result, IOperationReporter reporter, CancellationToken cancel)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var token = stop.Token;
        var buckets = new Dictionary<(string, long), SizeBucket>();
        var sources = new Dictionary<(string, long, UInt128), Candidate>();
        var waiting = new Dictionary<(string, long, UInt128), List<Candidate>>(); // read before their reference guest's file
        using var toRead = new BlockingCollection<Candidate>();
        using var toShare = new BlockingCollection<(Candidate Source, Candidate Target)>();
        var warnings = new ConcurrentQueue<string>();
        long queued = 0, read = 0;
        int walked = 0, readFailed = 0, shared = 0;
        double scanSeconds = 0;

        // a stage that fails stops the others: its error is the one reported
        Task Stage(Action work) => Task.Run(() =>
        {
            try
            {
                work();
            }
            catch
            {
                stop.Cancel();
                throw;
            }
        });

        void Queue(Candidate f)
        {
            Interlocked.Add(ref queued, f.Size);
            toRead.Add(f, token);
        }

        var scan = Stage(() =>
        {
            try
            {
                Parallel.ForEach(Enumerable.Range(0, trees.Count), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(4, 2 * Environment.ProcessorCount), CancellationToken = token }, i =>
                {
                    var t = trees[i];
                    // files are reopened by path later: what lies deeper than a path can reach is left alone
                    foreach (var e in TreeWalk.Walk(t.Root.HostPath, dir => dir.Path is string p && !t.Excluded(p), token))
                    {
                        if (!e.IsRegularFile || e.Path is not string path || e.Size < minimum || t.Excluded(path))
                        {
                            continue;
                        }
                        t.Result.FilesScanned++;
                        t.Result.BytesScanned += e.Size;
                        var f = new Candidate(i, path, e.Size, e.Device, e.Inode);
                        List<Candidate>? now = null;
                        lock (buckets)
                        {
                            if (!buckets.TryGetValue((t.FileSystem, e.Size), out var b))
                            {
                                buckets[(t.FileSystem, e.Size)] = b = new SizeBucket();
                            }
                            if (!b.Inodes.Add((e.Device, e.Inode)))
                            {
                                continue; // a hard link of a file already found shares its storage anyway
                            }
                            b.HasReference |= t.IsReference;
                            b.HasOther |= !t.IsReference;
                            if (b.Reading)
                            {
                                now = new List<Candidate> { f };
                            }
                            else if (byReference ? b.HasReference && b.HasOther : b.Inodes.Count > 1)
                            {
                                b.Reading = true;
                                b.Held.Add(f);
                                now = b.Held.ToList();
                                b.Held.Clear();
                            }
                            else
                            {
                                b.Held.Add(f);
                            }
                        }
                        now?.ForEach(Queue);
                    }
                    Interlocked.Increment(ref walked);
                });
                scanSeconds = clock.Elapsed.TotalSeconds;
            }
            finally
            {
                toRead.CompleteAdding();
            }
        });

        var readersLeft = Math.Max(4, 2 * Environment.ProcessorCount);
        var readers = Enumerable.Range(0, readersLeft).Select(_ => Stage(() =>
        {
            try
            {
                foreach (var f in toRead.GetConsumingEnumerable(token))
                {
                    var t = trees[f.Guest];
                    var hash = Hash(t, f);
                    Interlocked.Add(ref read, f.Size);
                    if (hash is not UInt128 h)
                    {
                        Interlocked.Increment(ref readFailed);
                        continue;
                    }
                    var key = (t.FileSystem, f.Size, h);
                    List<(Candidate, Candidate)> pairs = new();
                    lock (sources)
                    {
                        if (sources.TryGetValue(key, out var source))
                        {
                            if (!t.IsReference || !byReference)
                            {
                                pairs.Add((source, f));
                            }
                        }
                        else if (!byReference || t.IsReference)
                        {
                            sources[key] = f;
                            if (waiting.Remove(key, out var early))
                            {
                                pairs.AddRange(early.Select(x => (f, x)));
                            }
                        }
                        else
                        {
                            (waiting.TryGetValue(key, out var l) ? l : waiting[key] = new List<Candidate>()).Add(f);
                        }
                    }
                    foreach (var p in pairs)
                    {
                        toShare.Add(p, token);
                    }
                }
            }
            finally
            {
                if (Interlocked.Decrement(ref readersLeft) == 0)
                {
                    toShare.CompleteAdding();
                }
            }
        })).ToList();

        // sharing: the kernel compares and shares while the walk and the readers go on
        var sharers = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => Stage(() =>
        {
            foreach (var (source, target) in toShare.GetConsumingEnumerable(token))
            {
                ShareWith(trees, source, target, result, warnings);
                Interlocked.Increment(ref shared);
            }
        })).ToList();

        Wait(Task.WhenAll(readers.Concat(sharers).Append(scan)), () => Volatile.Read(ref walked) < trees.Count
            ? Volatile.Read(ref walked) * 40 / trees.Count
            : 40 + (int)(Interlocked.Read(ref read) * 50 / Math.Max(1, Interlocked.Read(ref queued))), "Reading candidates and sharing extents", reporter);
        result.FilesScanned = trees.Sum(t => t.Result.FilesScanned);
        result.BytesScanned = trees.Sum(t => t.Result.BytesScanned);
        result.FilesSkipped += readFailed;
        foreach (var w in warnings)
        {
            reporter.Warning(w);
        }
        reporter.Verbose($"Scanned {result.FilesScanned} files ({result.BytesScanned} bytes) of {trees.Count} guests in {scanSeconds:F2} s; " +
            $"read {Interlocked.Read(ref queued)} bytes of files with a size in common and shared {shared} files with {sources.Count} sources in {clock.Elapsed.TotalSeconds:F2} s.");
        reporter.Progress("Unifying guests", "Done", 100);
    }

    /// <summary>Waits for background work, reporting progress; rethrows its first real failure (ReflinkNotSupported, say), else the cancellation.</summary>
    private static void Wait(Task task, Func<int> percent, string status, IOperationReporter reporter)
    {
        while (!task.Wait(250))
        {
            reporter.Progress("Unifying guests", status, percent());
        }
        try
        {
            task.GetAwaiter().GetResult();
        }
        catch (AggregateException e)
        {
            var inner = e.Flatten().InnerExceptions;
            var first = inner.FirstOrDefault(x => x is not OperationCanceledException) ?? inner.First();
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>XxHash128 of a scanned file's content, read through a path with no symlink; null when it is no longer that file.</summary>
    private static UInt128? Hash(GuestTree tree, Candidate f)
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
            var hash = new XxHash128();
            var buf = Buffer.Value!;
            long read = 0;
            int n;
            while ((n = Sys.Read(fd, buf)) > 0)
            {
                hash.Append(buf.AsSpan(0, n));
                read += n;
            }
            return read == f.Size ? hash.GetCurrentHashAsUInt128() : null;
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

    /// <summary>
    /// Shares a target with its source; either is skipped when it is no longer the file that was
    /// read (both are opened again here, by a path with no symlink, and checked), and a target the
    /// kernel finds different has changed since it was read.
    /// </summary>
    private void ShareWith(List<GuestTree> trees, Candidate source, Candidate target, UnifyResult result, ConcurrentQueue<string> warnings)
    {
        var src = trees[source.Guest].Root.OpenRegularNoFollow(source.Path);
        if (src < 0)
        {
            Count(result, r => r.FilesSkipped++);
            return;
        }
        var tree = trees[target.Guest];
        var dst = -1;
        try
        {
            if (!IsSame(src, source))
            {
                Count(result, r => r.FilesSkipped++);
                return;
            }
            BeforeDedupe?.Invoke(tree.Name, target.Path);
            dst = tree.Root.OpenRegularNoFollow(target.Path);
            if (dst < 0 || !IsSame(dst, target))
            {
                Count(result, r => r.FilesSkipped++);
                return;
            }
            if (Sys.Fiemap(src, sync: false) is { } srcExtents && Sys.Fiemap(dst, sync: false) is { } dstExtents && SameExtents(srcExtents, dstExtents))
            {
                Count(result, r => r.FilesAlreadyShared++);
                return;
            }
            Sys.WillNeed(src); // the kernel's compare reads page by page: start reading ahead
            Sys.WillNeed(dst);
            var (bytes, same) = DedupeFile(src, dst, target.Size, tree, target, warnings);
            Count(result, r =>
            {
                if (bytes > 0)
                {
                    r.BytesDeduplicated += bytes; // a file that differs further on may still share its equal start
                    tree.Result.BytesDeduplicated += bytes;
                }
                if (same)
                {
                    r.FilesDeduplicated++;
                    tree.Result.FilesDeduplicated++;
                }
                else
                {
                    r.FilesSkipped++;
                }
            });
        }
        finally
        {
            if (dst >= 0)
            {
                Sys.Close(dst);
            }
            Sys.Close(src);
        }
    }

    private static void Count(UnifyResult result, Action<UnifyResult> update)
    {
        lock (result)
        {
            update(result);
        }
    }

    /// <summary>
    /// Dedupes a whole file in chunks: (bytes shared, whether every chunk was the same). Bytes is
    /// -1 when the kernel refused for another reason (a warning says which).
    /// </summary>
    private static (long Bytes, bool Same) DedupeFile(int src, int dst, long size, GuestTree tree, Candidate t, ConcurrentQueue<string> warnings)
    {
        long shared = 0;
        for (long offset = 0; offset < size; offset += Chunk)
        {
            var length = Math.Min(Chunk, size - offset);
            var (status, bytes) = Sys.Dedupe(src, offset, length, dst, offset);
            if (status == Sys.DedupeDiffers)
            {
                return (shared, false);
            }
            if (status < 0)
            {
                if (-status is Errno.EOPNOTSUPP or Errno.EINVAL && offset == 0 && shared == 0)
                {
                    throw NotSupported(tree.Name, tree.Root.HostPath, "a filesystem that refuses FIDEDUPERANGE (" + Errno.Name(-status) + ")");
                }
                warnings.Enqueue($"Guest '{tree.Name}': {t.Path} was left alone: FIDEDUPERANGE failed with {Errno.Name(-status)}.");
                return (-1, false);
            }
            shared += bytes;
        }
        return (shared, true);
    }

    /// <summary>Whether two files are mapped to the very same extents. Extents not yet allocated (delayed allocation) are never the same.</summary>
    private static bool SameExtents(List<Sys.Extent> a, List<Sys.Extent> b) =>
        a.Count > 0 && a.Count == b.Count && a.Zip(b).All(p => p.First.Allocated && p.First.Physical == p.Second.Physical &&
            p.First.Length == p.Second.Length && p.First.Logical == p.Second.Logical);

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
