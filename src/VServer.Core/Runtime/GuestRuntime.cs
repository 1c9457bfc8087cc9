using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using VServer.Native;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>A command to run inside a guest.</summary>
public sealed record ExecRequest(IReadOnlyList<string> Command)
{
    public string? User { get; init; }
    public string? WorkingDirectory { get; init; }
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>What the command reads on its standard input, which is then closed; null: nothing (an empty, closed input).</summary>
    public string? Input { get; init; }
}

/// <summary>
/// Starts, stops, restarts and enters guests: a bundle generated from the configuration, launched
/// by the OCI runtime under conmon, which stays the guest's parent and calls <c>vserver NAME
/// exited INSTANCE</c> (src/VServer.Cli) when the guest's init ends — the hook that restarts a
/// guest after reboot(2) inside it.
/// </summary>
public sealed class GuestRuntime
{
    /// <summary>init died of SIGHUP: reboot(2) inside the guest's PID namespace.</summary>
    public const int RebootExitCode = 128 + 1;

    /// <summary>util-vserver's kill sequence after the stop timeout: TERM, wait 5 s, KILL.</summary>
    public static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(5);

    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(30);

    private readonly GuestStore _store;

    public GuestRuntime(GuestStore store) => _store = store;

    public VServerPaths Paths => _store.Paths;

    public RunDirectory Run(string name) => new(Paths, name);

    public GuestStatus Status(string name) => Run(name).Status();

    // ---------------------------------------------------------------- start

    public GuestStatus Start(string name, IOperationReporter? reporter = null, CancellationToken cancel = default) => Start(name, noDevices: false, reporter, cancel);

    /// <summary>
    /// Starts a guest; <paramref name="noDevices"/> (util-vserver's <c>--nodev</c>): without its
    /// network devices, for this start only — a guest with its own network namespace gets one with
    /// only loopback (no veth, no address, no published port); a Host-mode guest is unchanged.
    /// </summary>
    public GuestStatus Start(string name, bool noDevices, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        var config = _store.ReadConfig(name);
        if (noDevices && config.EffectiveNetworkMode != NetworkMode.Host)
        {
            config.NetworkMode = NetworkMode.None;
            config.Publish = new();
            reporter.Verbose($"Guest '{name}' starts without its network devices (--nodev): loopback only.");
        }
        OciBundle.CheckStartable(config);
        var run = Run(name);
        // one running guest per context: the check and the start under the context's lock
        using var contextLock = config.Context is int cx ? HostLock.Acquire(Path.Combine(Paths.RunRoot, ".context-" + cx.ToString(CultureInfo.InvariantCulture) + ".lock")) : null;
        using var guestLock = run.Lock();
        var prior = run.ReadState();
        if (prior is { InitAlive: true })
        {
            throw new VServerException("GuestAlreadyRunning", ErrorKind.InvalidOperation, $"Guest '{name}' is already running.", name);
        }
        // the kernel's word, whatever the run directory says: never clean up after a guest that has processes
        var left = Cgroups.Processes(Cgroups.PathFor(Paths, name));
        if (left.Count > 0)
        {
            throw new VServerException("GuestAlreadyRunning", ErrorKind.InvalidOperation,
                $"Guest '{name}' still has {left.Count} process(es) in its cgroup {Cgroups.PathFor(Paths, name)} (host pid {left[0]}), though VServer cannot find its init; nothing was changed. Stop them first (Stop-VServerGuest {name}).", name);
        }
        if (config.Context is int ctx && RunDirectory.Running(Paths, ctx).FirstOrDefault(r => r.Name != name) is { Name: not null } holder)
        {
            throw new VServerException("ContextInUse", ErrorKind.ResourceExists,
                $"Guest '{name}' cannot start: its context {ctx} is held by the running guest '{holder.Name}'. Give one of them another context (Set-VServerGuest {name} -Context N).", ctx);
        }
        CleanupLocked(run, prior, reporter);
        return StartLocked(config, run, reporter, cancel);
    }

    /// <summary>What the configuration holds that this start runs differently or not at all: each named once per start.</summary>
    private static void WarnNotApplied(GuestConfig config, IOperationReporter reporter)
    {
        if (config.InitStyleAsWritten is string style)
        {
            reporter.Warning(config.InitStyle == InitStyle.Sysv
                ? $"Guest '{config.Name}': util-vserver's init style '{style}' runs as Sysv with /etc/rc.d/rc (its nearest equivalent)."
                : $"Guest '{config.Name}': util-vserver's init style '{style}' runs as Plain (/sbin/init, its nearest equivalent).");
        }
        foreach (var item in config.NotApplied)
        {
            reporter.Warning($"Guest '{config.Name}': not applied: {item}.");
        }
    }

    private GuestStatus StartLocked(GuestConfig config, RunDirectory run, IOperationReporter reporter, CancellationToken cancel)
    {
        var root = _store.RootOf(config);
        CheckRoot(config.Name, root);
        WarnNotApplied(config, reporter);
        if (config.DiskLimit is long disk && (config.Template is not null || Storage.Btrfs.KindOf(root) != Storage.StorageKind.Btrfs))
        {
            reporter.Warning($"Guest '{config.Name}': not applied: the disk limit of {disk} bytes (its root {root} is not a btrfs subvolume, where VServer enforces disk limits).");
        }
        if (config.SwapLimit is long swap && !Cgroups.SwapLimitSupported())
        {
            reporter.Warning($"Guest '{config.Name}': not applied: the swap limit of {swap} bytes (this host's memory cgroup does not account swap: boot it with swapaccount=1, or use cgroup v2).");
        }
        GuestHooks.Run(Paths, config.Name, "initialize", reporter);
        GuestHooks.Run(Paths, config.Name, "prepre-start", reporter);
        // conmon as early as it can be (its own start runs beside every step below, its create gated until
        // the bundle is written): here for a guest whose root is its tree, after the overlay for a Template guest
        var prep = config.Template is null ? Prepare(config, run, root, reporter) : null;
        // the kernel's wait before the runtime's move of init, paid beside the steps below (ended once the runtime's create has)
        using var warmup = MigrationWarmup.Begin();
        var handedOver = false;
        try
        {
            // private users: the guest's user namespace first, owning the network namespace made next
            using var users = config.PrivateUsers is IdRange range ? CreateUsers(config.Name, range, config.EffectiveNetworkMode != NetworkMode.Host) : null;
            // the guest's network namespace, made and filled before its init runs (null: Host mode)
            var netns = GuestNetwork.Setup(config, _store, reporter, users?.NetFd ?? -1);
            try
            {
                if (config.Template is not string template)
                {
                    handedOver = true;
                    return StartMounted(config, run, root, null, netns, users, warmup, prep, reporter, cancel);
                }
                // a Template guest's root is an overlay on its template, there only while it runs
                TemplateLayers.Mount(config.Name, template, root);
                try
                {
                    handedOver = true;
                    return StartMounted(config, run, root, root, netns, users, warmup, null, reporter, cancel);
                }
                catch
                {
                    TemplateLayers.Unmount(root);
                    throw;
                }
            }
            catch
            {
                GuestNetwork.Release(_store, config.Name, reporter);
                throw;
            }
        }
        catch when (prep is not null && !handedOver)
        {
            // before StartMounted took the start over (its users or network failed): conmon's create is called off here
            prep.Launch.CallOff(reporter);
            prep.Launch.Dispose();
            CleanupLocked(run, null, reporter);
            throw;
        }
    }

    /// <summary>What a start decides before its bundle, and conmon, started with the runtime's create held at a gate until <see cref="ConmonLaunch.Open"/>.</summary>
    private sealed record StartPrep(InitKind Kind, GuestConfig Effective, OciRuntime Runtime, string? InitHelper, string Instance, ConmonLaunch Launch);

    /// <summary>
    /// The guest's root checked and its init told (<see cref="PrepareRoot"/>), the runtime, conmon and
    /// any init helper found, the run directory made afresh and conmon started (<see cref="ConmonLaunch.Begin"/>).
    /// What it made is cleared again when it fails.
    /// </summary>
    private StartPrep Prepare(GuestConfig config, RunDirectory run, string root, IOperationReporter reporter)
    {
        var name = config.Name;
        var kind = PrepareRoot(name, root);
        var effective = OciBundle.Effective(config, kind); // Auto decided from the tree
        var runtime = OciRuntime.Resolve(Paths);
        var conmon = HostProcess.Find("conmon") ?? throw new VServerException("ConmonNotFound", ErrorKind.NotInstalled,
            "conmon is not installed (Debian package 'conmon'); VServer runs every guest under it.", "conmon");
        string? initHelper = null;
        if (effective.InitStyle == InitStyle.Sysv)
        {
            initHelper = HostProcess.Find("tini-static") ?? throw new VServerException("InitHelperNotFound", ErrorKind.NotInstalled,
                $"Guest '{name}' uses the Sysv init style, which needs the tini-static binary (Debian package 'tini').", name);
        }
        Directory.CreateDirectory(Paths.RunRoot);
        run.Clear();
        Directory.CreateDirectory(run.Bundle);
        File.SetUnixFileMode(run.Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(run.ExitDir);
        Directory.CreateDirectory(run.AttachDir);
        var instance = Guid.NewGuid().ToString("N");
        try
        {
            reporter.Verbose($"Starting guest '{name}' with {runtime.Name} under conmon (instance {instance[..12]}).");
            ConsoleLog.KeepPrevious(run); // conmon starts this start's log afresh
            return new StartPrep(kind, effective, runtime, initHelper, instance, ConmonLaunch.Begin(this, conmon, runtime, run, instance, OciBundle.IsSystemd(effective, kind), reporter));
        }
        catch
        {
            CleanupLocked(run, null, reporter);
            throw;
        }
    }

    /// <summary>
    /// The tree on disk keeps the guest's own ids (its root's files are owned by 0 there), so the
    /// directory above a private-users guest's root must keep host users out, as util-vserver's
    /// barrier (mode 000) does; otherwise a setuid-root file made inside is setuid root for any host user.
    /// </summary>
    private static void WarnOpenParent(string name, string root, IOperationReporter reporter)
    {
        var parent = Path.GetDirectoryName(root)!;
        var mode = File.GetUnixFileMode(parent);
        if ((mode & (UnixFileMode.OtherExecute | UnixFileMode.GroupExecute)) != 0)
        {
            reporter.Warning($"Guest '{name}': the directory above its root, {parent}, lets host users in (mode {Convert.ToString((int)mode, 8)}). " +
                $"In the tree the guest's root owns files as uid 0, so a setuid-root file made inside runs as root for any host user who reaches it. Keep it at mode 000 as util-vserver does (chmod 000 {parent}).");
        }
    }

    /// <summary>A private-users guest's namespaces for this start; a range another guest also holds (written by hand) is refused.</summary>
    private GuestUsers CreateUsers(string name, IdRange range, bool network)
    {
        if (_store.UserRangesInUse().FirstOrDefault(kv => kv.Key != name && kv.Value.Overlaps(range)) is { Key: not null } other)
        {
            throw new VServerException("UserRangeInUse", ErrorKind.ResourceExists,
                $"Guest '{name}' cannot start: its private users {range} meet those of guest '{other.Key}' ({other.Value}); two guests never share host ids. Give it a range of its own (Set-VServerGuest {name} -PrivateUsers:$false, then -PrivateUsers).", name);
        }
        return GuestUsers.Create(range, network);
    }

    private GuestStatus StartMounted(GuestConfig config, RunDirectory run, string root, string? rootMount, string? netns, GuestUsers? users, MigrationWarmup.Lease? warmup,
        StartPrep? prep, IOperationReporter reporter, CancellationToken cancel)
    {
        var name = config.Name;
        prep ??= Prepare(config, run, root, reporter); // a Template guest's, on its overlay
        var (kind, runtime, initHelper, instance, launch) = (prep.Kind, prep.Runtime, prep.InitHelper, prep.Instance, prep.Launch);
        var applied = LiveSettings.Of(config); // as configured (Auto stays Auto): what Get-VServerGuest compares with
        config = prep.Effective; // Auto decided from the tree
        var cgroups = Cgroups.PathFor(Paths, name);
        var started = DateTimeOffset.UtcNow;
        int initPid;
        JsonObject bundle;
        try
        {
            WriteResolvConf(config, root, reporter);
            var limits = OciBundle.Limits(config, Cgroups.SwapLimitSupported());
            // the limits sit one level above the runtime's cgroup, out of the guest's sight; the
            // cgroup exists before lxcfs is asked for, so a last guest's stop never takes lxcfs away under this start
            Cgroups.Create(cgroups, limits);
            // private users: the runtime gets the root idmapped through the guest's user namespace, which it joins
            if (users is not null)
            {
                WarnOpenParent(name, root, reporter);
                if (rootMount is not null)
                {
                    // a Template guest: the host's overlay served the checks above; the guest gets one on idmapped layers (two on one upper layer never)
                    TemplateLayers.Unmount(rootMount);
                }
                users.MountRoot(name, root, run.IdmappedRoot, run.UserNamespaceFile, config.Template);
            }
            var options = BundleOptionsFor(config, users is null ? root : run.IdmappedRoot, runtime, initHelper, netns, rootMount, kind, users?.Range, users is null ? null : run.UserNamespaceFile)
                with { ProcView = GuestProcView.Ensure(Paths, name, reporter) };
            options = options with { ProcViewFiles = options.ProcView is null ? null : GuestProcView.FilesServed(Paths) };
            bundle = OciBundle.Generate(config, options, reporter);
            AtomicFile.WriteAllBytes(run.ConfigJson, OciBundle.SerializeUtf8(bundle), durable: false);
            GuestHooks.Run(Paths, name, "pre-start", reporter);
            initPid = launch.Open(cancel);
        }
        catch
        {
            launch.CallOff(reporter); // the runtime's create never runs; conmon has ended when this returns
            CleanupLocked(run, null, reporter);
            throw;
        }
        finally
        {
            launch.Dispose();
            warmup?.Dispose();
        }
        try
        {
            var ticks = ProcFs.StartTicks(initPid) ?? throw new VServerException("GuestStartFailed", ErrorKind.InvalidOperation,
                $"Guest '{name}': its init (pid {initPid}) vanished before it was started. Console log: {Tail(run)}", name);
            if (config.Nice is int nice)
            {
                Sys.SetNice(initPid, nice); // before start: the guest's init inherits it
            }
            if (users is not null && OciBundle.IsSystemd(config, kind))
            {
                GuestUsers.DelegateCgroup(Cgroups.PayloadOf(cgroups), users.Range); // systemd makes its tree below its cgroup namespace's root
            }
            var state = new RunState
            {
                Instance = instance,
                InitPid = initPid,
                InitStartTicks = ticks,
                ConmonPid = run.ReadConmonPid() ?? 0,
                StartTime = started,
                Runtime = runtime.Path,
                RuntimeRoot = runtime.StateRoot,
                CgroupsPath = cgroups,
                Context = config.Context,
                RootMount = rootMount,
                NetworkNamespace = netns is null ? null : GuestNetwork.NamespaceOf(Paths, name),
                InitStyle = config.InitStyle,
                StopSignal = OciBundle.StopSignal(config, kind),
                InitKind = config.InitStyle == InitStyle.Plain ? kind : null,
                Users = users?.Range,
                Applied = applied,
            };
            run.WriteState(state);
            var childFaults = ProcFs.Stat(initPid)?.ChildMinorFaults ?? 0; // the runtime's own, before init runs
            runtime.Start(name, run.Id);
            // written while the guest's init takes its first steps (a failed start below removes them)
            WriteRunLink(config, run);
            GuestAttach.WriteExecRecords(run, state, config, bundle["process"] as JsonObject);
            // an init that dies at once (a broken /sbin/init, a missing library) fails the start, with why
            if (!InitSettles(initPid, ticks, Cgroups.ProcessDirectory(cgroups), childFaults))
            {
                throw InitFailed(run, name);
            }
        }
        catch
        {
            KillAndWait(run, runtime, initPid, ProcFs.StartTicks(initPid));
            CleanupLocked(run, run.ReadState(), reporter);
            throw;
        }
        GuestHooks.Run(Paths, name, "post-start", reporter);
        return run.Status();
    }

    /// <summary>Whether the guest ran with an interface on the host's side (its network as its start applied it); true when that cannot be read.</summary>
    private bool RanAttached(string name, RunState state)
    {
        try
        {
            return GuestNetwork.Links(Paths, LiveSettings.NetworkAsApplied(_store.ReadConfig(name), state)).Count > 0;
        }
        catch (VServerException)
        {
            return true;
        }
    }

    /// <summary>
    /// util-vserver's <c>run</c> link in the configuration directory: it names a file that holds
    /// the guest's context while the guest runs (gone when it stops), so tools that read it see the
    /// guest running. A <c>run</c> that is not a symlink is the administrator's and stays.
    /// </summary>
    private void WriteRunLink(GuestConfig config, RunDirectory run)
    {
        AtomicFile.WriteAllText(run.ContextFile, (config.Context?.ToString(CultureInfo.InvariantCulture) ?? "") + "\n", durable: false);
        var link = Path.Combine(Paths.ConfigDir(config.Name), "run");
        var info = new FileInfo(link);
        if (info.LinkTarget == run.ContextFile || (info.Exists && info.LinkTarget is null) || Directory.Exists(link))
        {
            return;
        }
        var tmp = link + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.CreateSymbolicLink(tmp, run.ContextFile);
        Sys.Rename(tmp, link);
    }

    /// <summary>The guest's /etc/resolv.conf for this start (Bridge, IPvlan and Macvlan guests: the others have the host's network, or none).</summary>
    private void WriteResolvConf(GuestConfig config, string root, IOperationReporter reporter)
    {
        var mode = config.EffectiveNetworkMode;
        if (mode is not (NetworkMode.Bridge or NetworkMode.IPvlan or NetworkMode.Macvlan))
        {
            return;
        }
        var bridge = mode == NetworkMode.Bridge ? new BridgeStore(Paths).Read(config.Bridge ?? Bridge.DefaultName) : null;
        var host = File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "";
        var (content, warning) = Build.GuestResolvConf.Decide(config, bridge, host);
        if (warning is not null)
        {
            reporter.Warning(warning);
        }
        if (content is null)
        {
            return;
        }
        try
        {
            using var fs = GuestRootFs.Open(root);
            Build.GuestResolvConf.Write(fs, content);
        }
        catch (VServerException e)
        {
            reporter.Warning($"Guest '{config.Name}': its /etc/resolv.conf could not be written: {e.Message}");
        }
    }

    /// <summary>How long a start watches the guest's init at most before it reports the guest running.</summary>
    public static readonly TimeSpan InitWatch = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Watches a new init for up to <see cref="InitWatch"/>: false when it dies in that time. The
    /// watch ends early once init has started its work (busybox init its rcS, systemd its units,
    /// tini its child), which is not dying at once, so a healthy start does not pay the whole
    /// window: the guest's cgroup holds a second process, or init has reaped one already (its
    /// children's minor faults, <paramref name="childFaults"/> before the start, went up: busybox
    /// init's rcS of a guest with no services ends within a millisecond and was missed).
    /// </summary>
    /// <param name="processDirectory">The guest's cgroup in the counting hierarchy (<see cref="Cgroups.ProcessDirectory"/>, resolved once).</param>
    internal static bool InitSettles(int initPid, ulong ticks, string? processDirectory, ulong childFaults)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < InitWatch)
        {
            if (ProcFs.StatIfAlive(initPid, ticks) is not { } stat)
            {
                return false;
            }
            if (stat.ChildMinorFaults > childFaults || Cgroups.ProcessesIn(processDirectory).Count >= 2)
            {
                return true;
            }
            Thread.Sleep(1);
        }
        return ProcFs.IsAlive(initPid, ticks);
    }

    /// <summary>GuestInitFailed with the exit status or signal conmon recorded and the console's last lines.</summary>
    private static VServerException InitFailed(RunDirectory run, string name)
    {
        var state = run.ReadState();
        if (state is not null)
        {
            WaitForConmon(state, TimeSpan.FromSeconds(5)); // it records the status as it ends
        }
        var code = run.ReadExitCode();
        var how = code switch
        {
            null => "ended",
            > 128 => $"was killed by {Processes.Signals.Name(code.Value - 128)} (exit status {code})",
            _ => $"exited with status {code}",
        };
        return new VServerException("GuestInitFailed", ErrorKind.InvalidOperation,
            $"Guest '{name}': its init {how} right after the start. Console: {Tail(run)}", name);
    }

    private BundleOptions BundleOptionsFor(GuestConfig config, string root, OciRuntime runtime, string? initHelper, string? netns, string? rootMount, InitKind kind,
        IdRange? users = null, string? userns = null) => new()
    {
        Users = users,
        UserNamespace = userns,
        InitKind = kind,
        RootPath = root,
        CgroupsPath = Cgroups.PayloadOf(Cgroups.PathFor(Paths, config.Name)),
        InitHelper = initHelper,
        TimeNamespace = config.Flags.Contains("virt_uptime") && runtime.TimeNamespace,
        NetworkNamespace = netns,
        HostNetwork = config.EffectiveNetworkMode == NetworkMode.Host,
        RootMount = rootMount,
    };

    /// <summary>
    /// The runtime's exec takes the process defaults (environment, capabilities, rlimits) from the
    /// bundle's config.json. When the run directory was lost and the state rebuilt from the kernel,
    /// the bundle is written again from the configuration, as the start wrote it.
    /// </summary>
    private void EnsureBundle(GuestConfig config, RunDirectory run, RunState state)
    {
        if (File.Exists(run.ConfigJson))
        {
            return;
        }
        var runtime = new OciRuntime(state.Runtime, state.RuntimeRoot);
        InitKind kind;
        using (var fs = GuestRootFs.Open(_store.RootOf(config)))
        {
            kind = fs.InitKind();
        }
        config = OciBundle.Effective(config, kind);
        var helper = config.InitStyle == InitStyle.Sysv ? HostProcess.Find("tini-static") : null;
        var netns = state.NetworkNamespace is null ? null : GuestNetwork.NamespacePath(Paths, config.Name);
        var users = state.Users;
        var bundle = OciBundle.Generate(config, BundleOptionsFor(config, users is null ? _store.RootOf(config) : run.IdmappedRoot, runtime, helper, netns, state.RootMount, kind,
            users, users is null ? null : "/proc/" + state.InitPid.ToString(CultureInfo.InvariantCulture) + "/ns/user") with { ProcView = GuestProcView.Current(Paths) });
        Directory.CreateDirectory(run.Bundle);
        AtomicFile.WriteAllBytes(run.ConfigJson, OciBundle.SerializeUtf8(bundle), durable: false);
    }

    /// <summary>Where the runtime mounts /proc, /dev and /sys; it works on these by host path before it enters the root.</summary>
    public static readonly IReadOnlyList<string> RuntimeMountPoints = new[] { "proc", "dev", "sys" };

    /// <summary>
    /// Makes sure the directories the runtime mounts over are real directories of the guest's tree,
    /// created in-root when missing. A symlink there (a tree imported, restored or unpacked from a
    /// hostile guest) is refused: runc would follow it on the host side while it sets up /dev
    /// (ptmx, fd, stdin …) and write into whatever host directory it names.
    /// </summary>
    /// <returns>What the guest's /sbin/init is (named by where it resolves inside the root; never run).</returns>
    private static InitKind PrepareRoot(string name, string root)
    {
        using var fs = GuestRootFs.Open(root);
        foreach (var dir in TestSeams.SkipRootPreparation ? Array.Empty<string>() : RuntimeMountPoints)
        {
            var st = fs.LStat(dir);
            if (st is null)
            {
                fs.CreateDirectory(dir);
            }
            else if (!Sys.IsDir(st.Value))
            {
                throw new VServerException("GuestRootUnsafe", ErrorKind.PermissionDenied,
                    $"Guest '{name}' cannot start: /{dir} in its root {root} is not a directory ({(Sys.IsLink(st.Value) ? "a symlink" : "another kind of file")}), and the runtime would follow it on the host. Replace it with a directory; nothing was started.", "/" + dir);
            }
        }
        return fs.InitKind();
    }

    private static void CheckRoot(string name, string root)
    {
        try
        {
            var st = Sys.FStatAt(Sys.AT_FDCWD, root, Sys.AT_SYMLINK_NOFOLLOW);
            if (Sys.IsDir(st))
            {
                return;
            }
        }
        catch (SyscallException)
        {
        }
        throw new VServerException("GuestRootMissing", ErrorKind.ObjectNotFound,
            $"Guest '{name}' cannot start: its root {root} is not a directory (it must not be a symlink).", root);
    }

    /// <summary>
    /// conmon for one start: it forks itself away, runs the runtime's <c>create</c> and reports the
    /// guest's init pid (or the runtime's error) on the sync pipe (<c>_OCI_SYNCPIPE</c>).
    /// <see cref="Begin"/> starts it before the bundle is written, its create held at a gate
    /// (<c>vserver-ns gate</c>: a pipe whose read end conmon and its runtime child inherit) until
    /// <see cref="Open"/> says one byte; <see cref="CallOff"/> closes the gate without it, and the create
    /// ends without running the runtime. Where vserver-ns is missing there is no gate, and conmon
    /// starts at <see cref="Open"/>, after the bundle, as before.
    /// </summary>
    private sealed class ConmonLaunch : IDisposable
    {
        private readonly string _conmon;
        private readonly List<string> _args;
        private readonly Dictionary<string, string> _env;
        private readonly RunDirectory _run;
        private int _syncRead;
        private int _syncWrite;
        private int _gateWrite = -1;
        private HostProcess.Spawned? _spawned;

        private string Name => _run.Name;

        private ConmonLaunch(string conmon, List<string> args, Dictionary<string, string> env, RunDirectory run, int syncRead, int syncWrite)
        {
            (_conmon, _args, _env, _run) = (conmon, args, env, run);
            (_syncRead, _syncWrite) = (syncRead, syncWrite);
        }

        public static ConmonLaunch Begin(GuestRuntime owner, string conmon, OciRuntime runtime, RunDirectory run, string instance, bool terminal, IOperationReporter reporter)
        {
            var (syncRead, syncWrite) = Sys.Pipe();
            var (gateRead, gateWrite) = (-1, -1);
            try
            {
                (gateRead, gateWrite) = Sys.Pipe();
                var create = runtime.CreateCommand(gateRead); // conmon runs only the runtime's create
                if (!create.Gated)
                {
                    Sys.Close(gateRead);
                    Sys.Close(gateWrite);
                    (gateRead, gateWrite) = (-1, -1);
                }
                var args = new List<string>
                {
                    "--api-version", "1", "-c", run.Id, "-u", instance, "-n", run.Id,
                    "-r", create.Program, "-b", run.Bundle, "-p", run.InitPidFile, "-P", run.ConmonPidFile,
                    "-l", "k8s-file:" + run.ConsoleLog, "--log-size-max", "4194304",
                    "--exit-dir", run.ExitDir, "--socket-dir-path", run.AttachDir,
                };
                foreach (var a in create.Args.Append("--root=" + runtime.StateRoot))
                {
                    args.Add("--runtime-arg");
                    args.Add(a);
                }
                if (terminal)
                {
                    args.Add("-t"); // the bundle asks for a console: conmon makes the pty and logs it
                }
                var cli = CliPath();
                if (cli is null)
                {
                    reporter.Warning($"Guest '{run.Name}': the vserver command was not found next to VServer.Core.dll (or in VSERVER_CLI), or could not be made executable, so a reboot inside the guest will leave it stopped.");
                }
                else
                {
                    args.AddRange(new[] { "--exit-command", cli, "--exit-command-arg", run.Name, "--exit-command-arg", "exited", "--exit-command-arg", instance });
                }
                var env = new Dictionary<string, string>
                {
                    ["_OCI_SYNCPIPE"] = syncWrite.ToString(CultureInfo.InvariantCulture),
                    ["VSERVER_CONFIG_ROOT"] = owner.Paths.ConfigRoot,
                    ["VSERVER_VDIR_ROOT"] = owner.Paths.VdirRoot,
                    ["VSERVER_RUN_ROOT"] = owner.Paths.RunRoot,
                    ["VSERVER_RUNTIME"] = runtime.Path,
                    ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                };
                if (DotnetRoot() is string dotnetRoot)
                {
                    env["DOTNET_ROOT"] = dotnetRoot;
                }
                var launch = new ConmonLaunch(conmon, args, env, run, syncRead, syncWrite);
                (syncRead, syncWrite) = (-1, -1); // the launch's now
                if (gateRead >= 0)
                {
                    try
                    {
                        launch.Spawn(gateRead);
                    }
                    catch
                    {
                        launch.Dispose();
                        throw;
                    }
                    Sys.Close(gateRead);
                    gateRead = -1;
                    (launch._gateWrite, gateWrite) = (gateWrite, -1);
                }
                return launch;
            }
            catch
            {
                foreach (var fd in new[] { syncRead, syncWrite, gateRead, gateWrite })
                {
                    if (fd >= 0)
                    {
                        Sys.Close(fd);
                    }
                }
                throw;
            }
        }

        private void Spawn(int gateRead)
        {
            // conmon forks away at once, its daemon's output on /dev/null: what it writes (an error) is read once it has ended
            _spawned = HostProcess.Spawn(_conmon, _args, _env, gateRead >= 0 ? new[] { _syncWrite, gateRead } : new[] { _syncWrite });
            Sys.Close(_syncWrite);
            _syncWrite = -1;
        }

        /// <summary>The bundle is written: the runtime's create runs (conmon starts now where there is no gate); the guest's init pid once conmon reports it.</summary>
        public int Open(CancellationToken cancel)
        {
            if (_spawned is null)
            {
                Spawn(-1);
            }
            else
            {
                try
                {
                    Sys.WriteAll(_gateWrite, "1"u8);
                }
                catch (SyscallException)
                {
                    // nobody reads the gate (EPIPE): conmon ended already, and says why below
                }
                CloseGate();
            }
            var r = _spawned!.Wait();
            if (r.ExitCode != 0)
            {
                throw new VServerException("GuestStartFailed", ErrorKind.InvalidOperation,
                    $"Guest '{Name}': conmon failed ({r.ExitCode}): {OciRuntime.FirstLine(r.StandardError, "no message")}", Name);
            }
            var line = ReadLine(_syncRead, TimeSpan.FromSeconds(60), cancel);
            if (line is null)
            {
                throw new VServerException("GuestStartFailed", ErrorKind.InvalidOperation,
                    $"Guest '{Name}': conmon ended without reporting the guest's init. Console log: {Tail(_run)}", Name);
            }
            var msg = JsonNode.Parse(line);
            var pid = (int?)msg?["data"] ?? -1;
            if (pid <= 0)
            {
                var text = (string?)msg?["message"] ?? line;
                throw new VServerException("GuestStartFailed", ErrorKind.InvalidOperation,
                    $"Guest '{Name}' did not start: {OciRuntime.FirstLine(text, text)}", Name);
            }
            return pid;
        }

        /// <summary>
        /// The start failed before <see cref="Open"/>: the gate closes without its byte, so the runtime's
        /// create is never run, and this waits (5 s at most) until conmon has said so and its first process ended.
        /// </summary>
        public void CallOff(IOperationReporter reporter)
        {
            if (_spawned is null || _gateWrite < 0)
            {
                return;
            }
            CloseGate();
            try
            {
                _spawned.Wait();
                var line = ReadLine(_syncRead, TimeSpan.FromSeconds(5), CancellationToken.None);
                var msg = line is null ? null : JsonNode.Parse(line);
                if ((int?)msg?["data"] is > 0 and var pid)
                {
                    // never meant to happen: the cleanup that follows deletes what the runtime made
                    reporter.Warning($"Guest '{Name}': the runtime created the guest's init (pid {pid}) though its start was called off; it is removed with the rest.");
                }
                else
                {
                    reporter.Verbose($"Guest '{Name}': conmon ended without running the runtime: {OciRuntime.FirstLine((string?)msg?["message"] ?? line ?? "", "no report")}");
                }
            }
            catch (Exception e) when (e is VServerException or System.Text.Json.JsonException)
            {
                // conmon did not report in time, or not as it does: the cleanup goes on (the exit hook waits for the guest's lock)
            }
        }

        private void CloseGate()
        {
            Sys.Close(_gateWrite);
            _gateWrite = -1;
        }

        public void Dispose()
        {
            if (_gateWrite >= 0)
            {
                CloseGate();
            }
            foreach (var fd in new[] { _syncRead, _syncWrite })
            {
                if (fd >= 0)
                {
                    Sys.Close(fd);
                }
            }
            (_syncRead, _syncWrite) = (-1, -1);
            _spawned?.Dispose();
        }
    }

    /// <summary>
    /// The first line on <paramref name="fd"/> (null: its end came first), read on this thread: poll(2)
    /// in slices of 50 ms, for the cancellation and the time limit (not a thread of its own, whose
    /// start alone cost a start 0.5-1 ms of CPU).
    /// </summary>
    internal static string? ReadLine(int fd, TimeSpan timeout, CancellationToken cancel)
    {
        var buf = new byte[4096];
        var line = new List<byte>();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            if (sw.Elapsed > timeout)
            {
                throw new VServerException("GuestStartFailed", ErrorKind.OperationStopped, "conmon did not report within " + timeout.TotalSeconds + " s.");
            }
            if (!Sys.PollReadable(fd, 50))
            {
                continue;
            }
            var n = Sys.Read(fd, buf);
            if (n <= 0)
            {
                return line.Count > 0 ? Encoding.UTF8.GetString(line.ToArray()) : null;
            }
            var nl = Array.IndexOf(buf, (byte)'\n', 0, n);
            line.AddRange(buf.AsSpan(0, nl >= 0 ? nl : n).ToArray());
            if (nl >= 0)
            {
                return Encoding.UTF8.GetString(line.ToArray());
            }
        }
    }

    /// <summary>The <c>vserver</c> program conmon calls back: VSERVER_CLI, else beside this assembly.</summary>
    public static string? CliPath()
    {
        var env = Environment.GetEnvironmentVariable("VSERVER_CLI");
        if (!string.IsNullOrWhiteSpace(env))
        {
            return File.Exists(env) ? Path.GetFullPath(env) : null;
        }
        return ModuleProgram("vserver");
    }

    /// <summary>A native program shipped beside the vserver command (vserver-ns); null when it is not there.</summary>
    public static string? CompanionProgram(string name) =>
        CliPath() is string cli && Path.GetDirectoryName(cli) is string dir ? Executable(Path.Combine(dir, name)) : null;

    /// <summary>A native program of the module's folder, beside this assembly.</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "An empty location (the native vserver command) falls back to AppContext.BaseDirectory.")]
    private static string? ModuleProgram(string name)
    {
        // the module's folder; the vserver command itself is one native file there, whose assembly has no location
        // (and where asking for it builds the assembly's reflection data: its base directory is the answer)
        var location = RuntimeFeature.IsDynamicCodeSupported ? typeof(GuestRuntime).Assembly.Location : "";
        var dir = location.Length > 0 ? Path.GetDirectoryName(location) : AppContext.BaseDirectory;
        return dir is null ? null : Executable(Path.Combine(dir, name));
    }

    /// <summary>The file, made executable when it came without the bits; null when it is not there or cannot be.</summary>
    private static string? Executable(string p)
    {
        if (!File.Exists(p))
        {
            return null;
        }
        // a module installed from a .nupkg (Install-PSResource) comes out of a zip without execute bits
        const UnixFileMode exec = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        var mode = File.GetUnixFileMode(p);
        if ((mode & UnixFileMode.UserExecute) == 0)
        {
            try
            {
                File.SetUnixFileMode(p, mode | exec);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
        return p;
    }

    /// <summary>The .NET installation this process runs on, so the vserver apphost finds it wherever it is.</summary>
    private static string? DotnetRoot()
    {
        var fromEnv = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return fromEnv;
        }
        if (!RuntimeFeature.IsDynamicCodeSupported)
        {
            return null; // the native vserver command runs on no installation (and asking builds reflection data: 13 fresh pages)
        }
        // .../shared/Microsoft.NETCore.App/<version>/
        var rt = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(rt)));
        return root is not null && File.Exists(Path.Combine(root, "dotnet")) ? root : null;
    }

    // ---------------------------------------------------------------- stop

    /// <summary>
    /// Stops a guest: the style's stop command inside (Sysv: <c>/etc/init.d/rc 6</c>) and stop
    /// signal to its init (SIGINT for a distribution init, SIGTERM otherwise), up to
    /// <paramref name="timeout"/> for it to end, then TERM to everything, 5 s, KILL. A zero timeout
    /// kills every process of the guest at once (as <c>docker stop -t 0</c>, <c>lxc-stop -k</c>): no stop command, no grace.
    /// </summary>
    public void Stop(string name, TimeSpan timeout, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        Config.Validate.ExistingGuestName(name);
        // a running guest can always be stopped, whatever its files say now
        GuestConfig config;
        var configReadable = true;
        try
        {
            config = _store.ReadConfig(name);
        }
        catch (VServerException e) when (e.ErrorId == "InvalidConfiguration")
        {
            reporter.Warning($"{e.Message} The guest is stopped with what its start recorded.");
            config = new GuestConfig(name);
            configReadable = false;
        }
        var run = Run(name);
        RunState state;
        using (run.Lock())
        {
            var s = run.ReadState();
            if (s is not { InitAlive: true })
            {
                CleanupLocked(run, s, reporter);
                throw new VServerException("GuestNotRunning", ErrorKind.InvalidOperation, $"Guest '{name}' is not running.", name);
            }
            state = s;
            File.WriteAllText(run.StoppingFile, state.Instance);
            if (configReadable)
            {
                EnsureBundle(config, run, state);
            }
        }
        GuestHooks.Run(Paths, name, "pre-stop", reporter);
        var runtime = new OciRuntime(state.Runtime, state.RuntimeRoot);
        var deadline = Stopwatch.StartNew();
        // the style and signal this start decided (Auto, systemd), else what the configuration says now
        var started = config.Clone();
        started.InitStyle = state.InitStyle ?? (config.InitStyle == InitStyle.Auto ? InitStyle.Plain : config.InitStyle);
        var stopCommand = OciBundle.StopCommand(started);
        if (timeout <= TimeSpan.Zero)
        {
            reporter.Verbose($"Guest '{name}': a zero timeout: KILL to all its processes.");
            KillAndWait(run, runtime, state.InitPid, state.InitStartTicks);
        }
        else if (stopCommand is not null && File.Exists(run.ConfigJson))
        {
            reporter.Verbose($"Guest '{name}': running {Config.CommandLine.Join(stopCommand)}.");
            using var stopCancel = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            stopCancel.CancelAfter(timeout);
            try
            {
                var r = runtime.Invoke(new[] { "exec", run.Id }.Concat(stopCommand), stopCancel.Token);
                if (r.ExitCode != 0)
                {
                    reporter.Verbose($"Guest '{name}': the stop command exited with {r.ExitCode}: {OciRuntime.FirstLine(r.StandardError, "")}");
                }
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
            }
        }
        if (state.InitAlive)
        {
            Sys.Signal(state.InitPid, state.StopSignal ?? OciBundle.StopSignal(started));
        }
        var left = timeout - deadline.Elapsed;
        if (!WaitForExit(state, left > TimeSpan.Zero ? left : TimeSpan.Zero, cancel))
        {
            reporter.Verbose($"Guest '{name}' did not stop within {timeout.TotalSeconds} s: sending TERM to all its processes, then KILL.");
            runtime.Invoke(new[] { "kill", "--all", run.Id, "TERM" });
            if (!WaitForExit(state, KillGrace, cancel))
            {
                KillAndWait(run, runtime, state.InitPid, state.InitStartTicks);
            }
        }
        // conmon now records the exit status and runs the exit hook, which cleans up; wait for it.
        WaitForConmon(state, TimeSpan.FromSeconds(15));
        using (run.Lock())
        {
            var s = run.ReadState();
            if (s is not null && s.Instance == state.Instance)
            {
                CleanupLocked(run, s, reporter); // the hook did not run (no vserver command) or failed
            }
        }
    }

    private static bool WaitForExit(RunState s, TimeSpan timeout, CancellationToken cancel) =>
        WaitForExit(s.InitPid, s.InitStartTicks, timeout, cancel);

    private static bool WaitForExit(int pid, ulong startTicks, TimeSpan timeout, CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        var delay = 5;
        while (ProcFs.IsAlive(pid, startTicks))
        {
            if (sw.Elapsed >= timeout)
            {
                return false;
            }
            cancel.ThrowIfCancellationRequested();
            Thread.Sleep(delay);
            delay = Math.Min(delay * 2, 50);
        }
        return true;
    }

    internal static void WaitForConmon(RunState s, TimeSpan timeout)
    {
        if (s.ConmonPid <= 0)
        {
            return;
        }
        var sw = Stopwatch.StartNew();
        while (IsConmon(s.ConmonPid) && sw.Elapsed < timeout)
        {
            Thread.Sleep(10);
        }
    }

    private static bool IsConmon(int pid) => ProcFs.Stat(pid) is { Comm: "conmon", IsZombie: false };

    /// <summary>KILL to every process of the guest, then up to 10 s for its init (this pid with this start time, when known) to end.</summary>
    private static void KillAndWait(RunDirectory run, OciRuntime runtime, int initPid, ulong? initStartTicks)
    {
        runtime.Invoke(new[] { "kill", "--all", run.Id, "KILL" });
        if (initStartTicks is ulong t && !WaitForExit(initPid, t, TimeSpan.FromMilliseconds(200), CancellationToken.None))
        {
            // crun's kill --all signals the container's own cgroup only, and systemd moves every process,
            // itself too, into cgroups below it: KILL to the guest's init ends its whole PID namespace
            KillInit(initPid, t);
            WaitForExit(initPid, t, TimeSpan.FromSeconds(10), CancellationToken.None);
        }
    }

    /// <summary>SIGKILL to a guest's init through a pidfd, once the pidfd is known to hold that very process (this start time).</summary>
    private static void KillInit(int pid, ulong startTicks)
    {
        var fd = Sys.PidfdOpen(pid);
        if (fd < 0)
        {
            return; // gone
        }
        try
        {
            if (ProcFs.IsAlive(pid, startTicks))
            {
                Sys.PidfdSignal(fd, 9, $"the init of the guest (host pid {pid})");
            }
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    /// <summary>Deletes what a start made: the runtime's container and cgroups, and the run directory (the console log stays).</summary>
    private void CleanupLocked(RunDirectory run, RunState? state, IOperationReporter reporter)
    {
        if (state is not null)
        {
            var runtime = new OciRuntime(state.Runtime, state.RuntimeRoot);
            var r = runtime.Invoke(new[] { "delete", "--force", run.Id });
            if (r.ExitCode != 0 && runtime.Status(run.Id) is not null)
            {
                reporter.Warning($"Guest '{run.Name}': '{runtime.Name} delete' failed: {OciRuntime.FirstLine(r.StandardError, "no message")}");
            }
            // a guest's processes die with its init, a moment after it: wait for them, so its cgroup goes
            var sw = Stopwatch.StartNew();
            var dir = Cgroups.ProcessDirectory(state.CgroupsPath);
            while (Cgroups.ProcessesIn(dir).Count > 0 && sw.Elapsed < TimeSpan.FromSeconds(3))
            {
                Thread.Sleep(5);
            }
            Cgroups.RemoveEmpty(state.CgroupsPath);
            if (state.RootMount is string mount)
            {
                TemplateLayers.Unmount(mount);
            }
            if (state.NetworkNamespace is not null)
            {
                GuestNetwork.Release(_store, run.Name, reporter, RanAttached(run.Name, state));
            }
            GuestHooks.Run(Paths, run.Name, "post-stop", reporter);
        }
        else if (Directory.Exists(run.Dir))
        {
            // a start that failed before it recorded its state: the runtime may still know the container
            var rt = File.Exists(run.ConfigJson) ? TryResolve() : null;
            rt?.Invoke(new[] { "delete", "--force", run.Id });
            Cgroups.RemoveEmpty(Cgroups.PathFor(Paths, run.Name));
        }
        run.Clear();
        if (state is not null)
        {
            GuestHooks.Run(Paths, run.Name, "postpost-stop", reporter);
        }
    }

    private OciRuntime? TryResolve()
    {
        try
        {
            return OciRuntime.Resolve(Paths);
        }
        catch (VServerException)
        {
            return null;
        }
    }

    // ---------------------------------------------------------------- restart, exit hook

    public GuestStatus Restart(string name, TimeSpan timeout, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        if (Status(name).State == GuestState.Running)
        {
            Stop(name, timeout, reporter, cancel);
        }
        return Start(name, reporter, cancel);
    }

    /// <summary>
    /// conmon's exit command: the guest's init of start <paramref name="instance"/> has ended.
    /// Cleans up, and starts the guest again when init died of SIGHUP (reboot inside the guest) and
    /// no stop was asked for. Returns what happened, for the log.
    /// </summary>
    public string OnExit(string name, string instance, IOperationReporter? reporter = null)
    {
        reporter ??= NullReporter.Instance;
        var run = Run(name);
        using var guestLock = run.Lock();
        var state = run.ReadState();
        if (state is null || state.Instance != instance)
        {
            return "superseded";
        }
        var code = run.ReadExitCode();
        var stopping = File.Exists(run.StoppingFile);
        CleanupLocked(run, state, reporter);
        if (!stopping && code == RebootExitCode)
        {
            var config = _store.ReadConfig(name);
            StartLocked(config, run, reporter, CancellationToken.None);
            return "restarted";
        }
        return code is int c ? $"stopped (exit status {c})" : "stopped";
    }

    // ---------------------------------------------------------------- exec, enter

    /// <summary>Runs a command inside a running guest (same namespaces, cgroup, capabilities); returns its exit code.</summary>
    public int Exec(string name, ExecRequest request, Action<string>? onOutput, Action<string>? onError, CancellationToken cancel = default, int outputLimit = 0)
    {
        using var exec = PrepareExec(name, request, terminal: false);
        var r = HostProcess.Run(exec.Program, exec.Arguments, cancel, onOutput, onError, inheritFd: exec.ProcessFd, input: request.Input, outputLimit: outputLimit);
        return r.ExitCode;
    }

    /// <summary>
    /// Runs a command inside a running guest on this process's own standard input, output and
    /// error (the <c>vserver NAME exec</c> command): a pipe, a file or a terminal passes straight
    /// through, so <c>apt-get</c>'s questions can be answered. No terminal is allocated in the guest.
    /// This process becomes the runtime's exec (execv), so the command's exit status and the
    /// signals sent to it are the command's own; returns only by throwing.
    /// </summary>
    public void ExecAttached(string name, ExecRequest request)
    {
        var exec = PrepareExec(name, request, terminal: false);
        HostProcess.Replace(exec.Program, exec.Arguments.ToList(), exec.ProcessFd);
    }

    /// <summary>An interactive shell on this process's terminal.</summary>
    /// <param name="shell">A path inside the guest; null: the guest's <c>shell</c> setting, else /bin/sh.</param>
    public int Enter(string name, string? shell)
    {
        shell ??= _store.ReadConfig(name).Shell ?? "/bin/sh";
        using var exec = PrepareExec(name, new ExecRequest(new[] { shell, "-l" })
        {
            Environment = new Dictionary<string, string> { ["TERM"] = Environment.GetEnvironmentVariable("TERM") ?? "linux" },
        }, terminal: IsTerminal());
        return HostProcess.RunInteractive(exec.Program, exec.Arguments, exec.ProcessFd);
    }

    private static bool IsTerminal() => !Console.IsInputRedirected && !Console.IsOutputRedirected;

    /// <summary>
    /// An exec ready to run — vserver-ns's attach, or the runtime's <c>exec</c> — and its description
    /// (in memory, by descriptor), closed when disposed.
    /// </summary>
    private sealed class PreparedExec : IDisposable
    {
        public required OciRuntime Runtime { get; init; }
        public required List<string> Args { get; init; }

        /// <summary>
        /// The description in an anonymous memory file: the process JSON the runtime reads as
        /// /proc/self/fd/N, or the attach records vserver-ns reads from descriptor N.
        /// </summary>
        public required int ProcessFd { get; init; }

        /// <summary>vserver-ns (its read-only mount) when it runs the command instead of the runtime.</summary>
        public string? Attach { get; init; }

        /// <summary>
        /// How far the command's nice value is moved from this process's: to the guest's Nice setting as
        /// its running processes have it; 0 for a guest without one (the command keeps the caller's).
        /// </summary>
        public int NiceBy { get; init; }

        /// <summary>
        /// The program to start: the runtime, or for a guest with a nice value coreutils' <c>nice</c>
        /// in front of it. The runtime's exec and the command it starts inherit the value, so the
        /// command never runs, not even for a moment, ahead of the guest's own processes.
        /// </summary>
        public string Program => Attach ?? (NiceBy == 0 ? Runtime.Program : HostProcess.Find("nice") ?? throw new VServerException("NiceNotFound", ErrorKind.NotInstalled,
            "The guest runs with a nice value: its commands are started through nice (Debian package 'coreutils'), which was not found.", "nice"));

        public IEnumerable<string> Arguments
        {
            get
            {
                if (Attach is not null)
                {
                    return Args;
                }
                var runtime = Runtime.GlobalArgs.Concat(Args);
                return NiceBy == 0 ? runtime : new[] { "-n", NiceBy.ToString(CultureInfo.InvariantCulture), Runtime.Program }.Concat(runtime);
            }
        }

        public void Dispose() => Sys.Close(ProcessFd);
    }

    /// <summary>
    /// The runtime's <c>exec</c> for a command: its process is the guest's own process of the
    /// bundle (capabilities, resource limits, no_new_privs, environment) with the command, user,
    /// directory, extra variables and terminal of this request, given whole with <c>--process</c>.
    /// So every runtime runs it alike: runc copies the container's process for an exec, crun does
    /// not carry its resource limits over.
    /// </summary>
    private PreparedExec PrepareExec(string name, ExecRequest request, bool terminal)
    {
        var config = _store.ReadConfig(name);
        if (config.Flags.Contains("private"))
        {
            throw new VServerException("GuestPrivate", ErrorKind.PermissionDenied,
                $"Guest '{name}' has the private flag: commands cannot be run in it from the host.", name);
        }
        if (request.Command.Count == 0 || string.IsNullOrEmpty(request.Command[0]))
        {
            throw new VServerException("MissingCommand", ErrorKind.InvalidArgument, "Give the command to run in the guest.", name);
        }
        if (request.WorkingDirectory is string cwd && !cwd.StartsWith('/'))
        {
            throw new VServerException("InvalidWorkingDirectory", ErrorKind.InvalidArgument,
                $"The working directory '{cwd}' must be an absolute path inside the guest.", cwd);
        }
        foreach (var (k, v) in request.Environment ?? new Dictionary<string, string>())
        {
            if (k.Length == 0 || k.Contains('=') || k.Contains('\0') || v.Contains('\0'))
            {
                throw new VServerException("InvalidEnvironment", ErrorKind.InvalidArgument, $"'{k}' is not a valid environment variable name.", k);
            }
        }
        var run = Run(name);
        var state = run.ReadState();
        if (state is not { InitAlive: true })
        {
            throw new VServerException("GuestNotRunning", ErrorKind.InvalidOperation, $"Guest '{name}' is not running.", name);
        }
        EnsureBundle(config, run, state);
        var process = OciBundle.ExecProcess(JsonNode.Parse(File.ReadAllText(run.ConfigJson))?["process"]
            ?? throw new VServerException("GuestStateUnreadable", ErrorKind.InvalidOperation, $"Guest '{name}': its bundle {run.ConfigJson} has no process.", name),
            request.Command, terminal);
        if (request.WorkingDirectory is string dir)
        {
            process["cwd"] = dir;
        }
        if (request.User is string user)
        {
            var ids = ResolveUser(config, user).Split(':');
            var uid = uint.Parse(ids[0], CultureInfo.InvariantCulture);
            process["user"] = new JsonObject
            {
                ["uid"] = uid,
                ["gid"] = ids.Length > 1 ? uint.Parse(ids[1], CultureInfo.InvariantCulture) : (uint?)process["user"]?["gid"] ?? 0, // a bare uid keeps the process's group, as runc's --user did
            };
        }
        var env = (process["env"] as JsonArray)?.Select(e => (string?)e).OfType<string>().ToList() ?? new List<string>();
        foreach (var (k, v) in request.Environment ?? new Dictionary<string, string>())
        {
            env.RemoveAll(e => e.StartsWith(k + "=", StringComparison.Ordinal));
            env.Add(k + "=" + v);
        }
        process["env"] = new JsonArray(env.Select(e => (JsonNode?)JsonValue.Create(e)).ToArray());
        var runtime = new OciRuntime(state.Runtime, state.RuntimeRoot);
        var applied = LiveSettings.AppliedNice(state);
        // the description is handed over in memory: nothing is written to the run directory for an exec
        if (!terminal && !TestSeams.ExecThroughRuntime && CompanionProgram(OciRuntime.NamespaceHelper) is string helper
            && GuestAttach.Records(process, state, runtime, run.Id, applied) is byte[] records)
        {
            var attachFd = Sys.MemoryFile("vserver-attach", records);
            return new PreparedExec { Runtime = runtime, Attach = RuntimeBinary.For(helper), ProcessFd = attachFd,
                Args = new List<string> { "attach", attachFd.ToString(CultureInfo.InvariantCulture) } };
        }
        var fd = Sys.MemoryFile("vserver-exec", System.Text.Encoding.UTF8.GetBytes(process.ToJsonString()));
        var args = new List<string> { "exec", "--process", "/proc/self/fd/" + fd.ToString(CultureInfo.InvariantCulture), run.Id };
        return new PreparedExec { Runtime = runtime, Args = args, ProcessFd = fd,
            // nice -n adds to the caller's own value
            NiceBy = applied is int nice ? nice - (ProcFs.Stat(Environment.ProcessId)?.Nice ?? 0) : 0 };
    }

    /// <summary>uid[:gid] for a user name or number, looked up in the guest's own passwd (read as hostile data, in-root).</summary>
    private string ResolveUser(GuestConfig config, string user)
    {
        if (uint.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out _) ||
            (user.Split(':') is [var u, var g] && uint.TryParse(u, NumberStyles.None, CultureInfo.InvariantCulture, out _) && uint.TryParse(g, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            return user;
        }
        Passwd passwd;
        try
        {
            passwd = Passwd.OfGuest(_store.LiveRootOf(config));
        }
        catch (VServerException e)
        {
            throw new VServerException("UserNotFound", ErrorKind.ObjectNotFound, $"Guest '{config.Name}': cannot read /etc/passwd to find user '{user}': {e.Message}", user, e);
        }
        if (passwd.Find(user) is var (uid, gid))
        {
            return $"{uid}:{gid}";
        }
        throw new VServerException("UserNotFound", ErrorKind.ObjectNotFound, $"Guest '{config.Name}' has no user '{user}' in its /etc/passwd.", user);
    }

    // ---------------------------------------------------------------- helpers

    private static string Tail(RunDirectory run)
    {
        // a systemd guest's console is a terminal: its lines end in CR, and blank ones are left out
        var lines = ConsoleLog.Read(run).Select(e => e.Message).Where(l => !string.IsNullOrWhiteSpace(l)).TakeLast(5).ToArray();
        return lines.Length == 0 ? "(empty)" : string.Join(" | ", lines);
    }
}
