using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using VServer.Runtime;

namespace VServer.Storage;

/// <summary>snapshot.json, the record beside a snapshot's root and configuration.</summary>
internal sealed record SnapshotRecord(string Guest, string Name, DateTimeOffset Created, SnapshotKind Kind, bool TakenRunning);

[JsonSerializable(typeof(SnapshotRecord))]
[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true)]
internal sealed partial class SnapshotJson : JsonSerializerContext
{
}

/// <summary>
/// Snapshots of guests (Checkpoint-VServerGuest, Restore-VServerGuest, Get- and Remove-VServerSnapshot;
/// lxc-snapshot's counterpart). A snapshot holds the guest's root and configuration, in
/// <c>.snapshots/NAME/SNAP/</c> beside the guest's root (the same filesystem, so extents are shared):
/// on a btrfs subvolume a read-only snapshot, on XFS or btrfs without a subvolume a reflink copy,
/// elsewhere refused unless a full copy is allowed. A running guest is frozen while it is taken.
/// </summary>
public sealed class GuestSnapshots
{
    private readonly GuestStore _store;

    public GuestSnapshots(GuestStore store) => _store = store;

    private VServerPaths Paths => _store.Paths;

    /// <summary>Where a guest's snapshots live: beside its root, in .snapshots/ID.</summary>
    public string DirectoryOf(string name, GuestConfig config) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(_store.RootOf(config).TrimEnd('/'))!, ".snapshots", GuestId.Of(name));

    /// <summary>A snapshot name: letters, digits, '.', '_' and '-', not starting with '.', at most 64.</summary>
    public static string ValidName(string snapshot) =>
        snapshot.Length is > 0 and <= 64 && snapshot[0] != '.' && snapshot.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            ? snapshot
            : throw new VServerException("InvalidSnapshotName", ErrorKind.InvalidArgument,
                $"'{VisibleText.Of(snapshot)}' is not a valid snapshot name: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'.", snapshot);

    /// <summary>Fills in the bytes a snapshot holds and those only it holds (FIEMAP over its root, as Get-VServerDiskUsage).</summary>
    public void Measure(Snapshot s, CancellationToken cancel = default)
    {
        var usage = DiskUsageMeter.Measure(s.GuestName, s.RootPath, cancel);
        s.ExclusiveBytes = usage.ExclusiveBytes;
        s.TotalBytes = usage.TotalBytes;
    }

    /// <summary>The guest's snapshots, oldest first; <paramref name="measure"/>: with the bytes only each holds.</summary>
    public IReadOnlyList<Snapshot> List(string name, bool measure = false, CancellationToken cancel = default)
    {
        var config = _store.ReadConfig(name);
        var dir = DirectoryOf(name, config);
        if (!Directory.Exists(dir))
        {
            return Array.Empty<Snapshot>();
        }
        var list = new List<Snapshot>();
        foreach (var d in Directory.EnumerateDirectories(dir))
        {
            var snapName = System.IO.Path.GetFileName(d);
            if (snapName.StartsWith('.') || new DirectoryInfo(d).LinkTarget is not null || Read(name, d) is not { } s)
            {
                continue; // a snapshot being taken or removed, or not ours
            }
            if (measure)
            {
                Measure(s, cancel);
            }
            list.Add(s);
        }
        return list.OrderBy(s => s.Created).ThenBy(s => s.Name, StringComparer.Ordinal).ToList();
    }

    public Snapshot Get(string name, string snapshot)
    {
        ValidName(snapshot);
        var config = _store.ReadConfig(name);
        var path = System.IO.Path.Combine(DirectoryOf(name, config), snapshot);
        return Directory.Exists(path) && Read(name, path) is { } s ? s
            : throw new VServerException("SnapshotNotFound", ErrorKind.ObjectNotFound, $"Guest '{name}' has no snapshot named '{snapshot}'.", snapshot);
    }

    private static Snapshot? Read(string name, string path)
    {
        try
        {
            var r = JsonSerializer.Deserialize(File.ReadAllText(System.IO.Path.Combine(path, "snapshot.json")), SnapshotJson.Default.SnapshotRecord);
            return r is null ? null : new Snapshot { GuestName = name, Name = System.IO.Path.GetFileName(path), Created = r.Created, Storage = r.Kind, TakenRunning = r.TakenRunning, Path = path };
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The first free name of the form snapN (lxc-snapshot's).</summary>
    public string NextName(string name)
    {
        // every snapshot is a directory of its name (one being taken or removed has a name starting with '.')
        var dir = DirectoryOf(name, _store.ReadConfig(name));
        for (var i = 0; ; i++)
        {
            var n = "snap" + i.ToString(CultureInfo.InvariantCulture);
            if (!Directory.Exists(System.IO.Path.Combine(dir, n)))
            {
                return n;
            }
        }
    }

    /// <summary>How a snapshot of this root can be kept; refused (SnapshotNotSupported) where only a full copy could, unless allowed.</summary>
    public static SnapshotKind KindFor(string name, GuestConfig config, string root, bool allowCopy)
    {
        if (config.Template is not null)
        {
            throw new VServerException("SnapshotNotSupported", ErrorKind.InvalidOperation,
                $"Guest '{name}' cannot be snapshotted: its root is an overlay on the template {config.Template}; snapshot the template's directory with the filesystem's own tools.", name);
        }
        if (Btrfs.IsSubvolume(root))
        {
            return SnapshotKind.Btrfs;
        }
        if (Unifier.CanReflink(root))
        {
            return SnapshotKind.Reflink;
        }
        return allowCopy ? SnapshotKind.Copy
            : throw new VServerException("SnapshotNotSupported", ErrorKind.InvalidOperation,
                $"Guest '{name}' cannot be snapshotted cheaply: its root {root} is on {FileSystems.NameOf(root)}, which shares no extents (a snapshot needs btrfs, or XFS with reflink). -AllowCopy makes a full copy instead.", name);
    }

    /// <summary>
    /// Takes a snapshot: the guest kept from starting or stopping meanwhile (its lock) and, when it
    /// runs, frozen while its root is copied or snapshotted. Made aside and renamed into place: a
    /// failed snapshot leaves nothing.
    /// </summary>
    public Snapshot Checkpoint(string name, string? snapshot, bool allowCopy, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        Config.Validate.ExistingGuestName(name);
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        var config = _store.ReadConfig(name);
        var root = _store.RootOf(config);
        snapshot = snapshot is null ? NextName(name) : ValidName(snapshot);
        var kind = KindFor(name, config, root, allowCopy);
        var dir = DirectoryOf(name, config);
        var final = System.IO.Path.Combine(dir, snapshot);
        if (Directory.Exists(final))
        {
            throw new VServerException("SnapshotExists", ErrorKind.ResourceExists, $"Guest '{name}' already has a snapshot named '{snapshot}'.", snapshot);
        }
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var staging = System.IO.Path.Combine(dir, ".staging-" + snapshot + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var run = new RunDirectory(Paths, name);
        try
        {
            bool running;
            using (File.Exists(run.LockFile) ? run.Lock() : null)
            {
                running = run.Status().State == GuestState.Running;
                using (running && !TestSeams.CloneWithoutFreeze ? Cgroups.Freeze(Cgroups.PathFor(Paths, name), TimeSpan.FromSeconds(30)) : null)
                {
                    reporter.Verbose(running ? $"Guest '{name}' is frozen while its root is snapshotted." : $"Guest '{name}' is stopped: its snapshot is consistent.");
                    CopyRoot(name, root, System.IO.Path.Combine(staging, "root"), kind, readOnly: true, cancel);
                }
            }
            ConfigDirectory.Write(System.IO.Path.Combine(staging, "config"), config, root);
            File.WriteAllText(System.IO.Path.Combine(staging, "snapshot.json"),
                JsonSerializer.Serialize(new SnapshotRecord(name, snapshot, DateTimeOffset.UtcNow, kind, running), SnapshotJson.Default.SnapshotRecord));
            Directory.Move(staging, final);
        }
        catch
        {
            Discard(staging);
            throw;
        }
        reporter.Verbose($"Guest '{name}': snapshot '{snapshot}' ({kind}) in {final}.");
        return Get(name, snapshot);
    }

    /// <summary>
    /// Puts a stopped guest's root and configuration back as the snapshot holds them (its context and
    /// private users stay its own: those are the host's to hand out). The snapshot's root is copied or
    /// snapshotted beside the guest's, swapped in by rename, and the old root removed after: a failed
    /// restore leaves the guest as it was.
    /// </summary>
    public Guest Restore(string name, string snapshot, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        Config.Validate.ExistingGuestName(name);
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        var snap = Get(name, snapshot);
        var config = _store.ReadConfig(name);
        var root = _store.RootOf(config);
        var run = new RunDirectory(Paths, name);
        using var guestLock = File.Exists(run.LockFile) ? run.Lock() : null;
        if (run.Status().State == GuestState.Running)
        {
            throw new VServerException("GuestRunning", ErrorKind.InvalidOperation,
                $"Guest '{name}' is running: stop it first, or give -Force (stop, restore, start).", name);
        }
        if (MountTable.MountPointsUnder(root) is { Count: > 0 } mounts)
        {
            throw new VServerException("GuestRootBusy", ErrorKind.ResourceUnavailable, $"Guest '{name}' cannot be restored: {mounts[0]} is mounted inside its root {root}.", name);
        }
        var saved = ConfigDirectory.Read(System.IO.Path.Combine(snap.Path, "config"), name, Paths);
        saved.Context = config.Context;
        saved.PrivateUsers = config.PrivateUsers;
        saved.Root = config.Root;
        saved.CheckConsistency();

        var parent = System.IO.Path.GetDirectoryName(root.TrimEnd('/'))!;
        var token = Guid.NewGuid().ToString("N")[..8];
        var incoming = System.IO.Path.Combine(parent, ".restoring-" + GuestId.Of(name) + "-" + token);
        var outgoing = System.IO.Path.Combine(parent, ".restored-" + GuestId.Of(name) + "-" + token);
        var kind = snap.Storage == SnapshotKind.Btrfs && !Btrfs.IsBtrfs(parent) ? SnapshotKind.Copy : snap.Storage;
        try
        {
            CopyRoot(name, snap.RootPath, incoming, kind, readOnly: false, cancel);
        }
        catch
        {
            Discard(incoming);
            throw;
        }
        // the old root's qgroup goes with it where VServer set a limit on it (as a removal does)
        var oldQgroup = config.DiskLimit is long && Btrfs.IsSubvolume(root) ? Btrfs.SubvolumeId(root) : (ulong?)null;
        Directory.Move(root, outgoing); // rename(2): the guest's tree moves whole, no link in it followed
        var swapped = false;
        try
        {
            Directory.Move(incoming, root);
            swapped = true;
            if (config.DiskLimit is long limit && Btrfs.IsSubvolume(root))
            {
                Btrfs.SetLimit(root, limit); // the restored root is a new subvolume: the guest's limit again
            }
            ConfigDirectory.Write(_store.Paths.ConfigDir(name), saved, root);
        }
        catch
        {
            if (swapped)
            {
                Directory.Move(root, incoming);
            }
            Directory.Move(outgoing, root);
            Discard(incoming);
            throw;
        }
        Discard(outgoing);
        if (oldQgroup is ulong id)
        {
            Btrfs.ForgetQgroup(parent, id);
        }
        reporter.Verbose($"Guest '{name}': root and configuration restored from snapshot '{snapshot}'.");
        return _store.Get(name);
    }

    /// <summary>Deletes a snapshot; refused while a guest uses its root as a template.</summary>
    public void Remove(string name, string snapshot, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        Config.Validate.ExistingGuestName(name);
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        var snap = Get(name, snapshot);
        var user = _store.ListNames().FirstOrDefault(n =>
        {
            try
            {
                return _store.ReadConfig(n).Template is string t && System.IO.Path.GetFullPath(t).TrimEnd('/') == snap.RootPath;
            }
            catch (VServerException)
            {
                return false;
            }
        });
        if (user is not null)
        {
            throw new VServerException("SnapshotInUse", ErrorKind.InvalidOperation,
                $"Snapshot '{snapshot}' of guest '{name}' is the template of guest '{user}'; remove that guest first.", snapshot);
        }
        // renamed aside first: it disappears at once, whatever the delete then takes
        var aside = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(snap.Path)!, ".removing-" + snapshot + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.Move(snap.Path, aside);
        Discard(aside, cancel);
        reporter?.Verbose($"Guest '{name}': snapshot '{snapshot}' removed.");
    }

    /// <summary>A root into a new place: a btrfs snapshot (read-only for a snapshot, writable for a restore), a reflink copy, or a full copy.</summary>
    private static void CopyRoot(string name, string from, string to, SnapshotKind kind, bool readOnly, CancellationToken cancel)
    {
        if (kind == SnapshotKind.Btrfs)
        {
            Btrfs.Snapshot(from, to, readOnly);
            return;
        }
        Directory.CreateDirectory(to);
        File.SetUnixFileMode(to, File.GetUnixFileMode(from));
        var cp = HostProcess.Find("cp") ?? throw new VServerException("CopyToolNotFound", ErrorKind.NotInstalled, "cp (coreutils) is needed to snapshot a guest.", "cp");
        // FROM/. copies the contents into the new, empty directory; -a copies symlinks as symlinks, never following one
        var r = HostProcess.Run(cp, new[] { "-a", kind == SnapshotKind.Reflink ? "--reflink=always" : "--reflink=auto", "--", from.TrimEnd('/') + "/.", to }, cancel);
        if (r.ExitCode != 0)
        {
            throw new VServerException("SnapshotFailed", ErrorKind.WriteError,
                $"Copying {from} for guest '{name}' failed: {OciRuntime.FirstLine(r.StandardError, "cp exited " + r.ExitCode)}", name);
        }
    }

    /// <summary>Deletes a snapshot or a half-made one: its root as a subvolume where it is one, everything else never following a link.</summary>
    private static void Discard(string path, CancellationToken cancel = default)
    {
        if (!Directory.Exists(path))
        {
            return;
        }
        var root = System.IO.Path.Combine(path, "root");
        foreach (var sub in new[] { root, path })
        {
            if (Directory.Exists(sub) && Btrfs.IsSubvolume(sub))
            {
                Btrfs.DeleteSubvolume(sub, cancel);
            }
        }
        if (Directory.Exists(path))
        {
            SafeRemove.RemoveTree(path, cancel);
        }
    }
}
