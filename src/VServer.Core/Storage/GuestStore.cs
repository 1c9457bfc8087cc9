using System.Globalization;
using VServer.Build;
using VServer.Config;
using VServer.Native;
using VServer.Runtime;

namespace VServer.Storage;

/// <summary>
/// The guests of this host: their configuration directories under the config root and their
/// root directories. Creation happens in staging directories that are renamed into place under
/// the host lock, so an interrupted or refused create leaves nothing behind.
/// </summary>
public sealed class GuestStore
{
    /// <summary>util-vserver's <c>context.next</c> convention: dynamic contexts start here.</summary>
    public const int FirstDynamicContext = 40000;

    private const string StagingPrefix = ".staging-";
    private const string RemovingPrefix = ".removing-";

    public GuestStore(VServerPaths paths) => Paths = paths;

    public VServerPaths Paths { get; }

    /// <summary>Names of all guests, sorted.</summary>
    public IReadOnlyList<string> ListNames()
    {
        if (!Directory.Exists(Paths.ConfigRoot))
        {
            return Array.Empty<string>();
        }
        return new DirectoryInfo(Paths.ConfigRoot).EnumerateDirectories()
            .Where(d => d.LinkTarget is null && Validate.IsExistingGuestName(d.Name))
            .Select(d => d.Name)
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    public bool Exists(string name) => Validate.IsExistingGuestName(name) && Directory.Exists(Paths.ConfigDir(name));

    public GuestConfig ReadConfig(string name)
    {
        Validate.ExistingGuestName(name);
        return ConfigDirectory.Read(Paths.ConfigDir(name), name, Paths);
    }

    public string RootOf(GuestConfig c) => c.Root ?? Paths.DefaultRootDir(c.Name);

    /// <summary>
    /// Where the guest's files can be read now: its root, except for a running Template guest with
    /// private users, whose overlay is mounted (on idmapped layers) only where its runtime sees it.
    /// </summary>
    public string LiveRootOf(GuestConfig c)
    {
        if (c.Template is not null && c.PrivateUsers is not null)
        {
            var live = new Runtime.RunDirectory(Paths, c.Name).IdmappedRoot;
            if (Directory.Exists(Path.Combine(live, "etc")))
            {
                return live;
            }
        }
        return RootOf(c);
    }

    /// <summary>
    /// What a Clone copies: the root of the guest named <paramref name="source"/>, else the
    /// absolute directory it names. SourceNotFound names the value otherwise.
    /// </summary>
    public string ResolveCloneSource(string source)
    {
        if (Exists(source))
        {
            return RootOf(ReadConfig(source));
        }
        if (Path.IsPathRooted(source) && Directory.Exists(source))
        {
            return Path.GetFullPath(source).TrimEnd('/');
        }
        throw new VServerException("SourceNotFound", ErrorKind.ObjectNotFound,
            $"Clone source '{source}' is neither a guest nor an existing absolute directory.", source);
    }

    /// <summary>This store's guests whose roots overlap a directory (it, inside it, or around it): what a copy of it reads.</summary>
    private IReadOnlyList<(Runtime.RunDirectory, string)> GuestsReading(string dir)
    {
        static bool Within(string inner, string outer) => inner == outer || inner.StartsWith(outer.TrimEnd('/') + "/", StringComparison.Ordinal);
        var result = new List<(Runtime.RunDirectory, string)>();
        foreach (var n in ListNames())
        {
            string root;
            try
            {
                root = RootOf(ReadConfig(n));
            }
            catch (VServerException)
            {
                continue;
            }
            if (Within(root, dir) || Within(dir, root))
            {
                result.Add((new Runtime.RunDirectory(Paths, n), Runtime.Cgroups.PathFor(Paths, n)));
            }
        }
        return result;
    }

    public Guest Get(string name)
    {
        var c = ReadConfig(name);
        var run = new RunDirectory(Paths, name);
        var status = run.Status();
        var pending = status.State == GuestState.Running && run.ReadState() is { } state ? LiveSettings.Pending(c, state) : null;
        return new Guest(c, Paths.ConfigDir(name), RootOf(c), status, pending);
    }

    /// <summary>Contexts in use, context → guest name (guests without a context are left out).</summary>
    public IReadOnlyDictionary<int, string> ContextsInUse()
    {
        var used = new Dictionary<int, string>();
        foreach (var n in ListNames())
        {
            var f = Path.Combine(Paths.ConfigDir(n), "context");
            if (File.Exists(f) && int.TryParse(File.ReadAllText(f).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var x))
            {
                used.TryAdd(x, n);
            }
        }
        return used;
    }

    /// <summary>Ranges of private users held by guests, guest → range (a file that does not parse holds nothing here; reading that guest names it).</summary>
    public IReadOnlyDictionary<string, IdRange> UserRangesInUse()
    {
        var used = new Dictionary<string, IdRange>(StringComparer.Ordinal);
        foreach (var n in ListNames())
        {
            var f = Path.Combine(Paths.ConfigDir(n), "private-users");
            if (SmallFile.ReadTextIfExists(f) is string text && IdRange.ParseMapLine(text) is IdRange r)
            {
                used[n] = r;
            }
        }
        return used;
    }

    /// <summary>
    /// Hands a guest that asks for private users a range of host ids no other guest holds, under the
    /// host lock. A new guest always gets a fresh one (an imported configuration's range belongs to
    /// the host it came from); an existing guest keeps its own.
    /// </summary>
    private void AllocateUsers(GuestConfig c, bool fresh)
    {
        if (c.PrivateUsers is not IdRange wanted || (!fresh && !wanted.IsPending))
        {
            return;
        }
        // asked for where this host cannot run them: refused now, not at the first start
        if (Runtime.GuestUsers.WhyNot(Path.GetDirectoryName(RootOf(c))!) is string why)
        {
            throw new VServerException("PrivateUsersNotSupported", ErrorKind.InvalidOperation,
                $"Guest '{c.Name}' cannot have private users here: {why}. Nothing was changed.", c.Name);
        }
        c.PrivateUsers = IdRange.NextFree(UserRangesInUse().Where(kv => kv.Key != c.Name).Select(kv => kv.Value));
    }

    /// <summary>The next free context from 40000 up (then from 2), under the lock.</summary>
    internal static int NextFreeContext(IReadOnlyDictionary<int, string> used, int first = FirstDynamicContext)
    {
        for (var x = first; x <= Validate.MaxContext; x++)
        {
            if (!used.ContainsKey(x)) return x;
        }
        for (var x = Validate.MinContext; x < FirstDynamicContext; x++)
        {
            if (!used.ContainsKey(x)) return x;
        }
        throw new VServerException("ContextExhausted", ErrorKind.LimitsExceeded, "Every context from 2 to 49151 is in use.", null);
    }

    /// <summary>util-vserver's <c>.defaults/context.next</c>: where dynamic contexts start (40000 without it).</summary>
    private string ContextNextFile => Path.Combine(Paths.ConfigRoot, ".defaults", "context.next");

    /// <summary>Moves <c>.defaults/context.next</c> past a context just handed out, as util-vserver does (only when the file exists).</summary>
    private void AdvanceContextNext(int handedOut)
    {
        if (File.Exists(ContextNextFile) && handedOut + 1 <= Validate.MaxContext)
        {
            AtomicFile.WriteAllText(ContextNextFile, (handedOut + 1).ToString(CultureInfo.InvariantCulture) + "\n");
        }
    }

    private int ContextNext()
    {
        try
        {
            var text = File.Exists(ContextNextFile) ? File.ReadAllText(ContextNextFile).Trim() : null;
            return text is not null && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var x) && x >= Validate.MinContext && x <= Validate.MaxContext
                ? x : FirstDynamicContext;
        }
        catch (IOException)
        {
            return FirstDynamicContext;
        }
    }

    /// <summary>
    /// Creates a guest: validates, allocates a context, builds its root, renames both into place.
    /// <paramref name="seedConfig"/> fills the staging configuration directory first (an import's
    /// files, kept byte for byte); the configuration is then written over it, changing only what differs.
    /// </summary>
    public Guest Create(GuestConfig config, IRootBuilder builder, IOperationReporter? reporter = null, CancellationToken cancel = default,
        Action<string>? seedConfig = null)
    {
        reporter ??= NullReporter.Instance;
        config = config.Clone();
        Validate.GuestName(config.Name); // a new guest gets a name every host-wide place takes as it is
        config.CheckConsistency();
        builder.Preflight();
        if (builder is CloneBuilder clone)
        {
            clone.Guests = GuestsReading(clone.Source);
        }
        var name = config.Name;
        var configDir = Paths.ConfigDir(name);
        var rootDir = RootOf(config);
        if (config.DiskLimit is long)
        {
            RequireDiskLimits(name, Path.GetDirectoryName(rootDir)!, config.Template);
        }

        EnsureDirectory(Paths.ConfigRoot, 0x1ED);
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        RemoveStale(Paths.ConfigRoot);
        if (Directory.Exists(configDir) || File.Exists(configDir))
        {
            throw new VServerException("GuestExists", ErrorKind.ResourceExists, $"A guest named '{name}' already exists ({configDir}).", name);
        }
        if (Taken(rootDir))
        {
            throw new VServerException("RootExists", ErrorKind.ResourceExists,
                $"The root directory {rootDir} for guest '{name}' already exists; remove it or choose another -Root.", rootDir);
        }
        var used = ContextsInUse();
        var dynamicContext = config.Context is null;
        if (config.Context is int want)
        {
            if (used.TryGetValue(want, out var other))
            {
                throw new VServerException("ContextInUse", ErrorKind.ResourceExists, $"Context {want} is already used by guest '{other}'.", want);
            }
        }
        else
        {
            config.Context = NextFreeContext(used, ContextNext());
        }
        AllocateUsers(config, fresh: true);

        var rootParent = Path.GetDirectoryName(rootDir)!;
        EnsureDirectory(rootParent, rootParent == Paths.VdirRoot && Sys.GetEuid() == 0 ? 0 : 0x1ED);
        if (rootParent == Paths.VdirRoot)
        {
            RemoveStale(rootParent); // only in our own vdir root, never in a directory a -Root points into
        }
        var token = Guid.NewGuid().ToString("N")[..12];
        var stagingConfig = Path.Combine(Paths.ConfigRoot, StagingPrefix + name + "-" + token);
        var stagingRoot = Path.Combine(rootParent, StagingPrefix + name + "-" + token);
        var rootMoved = false;
        try
        {
            // on a btrfs store the root is a subvolume of its own; a Clone of a guest there, a snapshot of it
            if (config.Template is null && Btrfs.KindFor(rootParent) == StorageKind.Btrfs)
            {
                if (builder is not CloneBuilder c || !c.TrySnapshot(stagingRoot, reporter))
                {
                    Btrfs.CreateSubvolume(stagingRoot);
                    File.SetUnixFileMode(stagingRoot, (UnixFileMode)0x1ED);
                }
            }
            else
            {
                Directory.CreateDirectory(stagingRoot, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                    UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            using (var fs = GuestRootFs.Open(stagingRoot))
            {
                builder.Build(fs, config, reporter, cancel);
            }
            cancel.ThrowIfCancellationRequested();
            if (config.Template is not null)
            {
                TemplateLayers.Create(stagingRoot);
            }
            // the guest's /etc/hostname and /etc/hosts, whatever the method (a Template guest's go to its own layer)
            using (var fs = GuestRootFs.Open(config.Template is null ? stagingRoot : TemplateLayers.UpperOf(stagingRoot)))
            {
                Build.GuestNameFiles.Write(fs, config);
            }
            if (config.DiskLimit is long limit)
            {
                // the whole root counts, the files the build made included
                Btrfs.SetLimit(stagingRoot, limit);
                reporter.Verbose($"Guest '{name}': its root may hold {limit} bytes (btrfs qgroup limit).");
            }
            if (seedConfig is not null)
            {
                Directory.CreateDirectory(stagingConfig, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                    UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
                seedConfig(stagingConfig);
            }
            ConfigDirectory.Write(stagingConfig, config, rootDir);
            Directory.Move(stagingRoot, rootDir);
            if (config.Template is not null)
            {
                Directory.Move(TemplateLayers.LayersOf(stagingRoot), TemplateLayers.LayersOf(rootDir));
            }
            rootMoved = true;
            Directory.Move(stagingConfig, configDir);
        }
        catch
        {
            if (rootMoved)
            {
                Directory.Move(rootDir, stagingRoot);
                if (Directory.Exists(TemplateLayers.LayersOf(rootDir)))
                {
                    Directory.Move(TemplateLayers.LayersOf(rootDir), TemplateLayers.LayersOf(stagingRoot));
                }
            }
            SafeRemove.RemoveTree(stagingRoot);
            SafeRemove.RemoveTree(TemplateLayers.LayersOf(stagingRoot));
            SafeRemove.RemoveTree(stagingConfig);
            throw;
        }
        if (dynamicContext)
        {
            AdvanceContextNext(config.Context!.Value);
        }
        reporter.Verbose($"Created guest '{name}' with context {config.Context}: config {configDir}, root {rootDir}.");
        return Get(name);
    }

    /// <summary>
    /// Makes a configuration directory for a guest whose root already exists and stays where it is
    /// (a legacy <c>NAME.conf</c> import): the context is checked or handed out as at a create, and
    /// the directory appears whole or not at all. The root is never touched; a missing one is a warning.
    /// </summary>
    public Guest Adopt(GuestConfig config, IOperationReporter? reporter = null)
    {
        reporter ??= NullReporter.Instance;
        config = config.Clone();
        Validate.GuestName(config.Name); // a new guest gets a name every host-wide place takes as it is
        config.CheckConsistency();
        var name = config.Name;
        var configDir = Paths.ConfigDir(name);
        EnsureDirectory(Paths.ConfigRoot, 0x1ED);
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        RemoveStale(Paths.ConfigRoot);
        if (Taken(configDir))
        {
            throw new VServerException("GuestExists", ErrorKind.ResourceExists, $"A guest named '{name}' already exists ({configDir}); nothing was imported.", name);
        }
        var used = ContextsInUse();
        var dynamicContext = config.Context is null;
        if (config.Context is int want && used.TryGetValue(want, out var other))
        {
            throw new VServerException("ContextInUse", ErrorKind.ResourceExists, $"Context {want} is already used by guest '{other}'; nothing was imported.", want);
        }
        config.Context ??= NextFreeContext(used, ContextNext());
        AllocateUsers(config, fresh: true);
        var rootDir = RootOf(config);
        if (!Directory.Exists(rootDir))
        {
            reporter.Warning($"Guest '{name}': its root {rootDir} does not exist; the guest cannot start until it does.");
        }
        var staging = Path.Combine(Paths.ConfigRoot, StagingPrefix + name + "-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            ConfigDirectory.Write(staging, config, rootDir);
            Directory.Move(staging, configDir);
        }
        catch
        {
            SafeRemove.RemoveTree(staging);
            throw;
        }
        if (dynamicContext)
        {
            AdvanceContextNext(config.Context!.Value);
        }
        return Get(name);
    }

    /// <summary>
    /// What <see cref="Update"/> would do: the settings it changes at once on the running guest and
    /// those that wait for its next start (-WhatIf). Every value is checked, nothing changes.
    /// </summary>
    public LiveSettings.Plan PlanUpdate(string name, GuestSettings settings)
    {
        Validate.ExistingGuestName(name);
        var before = ReadConfig(name);
        var after = before.Clone();
        settings.ApplyTo(after);
        return LiveSettings.PlanFor(before, after, new RunDirectory(Paths, name).ReadState() is { InitAlive: true } s ? s : null, Paths);
    }

    /// <summary>
    /// Changes a guest's configuration; every value is checked before any file changes. On a running
    /// guest what can change live (<see cref="LiveSettings.Live"/>) is applied with it, all or nothing:
    /// a limit the kernel refuses leaves the configuration as it was. What waits for the next start is
    /// named in a warning.
    /// </summary>
    public Guest Update(string name, GuestSettings settings, IOperationReporter? reporter = null)
    {
        reporter ??= NullReporter.Instance;
        Validate.ExistingGuestName(name);
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        var run = new RunDirectory(Paths, name);
        using var guestLock = File.Exists(run.LockFile) ? run.Lock() : null; // no start or stop meanwhile (a guest never started has none)
        var c = ReadConfig(name);
        var before = c.Clone();
        var oldRoot = RootOf(c);
        var oldNames = NameFilesKey(c);
        var oldDiskLimit = c.DiskLimit;
        var oldUsers = c.PrivateUsers;
        settings.ApplyTo(c);
        if (settings.Context is int want && ContextsInUse().TryGetValue(want, out var other) && other != name)
        {
            throw new VServerException("ContextInUse", ErrorKind.ResourceExists, $"Context {want} is already used by guest '{other}'.", want);
        }
        AllocateUsers(c, fresh: false);
        if (RootOf(c) != oldRoot)
        {
            throw new VServerException("RootChangeNotSupported", ErrorKind.InvalidOperation,
                $"The root directory of guest '{name}' cannot be changed with Set-VServerGuest (it is {oldRoot}).", name);
        }
        // a changed disk limit first (a running guest's changes at once), the configuration after it; undone if that fails
        var limitChanged = c.DiskLimit != oldDiskLimit && (c.DiskLimit is not null || Btrfs.KindOf(oldRoot) == StorageKind.Btrfs);
        if (limitChanged)
        {
            if (c.DiskLimit is not null)
            {
                RequireDiskLimits(name, oldRoot, c.Template, existing: true);
            }
            Btrfs.SetLimit(oldRoot, c.DiskLimit);
        }
        // a running guest's limits and nice value next, the configuration last; each undone if a later step fails
        var state = run.ReadState() is { InitAlive: true } s ? s : null;
        Action? undoLive = null;
        try
        {
            undoLive = state is null ? null : LiveSettings.Apply(this, before, c, state);
            ConfigDirectory.Write(Paths.ConfigDir(name), c, oldRoot);
        }
        catch
        {
            undoLive?.Invoke();
            if (limitChanged)
            {
                Btrfs.SetLimit(oldRoot, oldDiskLimit);
            }
            throw;
        }
        var addressesChanged = state is not null && LiveSettings.AddressesLive(before, c, state, Paths);
        if (state is not null && LiveSettings.AppliedAfter(state, c, addressesChanged) is { } applied)
        {
            run.WriteState(state with { Applied = applied });
        }
        if (state is not null)
        {
            // the vserver command's fast exec follows the nice value and the private flag as they are now
            GuestAttach.WriteExecRecords(run, run.ReadState() ?? state, c);
        }
        if (addressesChanged)
        {
            // the host's rules (anti-spoofing, published ports) follow what the guest runs with, which the state now says holds the new addresses
            try
            {
                using var networkLock = GuestNetwork.NetworkLock(Paths);
                HostFirewall.Apply(this);
            }
            catch (VServerException e)
            {
                reporter.Warning($"Guest '{name}' has its new addresses, but the host's rules could not follow: {e.Message}");
            }
        }
        if (NameFilesKey(c) != oldNames)
        {
            UpdateNameFiles(c, oldRoot, reporter);
        }
        var plan = LiveSettings.PlanFor(before, c, state, Paths);
        if (state is not null && plan.AtNextStart.Count > 0)
        {
            var users = c.PrivateUsers != oldUsers
                ? $" (it runs {(oldUsers is null ? "with host root as its root" : $"with private users {oldUsers}")}; then {(c.PrivateUsers is null ? "with host root" : $"with private users {c.PrivateUsers}")})"
                : "";
            reporter.Warning($"Guest '{name}' runs: {string.Join(", ", plan.AtNextStart)}{users} {(plan.AtNextStart.Count == 1 ? "applies" : "apply")} from its next start (Restart-VServerGuest {name}).");
        }
        if (plan.Now.Count > 0)
        {
            reporter.Verbose($"Guest '{name}': {string.Join(", ", plan.Now)} changed on the running guest.");
        }
        return Get(name);
    }

    /// <summary>
    /// Refuses a disk limit where VServer cannot enforce one: anywhere but a btrfs subvolume (a
    /// guest's own root on a btrfs store). XFS and ext4 project quotas are not used: this module
    /// cannot test them here (the kernel has neither XFS quota support nor the v2 quota format).
    /// </summary>
    private static void RequireDiskLimits(string name, string path, string? template, bool existing = false)
    {
        var why = template is not null ? "its root is an overlay on a template"
            : existing ? (Btrfs.KindOf(path) == StorageKind.Btrfs ? null : $"its root {path} is {(Btrfs.IsBtrfs(path) ? "a plain directory on btrfs, made before it was a subvolume" : "not on btrfs")}")
            : Btrfs.KindFor(path) == StorageKind.Btrfs ? null
            : FileSystems.NameOf(path) is var fs && fs == "btrfs" ? "the btrfs command (Debian package 'btrfs-progs') is not installed"
            : $"{path} is on {fs}, not btrfs";
        if (why is not null)
        {
            throw new VServerException("DiskLimitNotSupported", ErrorKind.InvalidOperation,
                $"Guest '{name}' cannot have a disk limit: {why}. VServer enforces disk limits as btrfs qgroup limits on a guest root that is a subvolume (a vdir root on btrfs, with btrfs-progs); XFS and ext4 project quotas are not supported{ProjectQuotaKernel()}.", name);
        }
    }

    /// <summary>What the running kernel lacks for XFS and ext4 project quotas, where it says.</summary>
    private static string ProjectQuotaKernel()
    {
        var missing = new[] { ("CONFIG_XFS_QUOTA", "XFS quotas"), ("CONFIG_QFMT_V2", "the v2 quota format ext4 needs") }
            .Where(o => Runtime.KernelConfig.Get(o.Item1) == "n").Select(o => $"{o.Item2} ({o.Item1})").ToList();
        return missing.Count == 0 ? "" : " (this kernel also lacks " + string.Join(" and ", missing) + ")";
    }

    private static string NameFilesKey(GuestConfig c) =>
        $"{c.Hostname}|{c.Domainname}|{string.Join(",", c.Interfaces.Select(i => i.Address))}";

    /// <summary>
    /// Keeps the guest's /etc/hostname and /etc/hosts in step with its configuration: in its root,
    /// or for a Template guest in its own layer (through the mounted root while it runs). The
    /// configuration is already changed; a tree that refuses the write (a symlink in place of a
    /// file, say) is named in a warning.
    /// </summary>
    private static void UpdateNameFiles(GuestConfig c, string root, IOperationReporter reporter)
    {
        var target = c.Template is null || MountTable.MountPointsUnder(root).Contains(root) ? root : TemplateLayers.UpperOf(root);
        try
        {
            using var fs = GuestRootFs.Open(target);
            Build.GuestNameFiles.Write(fs, c);
        }
        catch (Exception e) when (e is VServerException or IOException or UnauthorizedAccessException)
        {
            reporter.Warning($"Guest '{c.Name}': its configuration is changed, but /etc/hostname and /etc/hosts in {target} could not be written: {e.Message}");
        }
    }

    /// <summary>Deletes a guest's root directory (never following a symlink out of it) and its configuration.</summary>
    public void Remove(string name, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        Validate.ExistingGuestName(name);
        var run = new Runtime.RunDirectory(Paths, name);
        // a guest whose init just ended (killed from inside or by vkill): its monitor is still
        // running the exit hook, which cleans up its cgroup and network; the remove waits for it
        if (run.ReadState() is { } ended && run.Status().State != GuestState.Running)
        {
            Runtime.GuestRuntime.WaitForConmon(ended, TimeSpan.FromSeconds(10));
        }
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        var c = ReadConfig(name);
        var root = RootOf(c);
        // a stop's cleanup (the exit hook, in another process) holds the guest's lock until it is done
        using var guestLock = File.Exists(run.LockFile) ? run.Lock() : null; // (a guest never started has none)
        if (run.Status().State == GuestState.Running)
        {
            throw new VServerException("GuestRunning", ErrorKind.InvalidOperation,
                $"Guest '{name}' is running: stop it first (Stop-VServerGuest {name}).", name);
        }
        var mounts = MountTable.MountPointsUnder(root);
        if (mounts.Count > 0)
        {
            throw new VServerException("GuestRootBusy", ErrorKind.ResourceUnavailable,
                $"Guest '{name}' cannot be removed: {mounts[0]} is mounted inside its root {root}.", name);
        }
        // as lxc-destroy: a guest's snapshots are not removed by the way
        if (new GuestSnapshots(this).List(name) is { Count: > 0 } snaps)
        {
            throw new VServerException("GuestHasSnapshots", ErrorKind.InvalidOperation,
                $"Guest '{name}' has {snaps.Count} snapshot(s) ({string.Join(", ", snaps.Select(s => s.Name))}): remove them first (Get-VServerSnapshot {name} | Remove-VServerSnapshot).", name);
        }
        var configDir = Paths.ConfigDir(name);
        var token = Guid.NewGuid().ToString("N")[..12];
        var removing = Path.Combine(Paths.ConfigRoot, RemovingPrefix + name + "-" + token);
        // All or nothing: the guest disappears (config, then root, renamed aside in their own
        // directories) before anything is deleted. If a rename fails, what moved moves back and the
        // guest is whole; once both moved, it is removed, and whatever cannot be deleted is named.
        Directory.Move(configDir, removing);
        var parked = new List<(string From, string Aside)>();
        try
        {
            foreach (var dir in new[] { root, TemplateLayers.LayersOf(root) })
            {
                if (!Directory.Exists(dir) && !File.Exists(dir))
                {
                    continue;
                }
                var aside = Path.Combine(Path.GetDirectoryName(dir.TrimEnd('/'))!, RemovingPrefix + name + "-" + token + (dir == root ? "" : ".layers"));
                Directory.Move(dir, aside); // rename(2): a link is moved, never followed
                parked.Add((dir, aside));
            }
        }
        catch
        {
            for (var i = parked.Count - 1; i >= 0; i--)
            {
                Directory.Move(parked[i].Aside, parked[i].From);
            }
            Directory.Move(removing, configDir);
            throw;
        }
        run.Delete();
        // lxcfs serves the installation's guests from the first start; with no guest running any more, it ends with a remove
        Runtime.GuestProcView.Release(Paths, reporter);
        foreach (var dir in parked.Select(p => p.Aside).Append(removing))
        {
            try
            {
                reporter.Verbose($"Removing {dir} (guest '{name}').");
                if (Btrfs.IsSubvolume(dir))
                {
                    var id = c.DiskLimit is long ? Btrfs.SubvolumeId(dir) : 0;
                    Btrfs.DeleteSubvolume(dir, cancel);
                    if (id != 0)
                    {
                        Btrfs.ForgetQgroup(Path.GetDirectoryName(dir)!, id); // its limit goes with it
                    }
                }
                else
                {
                    SafeRemove.RemoveTree(dir, cancel);
                }
            }
            catch (Exception e) when (e is VServerException or IOException or UnauthorizedAccessException or OperationCanceledException)
            {
                reporter.Warning($"Guest '{name}' is removed, but {dir} could not be deleted ({e.Message}). It is no guest's any more; VServer deletes it at its next create, or delete it by hand.");
            }
        }
    }

    private static void EnsureDirectory(string dir, int mode)
    {
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, (UnixFileMode)mode);
        }
    }

    /// <summary>
    /// Gives a stopped guest a new name: its configuration directory is renamed, and so is its root
    /// (with a Template guest's layers) when it lies at the default place for its name
    /// (<c>$VDIR_ROOT/NAME</c>); a root elsewhere stays where its <c>vdir</c> says. All or nothing:
    /// a rename that fails moves back what it moved. The new name is one VServer gives a new guest;
    /// the old may be any name util-vserver allowed.
    /// </summary>
    public Guest Rename(string name, string newName, IOperationReporter? reporter = null)
    {
        reporter ??= NullReporter.Instance;
        Validate.ExistingGuestName(name);
        Validate.GuestName(newName);
        using var hostLock = HostLock.Acquire(Paths.LockFile);
        var c = ReadConfig(name);
        if (name == newName)
        {
            return Get(name);
        }
        var configDir = Paths.ConfigDir(name);
        var newConfigDir = Paths.ConfigDir(newName);
        if (Taken(newConfigDir))
        {
            throw new VServerException("GuestExists", ErrorKind.ResourceExists, $"Guest '{newName}' already exists ({newConfigDir}).", newName);
        }
        var run = new Runtime.RunDirectory(Paths, name);
        using var guestLock = File.Exists(run.LockFile) ? run.Lock() : null;
        var left = Runtime.Cgroups.Processes(Runtime.Cgroups.PathFor(Paths, name));
        if (run.Status().State == GuestState.Running || left.Count > 0)
        {
            throw new VServerException("GuestRunning", ErrorKind.InvalidOperation,
                $"Guest '{name}' is running: stop it first (Stop-VServerGuest '{name}'); a running guest's cgroup, network namespace and monitor carry its name.", name);
        }
        var root = RootOf(c);
        var moves = new List<(string From, string To)> { (configDir, newConfigDir) };
        string? vdirText = null;
        if (root == Paths.DefaultRootDir(name))
        {
            var newRoot = Paths.DefaultRootDir(newName);
            foreach (var (from, to) in new[] { (root, newRoot), (TemplateLayers.LayersOf(root), TemplateLayers.LayersOf(newRoot)) })
            {
                var exists = Directory.Exists(from) || File.Exists(from);
                if (exists && Taken(to))
                {
                    throw new VServerException("RootExists", ErrorKind.ResourceExists,
                        $"Guest '{name}' cannot be renamed to '{newName}': its root {from} would move to {to}, which is already there.", to);
                }
                if (exists)
                {
                    moves.Add((from, to));
                }
            }
            // util-vserver's own vdir (…/.defaults/vdirbase/NAME) keeps its form, with the new name
            if (new FileInfo(Path.Combine(configDir, "vdir")).LinkTarget is string link)
            {
                vdirText = link.EndsWith("/" + name, StringComparison.Ordinal) ? link[..^name.Length] + newName : newRoot;
            }
        }
        // the guest's snapshots (beside its root, keyed by its name) move with it
        var snapshots = new GuestSnapshots(this).DirectoryOf(name, c);
        if (Directory.Exists(snapshots))
        {
            var to = Path.Combine(Path.GetDirectoryName(snapshots)!, Runtime.GuestId.Of(newName));
            if (Taken(to))
            {
                throw new VServerException("RootExists", ErrorKind.ResourceExists, $"Guest '{name}' cannot be renamed to '{newName}': its snapshots would move to {to}, which is already there.", to);
            }
            moves.Add((snapshots, to));
        }
        var done = new List<(string From, string To)>();
        try
        {
            foreach (var (from, to) in moves)
            {
                Sys.Rename(from, to); // rename(2): a link is moved, never followed
                done.Add((from, to));
            }
            if (vdirText is not null)
            {
                var vdir = Path.Combine(newConfigDir, "vdir");
                var staged = vdir + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
                File.CreateSymbolicLink(staged, vdirText);
                if (ConfigDirectory.ReadRootOf(staged, newConfigDir) != Paths.DefaultRootDir(newName))
                {
                    File.Delete(staged);
                    File.CreateSymbolicLink(staged, Paths.DefaultRootDir(newName));
                }
                Sys.Rename(staged, vdir);
            }
        }
        catch
        {
            for (var i = done.Count - 1; i >= 0; i--)
            {
                Sys.Rename(done[i].To, done[i].From);
            }
            foreach (var stray in Directory.Exists(configDir) ? Directory.EnumerateFileSystemEntries(configDir, "vdir.tmp-*") : [])
            {
                File.Delete(stray);
            }
            throw;
        }
        run.Delete();
        reporter.Verbose($"Guest '{name}' is now '{newName}'.");
        return Get(newName);
    }

    /// <summary>Whether anything is at a path: a directory, a file, or a link (dangling too), never followed.</summary>
    private static bool Taken(string path) => Directory.Exists(path) || File.Exists(path) || new FileInfo(path).LinkTarget is not null;

    /// <summary>Staging and removal leftovers of an interrupted process (we hold the lock: nobody else is working).</summary>
    private static void RemoveStale(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return;
        }
        foreach (var d in new DirectoryInfo(dir).EnumerateFileSystemInfos()
                     .Where(d => d.Name.StartsWith(StagingPrefix, StringComparison.Ordinal) || d.Name.StartsWith(RemovingPrefix, StringComparison.Ordinal)))
        {
            SafeRemove.RemoveTree(d.FullName);
        }
    }
}
