using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text.Json.Nodes;
using VServer;
using VServer.Build;
using VServer.Processes;
using VServer.Runtime;
using VServer.Storage;
using VServer.Config;

// Benchmarks, each against baselines measured in this run on this machine. Needs root.
//   lifecycle [iterations] [idle-guests]: start/exec against the OCI runtime called directly and raw unshare/nsenter
//   contexts [guests] [processes-per-guest] [iterations]: Get-VServerContext against ps -e -o pid,vsz,rss,times
//   unify [guests] [tree] [xfs,btrfs] [minimum-size]: Invoke-VServerUnify's Unifier against duperemove -dr on identical copies, on a loop XFS and a loop btrfs
//   lxc [iterations]: start, exec, stop and running as typed, against LXC on the same Busybox root
//   many [guests] [throttle]: that many idle guests started and stopped at once, against LXC
//   snapshot [iterations] [tree] [btrfs,xfs]: Checkpoint- and Restore-VServerGuest of a guest holding the tree against
//                      lxc-snapshot and lxc-snapshot -r of a container on the same tree and filesystem (time, and the bytes only the snapshot holds)
//   boot [iterations] [tree]: a Debootstrap guest's build (cold, cached, clone; skipped when a tree is given) and its systemd boot to "running"
//                      against systemd-nspawn -b and lxc-start on copies of the same tree
var mode = args.Length > 0 && !char.IsDigit(args[0][0]) ? args[0] : "lifecycle";
var rest = mode == "lifecycle" && (args.Length == 0 || char.IsDigit(args[0][0])) ? args : args[1..];
int Arg(int i, int fallback) => rest.Length > i ? int.Parse(rest[i], CultureInfo.InvariantCulture) : fallback;
var repo = FindRepo();
Environment.SetEnvironmentVariable("VSERVER_CLI", Path.Combine(repo, "output", "VServer", "vserver"));
var baseDir = Path.Combine(Path.GetTempPath(), "vserver-bench-" + Guid.NewGuid().ToString("N")[..8]);
var paths = new VServerPaths(Path.Combine(baseDir, "etc"), Path.Combine(baseDir, "vdir"), Path.Combine(baseDir, "run"));
var store = new GuestStore(paths);
var rt = new GuestRuntime(store);
var names = new List<string>();
string NewGuest()
{
    var n = "bench" + Guid.NewGuid().ToString("N")[..6];
    store.Create(new GuestConfig(n) { InitStyle = InitStyle.Plain }, RootBuilders.For(BuildMethod.Busybox));
    names.Add(n);
    return n;
}

// the vserver command as a user types it, for this run's installation
var vserverEnv = new Dictionary<string, string> { ["VSERVER_CONFIG_ROOT"] = paths.ConfigRoot, ["VSERVER_VDIR_ROOT"] = paths.VdirRoot, ["VSERVER_RUN_ROOT"] = paths.RunRoot };
void Vs(params string[] a) => Light(Path.Combine(repo, "output", "VServer", "vserver"), a, vserverEnv);

try
{
    switch (mode)
    {
        case "lifecycle":
            Lifecycle(Arg(0, 20), Arg(1, 5));
            break;
        case "contexts":
            Contexts(Arg(0, 100), Arg(1, 20), Arg(2, 20));
            break;
        case "unify":
            foreach (var fs in (rest.Length > 2 ? rest[2] : "xfs,btrfs").Split(','))
            {
                Unify(Arg(0, 20), rest.Length > 1 ? rest[1] : "/usr/bin", fs, rest.Length > 3 ? long.Parse(rest[3], CultureInfo.InvariantCulture) : null);
            }
            break;
        case "boot":
            Boot(Arg(0, 5), rest.Length > 1 && rest[1].Length > 0 ? rest[1] : null);
            break;
        case "lxc":
            AgainstLxc(Arg(0, 10));
            break;
        case "many":
            ManyAgainstLxc(Arg(0, 200), Arg(1, 16));
            break;
        case "userns":
            PrivateUsersAgainstLxc(Arg(0, 10));
            break;
        case "snapshot":
            foreach (var fs in (rest.Length > 2 ? rest[2] : "btrfs,xfs").Split(','))
            {
                SnapshotAgainstLxc(Arg(0, 5), rest.Length > 1 && rest[1].Length > 0 ? rest[1] : "/var/tmp/vserver-test-cache/trees/bookworm-systemd", fs);
            }
            break;
        default:
            Console.Error.WriteLine("usage: bench/run.sh [lifecycle [iterations] [idle-guests] | contexts [guests] [processes-per-guest] [iterations] | unify [guests] [tree] [xfs,btrfs] | boot [iterations] [tree] | lxc [iterations] | many [guests] [throttle] | userns [iterations] | snapshot [iterations] [tree] [btrfs,xfs]]");
            return 2;
    }
    return 0;
}
finally
{
    // busybox init takes a second to stop: many guests are stopped side by side
    Parallel.ForEach(names, new ParallelOptions { MaxDegreeOfParallelism = 16 }, n =>
    {
        try
        {
            if (rt.Status(n).State == GuestState.Running) { rt.Stop(n, TimeSpan.FromSeconds(5)); }
            store.Remove(n);
        }
        catch (Exception e) { Console.Error.WriteLine($"cleanup {n}: {e.Message}"); }
    });
    SafeRemove.RemoveTree(baseDir);
}

void Lifecycle(int iterations, int idleGuests)
{
    var g = NewGuest();
    rt.Start(g); // warm up: runtime probe, JIT
    var bundleJson = File.ReadAllText(rt.Run(g).ConfigJson);
    var runtime = new OciRuntime(rt.Run(g).ReadState()!.Runtime, Path.Combine(baseDir, "bare-state"));
    var root = store.RootOf(store.ReadConfig(g));

    // exec, while the guest runs
    var vsExec = Measure(iterations, () => rt.Exec(g, new ExecRequest(new[] { "/bin/true" }), null, null));
    var bareExec = Measure(iterations, () => Check(runtime.Path, "--root", rt.Run(g).ReadState()!.RuntimeRoot, "exec", g, "/bin/true"));
    var pid = rt.Status(g).InitPid!.Value.ToString(CultureInfo.InvariantCulture);
    var nsenterExec = Measure(iterations, () => Check("nsenter", "-t", pid, "-m", "-u", "-i", "-n", "-p", "-r", "-w", "/bin/true"));
    rt.Stop(g, TimeSpan.FromSeconds(10));

    // start to running: VServer (bundle, conmon, create, start) ...
    var vsStart = Measure(iterations, () => rt.Start(g), after: () => rt.Stop(g, TimeSpan.FromSeconds(10)));
    // ... the runtime on the same bundle (create + start, what conmon runs), no monitor ...
    var bare = Path.Combine(baseDir, "bare");
    Directory.CreateDirectory(bare);
    var cfg = JsonNode.Parse(bundleJson)!;
    cfg["linux"]!["cgroupsPath"] = "/vserver/bench-bare";
    // the guest's own network namespace (joined by path) goes with its stop: the bare runtime gets a new one
    foreach (var ns in cfg["linux"]!["namespaces"]!.AsArray())
    {
        ns!.AsObject().Remove("path");
    }
    // lxcfs's files are VServer's (its daemon stops with the guest): the bare runtime goes without them
    var mounts = cfg["mounts"]!.AsArray();
    foreach (var m in mounts.Where(m => ((string?)m!["source"] ?? "").Contains("/.lxcfs/", StringComparison.Ordinal)).ToList())
    {
        mounts.Remove(m);
    }
    File.WriteAllText(Path.Combine(bare, "config.json"), cfg.ToJsonString());
    var create = runtime.CreateCommand();
    var bareStart = Measure(iterations,
        // the container's init keeps the creator's stdio: give create /dev/null, as conmon gives it its own pipes
        // (crun on a hybrid host: its create in the mount namespace VServer gives it, as conmon runs it)
        () => { Check("/bin/sh", new[] { "-c", "exec \"$0\" \"$@\" </dev/null >/dev/null 2>&1", create.Program }.Concat(create.Args).Concat(new[] { "--root", runtime.StateRoot, "create", "--bundle", bare, "bare" }).ToArray()); Check(runtime.Path, "--root", runtime.StateRoot, "start", "bare"); },
        after: () => { runtime.Invoke(new[] { "delete", "--force", "bare" }); });
    Cgroups.RemoveEmpty("/vserver/bench-bare");
    // ... and raw unshare: new namespaces, chroot, exec the guest's /bin/true
    var unshare = Measure(iterations, () => Check("unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--root=" + root, "/bin/true"));

    // host memory per idle guest: the monitor (conmon) besides the guest's own processes
    var idle = Enumerable.Range(0, idleGuests).Select(_ => NewGuest()).ToList();
    foreach (var n in idle)
    {
        rt.Start(n);
    }
    Thread.Sleep(1000);
    var monitorKb = idle.Select(n => Pss(rt.Run(n).ReadState()!.ConmonPid)).ToList();
    var initKb = idle.Select(n => Pss(rt.Status(n).InitPid!.Value)).ToList();
    foreach (var n in idle)
    {
        rt.Stop(n, TimeSpan.FromSeconds(10));
    }

    Console.WriteLine($"# VServer lifecycle benchmark ({iterations} iterations, median ms; {runtime.Name}, conmon)");
    Console.WriteLine($"start: vserver {vsStart:F1}  {runtime.Name} create+start {bareStart:F1}  unshare {unshare:F1}   ratio vs runtime {vsStart / bareStart:F2} (target <= 1.5), vs unshare {vsStart / unshare:F2}");
    Console.WriteLine($"exec:  vserver {vsExec:F1}  {runtime.Name} exec {bareExec:F1}  nsenter {nsenterExec:F1}   ratio vs runtime {vsExec / bareExec:F2} (target <= 1.2), vs nsenter {vsExec / nsenterExec:F2}");
    Console.WriteLine($"memory per idle busybox guest ({idleGuests} guests): monitor (conmon) PSS {monitorKb.Average() / 1024:F2} MB (target <= 3), guest init PSS {initKb.Average() / 1024:F2} MB");
}

// vserver-stat on a host with many guests: the cmdlet (in a warm runspace) and the Core call it
// makes, against ps reading the same /proc fields for every process.
void Contexts(int guests, int perGuest, int iterations)
{
    Console.Error.WriteLine($"starting {guests} guests with {perGuest} processes each…");
    for (var i = 0; i < guests; i++)
    {
        var g = NewGuest();
        rt.Start(g);
        // init + (perGuest - 1) idle sleeps, detached from the exec's output
        rt.Exec(g, new ExecRequest(new[] { "/bin/sh", "-c", $"i=1; while [ $i -lt {perGuest} ]; do sleep 3600 >/dev/null 2>&1 </dev/null & i=$((i+1)); done" }), null, null);
    }
    var table = new ProcessTable(paths);
    var total = table.Contexts(true, table.Guests);
    var guestProcesses = total.Skip(1).Sum(c => c.ProcessCount);
    var hostProcesses = total[0].ProcessCount;

    var iss = InitialSessionState.CreateDefault2();
    Environment.SetEnvironmentVariable("VSERVER_CONFIG_ROOT", paths.ConfigRoot);
    Environment.SetEnvironmentVariable("VSERVER_VDIR_ROOT", paths.VdirRoot);
    Environment.SetEnvironmentVariable("VSERVER_RUN_ROOT", paths.RunRoot);
    using var runspace = RunspaceFactory.CreateRunspace(iss);
    runspace.Open();
    using (var import = PowerShell.Create(runspace))
    {
        import.AddCommand("Import-Module").AddParameter("Name", Path.Combine(repo, "output", "VServer", "VServer.psd1")).Invoke();
    }
    int count = 0;
    var cmdlet = Measure(iterations, () =>
    {
        using var ps = PowerShell.Create(runspace);
        count = ps.AddCommand("Get-VServerContext").Invoke().Count;
    }, warmup: 3);
    var core = Measure(iterations, () => new ProcessTable(paths).Contexts(true, table.Guests), warmup: 3);
    var ps = Measure(iterations, () => Check("ps", "-e", "-o", "pid,vsz,rss,times"), warmup: 3);
    var cli = Measure(Math.Min(iterations, 10), () => Check(Path.Combine(repo, "output", "VServer", "vserver"), "vserver-stat"), warmup: 1);
    var processes = Measure(Math.Min(iterations, 10), () =>
    {
        using var p = PowerShell.Create(runspace);
        p.AddCommand("Get-VServerProcess").Invoke();
    }, warmup: 1);

    Console.WriteLine($"# VServer contexts benchmark ({iterations} iterations, median ms)");
    Console.WriteLine($"host: {guests} running guests, {guestProcesses} guest processes + {hostProcesses} host processes; Get-VServerContext wrote {count} contexts");
    Console.WriteLine($"Get-VServerContext (cmdlet) {cmdlet:F1}  ProcessTable.Contexts (Core) {core:F1}  ps -e -o pid,vsz,rss,times {ps:F1}   ratio cmdlet / ps {cmdlet / ps:F2} (target <= 2)");
    Console.WriteLine($"vserver vserver-stat (CLI, a new process) {cli:F1}  Get-VServerProcess (every process, full detail) {processes:F1}");
}

// Unification: N Busybox guests each holding a full (unshared) copy of one "distribution" tree,
// and identical copies of those guest roots for duperemove, on one loop-mounted XFS with reflink.
void SnapshotAgainstLxc(int iterations, string tree, string fsKind)
{
    if (!Directory.Exists(tree))
    {
        throw new InvalidOperationException($"{tree} does not exist: give a root filesystem tree (a debootstrap tree), or run the tests once to cache one there");
    }
    var mnt = Path.Combine(baseDir, "snap-" + fsKind);
    Directory.CreateDirectory(mnt);
    var image = Path.Combine(baseDir, "snap-" + fsKind + ".img");
    using (var f = File.Create(image))
    {
        f.SetLength(4L << 30);
    }
    Check(fsKind == "btrfs" ? "mkfs.btrfs" : "mkfs.xfs", fsKind == "btrfs" ? new[] { "-q", image } : new[] { "-q", "-m", "reflink=1", image });
    Check("mount", "-o", "loop", image, mnt);
    try
    {
        var vsPaths = new VServerPaths(Path.Combine(mnt, "etc"), Path.Combine(mnt, "vservers"), Path.Combine(baseDir, "snap-" + fsKind + "-run"));
        var vsStore = new GuestStore(vsPaths);
        var snaps = new GuestSnapshots(vsStore);
        vsStore.Create(new GuestConfig("g") { InitStyle = InitStyle.Auto }, new CloneBuilder(tree));

        // LXC on the same tree and filesystem: a btrfs subvolume (lxc's btrfs backing store) or a directory
        var lxcPath = Path.Combine(mnt, "lxc");
        Directory.CreateDirectory(Path.Combine(lxcPath, "c"));
        var rootfs = Path.Combine(lxcPath, "c", "rootfs");
        if (fsKind == "btrfs")
        {
            Check("btrfs", "subvolume", "create", rootfs);
        }
        else
        {
            Directory.CreateDirectory(rootfs);
        }
        Check("cp", "-a", "--reflink=auto", "--", tree.TrimEnd('/') + "/.", rootfs);
        File.WriteAllText(Path.Combine(lxcPath, "c", "config"),
            "lxc.include = /usr/share/lxc/config/common.conf\n" +
            $"lxc.rootfs.path = {(fsKind == "btrfs" ? "btrfs" : "dir")}:{rootfs}\nlxc.uts.name = c\nlxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n");

        var i = 0;
        var vsTake = Measure(iterations, () => snaps.Checkpoint("g", "s" + (i++).ToString(CultureInfo.InvariantCulture), allowCopy: false));
        var vsRestore = Measure(iterations, () => snaps.Restore("g", "s0"));
        var vsSnap = snaps.Get("g", "s0");
        snaps.Measure(vsSnap);
        var lxcTake = Measure(iterations, () => Check("lxc-snapshot", "-n", "c", "-P", lxcPath));
        var lxcRestore = Measure(iterations, () => Check("lxc-snapshot", "-n", "c", "-P", lxcPath, "-r", "snap0"));
        var lxcSnapRoot = Path.Combine(lxcPath, "c", "snaps", "snap0", "rootfs");
        var lxcUsage = DiskUsageMeter.Measure("c", lxcSnapRoot);
        Console.WriteLine($"# snapshots of a guest holding {tree} ({vsSnap.TotalBytes / 1048576.0:F0} MB) on a loop {fsKind}, median of {iterations}; LXC 5 ({(fsKind == "btrfs" ? "btrfs" : "dir")} backing store) on the same tree");
        Console.WriteLine($"take:    Checkpoint-VServerGuest {vsTake:F0} ms   lxc-snapshot {lxcTake:F0} ms   ratio {vsTake / lxcTake:F2} (target <= 1.0)");
        Console.WriteLine($"restore: Restore-VServerGuest {vsRestore:F0} ms   lxc-snapshot -r {lxcRestore:F0} ms   ratio {vsRestore / lxcRestore:F2} (target <= 1.0)");
        Console.WriteLine($"space only the snapshot holds: VServer {vsSnap.ExclusiveBytes / 1048576.0:F1} MB ({vsSnap.Storage})   LXC {lxcUsage.ExclusiveBytes / 1048576.0:F1} MB   ratio {(double)vsSnap.ExclusiveBytes! / Math.Max(1, lxcUsage.ExclusiveBytes):F2} (target <= 1.0)");
        foreach (var sn in snaps.List("g"))
        {
            snaps.Remove("g", sn.Name);
        }
        Check("lxc-destroy", "-n", "c", "-P", lxcPath, "-s");
        vsStore.Remove("g");
    }
    finally
    {
        HostProcess.Run("umount", new[] { "-l", mnt });
    }
}

void Unify(int guests, string tree, string fsKind, long? minimumSize)
{
    var xfs = Path.Combine(baseDir, fsKind);
    Directory.CreateDirectory(xfs);
    var image = Path.Combine(baseDir, fsKind + ".img");
    var treeBytes = Directory.EnumerateFiles(tree, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
        .Sum(f => new FileInfo(f).Length);
    using (var f = File.Create(image))
    {
        f.SetLength(Math.Max(2L << 30, treeBytes * guests * 5 / 2 + (1L << 30)));
    }
    if (fsKind == "btrfs")
    {
        Check("mkfs.btrfs", "-q", image); // guests' roots are subvolumes there
    }
    else
    {
        Check("mkfs.xfs", "-q", "-m", "reflink=1", image);
    }
    Check("mount", "-o", "loop", image, xfs);
    try
    {
        var vsPaths = new VServerPaths(Path.Combine(xfs, "etc"), Path.Combine(xfs, "vservers"), Path.Combine(baseDir, fsKind + "-run"));
        var vsStore = new GuestStore(vsPaths);
        var copies = Path.Combine(xfs, "duperemove");
        Directory.CreateDirectory(copies);
        var wholeRoot = new[] { "etc", "usr", "var" }.All(d => Directory.Exists(Path.Combine(tree, d)));
        var emptyDir = Directory.CreateDirectory(Path.Combine(baseDir, "empty")).FullName;
        Console.Error.WriteLine($"building {guests} guests with a full copy of {tree} ({treeBytes / 1048576.0:F0} MB) each, and copies for duperemove…");
        var roots = new List<string>();
        for (var i = 0; i < guests; i++)
        {
            var n = $"u{i:00}";
            // a distribution tree is the whole root (a clone of an empty directory, then the copy); else a Busybox guest
            vsStore.Create(new GuestConfig(n) { InitStyle = InitStyle.Plain }, wholeRoot ? new CloneBuilder(emptyDir) : RootBuilders.For(BuildMethod.Busybox));
            var root = vsStore.RootOf(vsStore.ReadConfig(n));
            // a distribution's root filesystem (a debootstrap tree) becomes the guest's root, where the
            // default excludes apply to its /etc and /var as in a real guest; any other tree goes to /opt/dist
            var into = wholeRoot ? root : Path.Combine(root, "opt", "dist");
            Directory.CreateDirectory(into);
            Check("cp", "-a", "--reflink=never", "--", tree.TrimEnd('/') + "/.", into);
            Check("cp", "-a", "--reflink=never", "--", root, Path.Combine(copies, n));
            roots.Add(root);
        }
        long Used()
        {
            Check("sync", "-f", xfs);
            var d = new DriveInfo(xfs);
            return d.TotalSize - d.AvailableFreeSpace;
        }
        var onlyOne = DiskUsageMeter.Measure("u00", roots[0]).TotalBytes;

        // both start from a cold page cache, as after a reboot
        void DropCaches() => File.WriteAllText("/proc/sys/vm/drop_caches", "3");
        var before = Used();
        DropCaches();
        var sw = Stopwatch.StartNew();
        var options = minimumSize is long min ? new UnifyOptions { MinimumSize = min } : new UnifyOptions();
        var result = new Unifier(vsStore).Run(Enumerable.Range(0, guests).Select(i => $"u{i:00}").ToList(), options, new StderrReporter());
        var vsTime = sw.Elapsed.TotalSeconds;
        var afterVs = Used();
        var vsSaved = before - afterVs;
        var guestsTotal = roots.Sum(r => DiskUsageMeter.Measure("g", r).TotalBytes);
        var guestsExclusive = roots.Sum(r => DiskUsageMeter.Measure("g", r).ExclusiveBytes);

        DropCaches();
        sw.Restart();
        Check("duperemove", "-dr", "-q", copies);
        var drTime = sw.Elapsed.TotalSeconds;
        var drSaved = afterVs - Used();

        Console.WriteLine($"# VServer unification benchmark on {fsKind} ({guests} guests, each with a full copy of {tree}: {treeBytes / 1048576.0:F0} MB; minimum size {options.MinimumSize} bytes)");
        Console.WriteLine($"Invoke-VServerUnify (Unifier): {vsTime:F1} s, saved {vsSaved / 1048576.0:F0} MB ({result.FilesDeduplicated} files, {result.BytesDeduplicated / 1048576.0:F0} MB deduplicated, {result.FilesScanned} scanned)");
        Console.WriteLine($"duperemove -dr on identical copies: {drTime:F1} s, saved {drSaved / 1048576.0:F0} MB");
        Console.WriteLine($"ratio: bytes saved {(double)vsSaved / Math.Max(1, drSaved):F2} (target >= 1), time {vsTime / drTime:F2} (target <= 1)");
        Console.WriteLine($"space: one guest {onlyOne / 1048576.0:F0} MB; {guests} guests' files {guestsTotal / 1048576.0:F0} MB, of which {guestsExclusive / 1048576.0:F0} MB not shared: the {guests} take {(double)(guestsTotal - (guestsTotal - guestsExclusive) * (guests - 1) / guests) / onlyOne:F2} guests' space");
    }
    finally
    {
        HostProcess.Run("umount", new[] { xfs });
        File.Delete(image);
    }
}

// the lifecycle as typed, against LXC on a copy of the same Busybox root, in one run: start
// (vserver NAME start / lxc-start -d + lxc-wait RUNNING), exec (vserver NAME exec / lxc-attach),
// clean stop (vserver NAME stop / lxc-stop), and vserver NAME running
void AgainstLxc(int iterations)
{
    var g = NewGuest();
    var lxcPath = Path.Combine(baseDir, "lxc");
    var lxcRoot = Path.Combine(baseDir, "lxc-root");
    Check("cp", "-a", store.RootOf(store.ReadConfig(g)) + "/.", lxcRoot);
    Directory.CreateDirectory(Path.Combine(lxcPath, "bb"));
    // busybox init halts on SIGUSR1 (LXC's busybox template sets the same)
    File.WriteAllText(Path.Combine(lxcPath, "bb", "config"),
        "lxc.include = /usr/share/lxc/config/common.conf\n" +
        $"lxc.rootfs.path = dir:{lxcRoot}\nlxc.uts.name = bb\nlxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n" +
        "lxc.init.cmd = /sbin/init\nlxc.signal.halt = SIGUSR1\n");
    void Lxc(string tool, params string[] a) => Light(HostProcess.Find(tool)!, new[] { "-n", "bb", "-P", lxcPath }.Concat(a).ToArray());

    Vs(g, "start"); Vs(g, "stop"); // warm: the runtime probe, lxcfs
    // the cmdlets in a warm runspace (the module imported, each cmdlet run once before)
    using var runspace = WarmRunspace();
    double Cmdlet(string script)
    {
        using var ps = PowerShell.Create(runspace);
        ps.AddScript(script);
        var sw = Stopwatch.StartNew();
        ps.Invoke();
        var ms = sw.Elapsed.TotalMilliseconds;
        if (ps.HadErrors) { throw new InvalidOperationException(script + ": " + string.Join("; ", ps.Streams.Error)); }
        return ms;
    }
    Cmdlet($"Start-VServerGuest {g}");
    rt.Stop(g, TimeSpan.Zero);
    // the three starts once each per round, so that a slow stretch of this machine falls on all of them
    var (vsStarts, lxcStarts, cmdletStarts) = (new List<double>(), new List<double>(), new List<double>());
    for (var i = 0; i < iterations; i++)
    {
        var sw = Stopwatch.StartNew();
        Vs(g, "start");
        vsStarts.Add(sw.Elapsed.TotalMilliseconds);
        rt.Stop(g, TimeSpan.Zero);
        sw.Restart();
        Lxc("lxc-start", "-d"); Lxc("lxc-wait", "-s", "RUNNING");
        lxcStarts.Add(sw.Elapsed.TotalMilliseconds);
        Lxc("lxc-stop", "-k");
        cmdletStarts.Add(Cmdlet($"Start-VServerGuest {g}"));
        rt.Stop(g, TimeSpan.Zero);
    }
    var (vsStart, lxcStart, cmdletStart) = (Median(vsStarts), Median(lxcStarts), Median(cmdletStarts));
    Vs(g, "start");
    Lxc("lxc-start", "-d"); Lxc("lxc-wait", "-s", "RUNNING");
    Thread.Sleep(500);
    var vsExec = Measure(iterations, () => Vs(g, "exec", "/bin/true"));
    var lxcExec = Measure(iterations, () => Lxc("lxc-attach", "--", "/bin/true"));
    Cmdlet($"Invoke-VServerCommand {g} -Command /bin/true");
    var cmdletExec = MeasureSamples(iterations, () => Cmdlet($"Invoke-VServerCommand {g} -Command /bin/true"));
    var running = Measure(iterations, () => Vs(g, "running"));
    // vserver-stat (every context's processes, memory and times) against ps listing the same columns
    var stat = Measure(iterations, () => Vs("vserver-stat"));
    var ps = Measure(iterations, () => Light(HostProcess.Find("ps")!, new[] { "-e", "-o", "pid,vsz,rss,times" }));
    rt.Stop(g, TimeSpan.Zero);
    Lxc("lxc-stop", "-k");
    var stops = Math.Max(3, iterations / 3);
    var vsStop = Measure(stops, () => Vs(g, "stop"), before: () => { Vs(g, "start"); Thread.Sleep(300); });
    var lxcStop = Measure(stops, () => Lxc("lxc-stop"), before: () => { Lxc("lxc-start", "-d"); Lxc("lxc-wait", "-s", "RUNNING"); Thread.Sleep(300); });
    Console.WriteLine($"# VServer against LXC on the same Busybox root ({iterations} iterations, the starts interleaved, {stops} for stop; median ms; {OciRuntime.Resolve(paths).Name})");
    Console.WriteLine($"start as typed: vserver {vsStart:F1}  lxc-start -d + lxc-wait {lxcStart:F1}  ratio {vsStart / lxcStart:F2} (target <= 1.0)");
    Console.WriteLine($"exec /bin/true: vserver {vsExec:F1}  lxc-attach {lxcExec:F1}  ratio {vsExec / lxcExec:F2} (target <= 1.0)");
    Console.WriteLine($"warm runspace:  Start-VServerGuest {cmdletStart:F1} (ratio {cmdletStart / lxcStart:F2} of lxc-start)  Invoke-VServerCommand /bin/true {cmdletExec:F1} (ratio {cmdletExec / lxcExec:F2} of lxc-attach) (targets <= 1.0)");
    Console.WriteLine($"clean stop:     vserver {vsStop:F1}  lxc-stop {lxcStop:F1}  ratio {vsStop / lxcStop:F2} (target <= 1.0)");
    Console.WriteLine($"vserver NAME running: {running:F1} (target <= 10)");
    Console.WriteLine($"vserver-stat:   vserver {stat:F1}  ps -e -o pid,vsz,rss,times {ps:F1}  ratio {stat / ps:F2} (target <= 2.0)");
}

// Private users: start and exec of a guest in a user namespace of its own (its root idmapped) against the
// same guest with host root, and against an unprivileged LXC container on a copy of the same root with
// LXC's own idmapped rootfs (lxc.idmap + lxc.rootfs.options = idmap=container). LXC runs with a PATH
// without newuidmap, so as root it writes the mapping itself and needs no /etc/subuid entry.
void PrivateUsersAgainstLxc(int iterations)
{
    var plain = NewGuest();
    var priv = "bench" + Guid.NewGuid().ToString("N")[..6];
    store.Create(new GuestConfig(priv) { InitStyle = InitStyle.Plain, PrivateUsers = IdRange.Pending }, RootBuilders.For(BuildMethod.Busybox));
    names.Add(priv);
    var range = store.ReadConfig(priv).PrivateUsers!;
    var farm = Path.Combine(baseDir, "path-without-newuidmap");
    Directory.CreateDirectory(farm);
    foreach (var dir in new[] { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" }.Where(Directory.Exists))
    {
        foreach (var f in Directory.GetFiles(dir))
        {
            var link = Path.Combine(farm, Path.GetFileName(f));
            if (Path.GetFileName(f) is not ("newuidmap" or "newgidmap") && !File.Exists(link) && !Directory.Exists(link))
            {
                File.CreateSymbolicLink(link, f);
            }
        }
    }
    var lxcEnv = new Dictionary<string, string> { ["PATH"] = farm };
    var lxcPath = Path.Combine(baseDir, "lxc");
    var lxcRoot = Path.Combine(baseDir, "lxc-root");
    Check("cp", "-a", store.RootOf(store.ReadConfig(plain)) + "/.", lxcRoot);
    File.SetUnixFileMode(baseDir, (UnixFileMode)0x1ED);
    Directory.CreateDirectory(Path.Combine(lxcPath, "bb"));
    var first = (range.First + 100 * IdRange.Size).ToString(CultureInfo.InvariantCulture); // a range of its own
    File.WriteAllText(Path.Combine(lxcPath, "bb", "config"),
        "lxc.include = /usr/share/lxc/config/common.conf\n" +
        $"lxc.rootfs.path = dir:{lxcRoot}\nlxc.rootfs.options = idmap=container\nlxc.idmap = u 0 {first} 65536\nlxc.idmap = g 0 {first} 65536\n" +
        "lxc.uts.name = bb\nlxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\nlxc.init.cmd = /sbin/init\nlxc.signal.halt = SIGUSR1\n");
    void Lxc(string tool, params string[] a) => Light(HostProcess.Find(tool)!, new[] { "-n", "bb", "-P", lxcPath }.Concat(a).ToArray(), lxcEnv);

    foreach (var g in new[] { plain, priv })
    {
        Vs(g, "start"); Vs(g, "stop"); // warm: the runtime probe, lxcfs
    }
    var plainStart = Measure(iterations, () => Vs(plain, "start"), after: () => rt.Stop(plain, TimeSpan.Zero));
    var privStart = Measure(iterations, () => Vs(priv, "start"), after: () => rt.Stop(priv, TimeSpan.Zero));
    var lxcStart = Measure(iterations, () => { Lxc("/usr/bin/lxc-start", "-d"); Lxc("/usr/bin/lxc-wait", "-s", "RUNNING"); }, after: () => Lxc("/usr/bin/lxc-stop", "-k"));
    Vs(plain, "start");
    Vs(priv, "start");
    Lxc("/usr/bin/lxc-start", "-d"); Lxc("/usr/bin/lxc-wait", "-s", "RUNNING");
    Thread.Sleep(500);
    if (ProcFs.Status(rt.Run(priv).ReadState()!.InitPid)!.UserId != (uint)range.First)
    {
        throw new InvalidOperationException("the private-users guest's init does not run as the first uid of its range");
    }
    var plainExec = Measure(iterations, () => Vs(plain, "exec", "/bin/true"));
    var privExec = Measure(iterations, () => Vs(priv, "exec", "/bin/true"));
    var lxcExec = Measure(iterations, () => Lxc("/usr/bin/lxc-attach", "--clear-env", "--", "/bin/true"));
    rt.Stop(plain, TimeSpan.Zero);
    rt.Stop(priv, TimeSpan.Zero);
    Lxc("/usr/bin/lxc-stop", "-k");
    Console.WriteLine($"# Private users: VServer with and without, and unprivileged LXC (idmapped rootfs), same Busybox root ({iterations} iterations; median ms; {OciRuntime.Resolve(paths).Name})");
    Console.WriteLine($"start as typed: private users {privStart:F1}  host root {plainStart:F1} (cost {privStart / plainStart:F2})  unprivileged lxc-start -d + lxc-wait {lxcStart:F1}  ratio {privStart / lxcStart:F2}");
    Console.WriteLine($"exec /bin/true: private users {privExec:F1}  host root {plainExec:F1} (cost {privExec / plainExec:F2})  unprivileged lxc-attach {lxcExec:F1}  ratio {privExec / lxcExec:F2}");
}

// N idle Busybox guests started at once: Start-VServerGuest -ThrottleLimit T in a warm runspace,
// against lxc-start -d for N containers on copies of the same root, T at a time; then all stopped
void ManyAgainstLxc(int count, int throttle)
{
    Console.Error.WriteLine($"creating {count} guests and {count} LXC containers…");
    var guests = Enumerable.Range(0, count).Select(_ => NewGuest()).ToList();
    var lxcPath = Path.Combine(baseDir, "lxc-many");
    var template = store.RootOf(store.ReadConfig(guests[0]));
    for (var i = 0; i < count; i++)
    {
        var dir = Path.Combine(lxcPath, "c" + i.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        Check("cp", "-a", template + "/.", Path.Combine(dir, "rootfs"));
        File.WriteAllText(Path.Combine(dir, "config"),
            "lxc.include = /usr/share/lxc/config/common.conf\n" +
            $"lxc.rootfs.path = dir:{dir}/rootfs\nlxc.uts.name = c{i}\nlxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n" +
            "lxc.init.cmd = /sbin/init\nlxc.signal.halt = SIGUSR1\n");
    }
    using var runspace = WarmRunspace();
    // warm: the runtime probe, lxcfs, the cmdlets' JIT
    rt.Start(guests[0]);
    rt.Stop(guests[0], TimeSpan.Zero);
    var sw = Stopwatch.StartNew();
    using (var ps = PowerShell.Create(runspace))
    {
        ps.AddScript($"Get-VServerGuest | Start-VServerGuest -ThrottleLimit {throttle}").Invoke();
        if (ps.HadErrors) { throw new InvalidOperationException(string.Join("; ", ps.Streams.Error)); }
    }
    var vsStart = sw.Elapsed.TotalSeconds;
    sw.Restart();
    using (var ps = PowerShell.Create(runspace))
    {
        ps.AddScript($"Get-VServerGuest | Stop-VServerGuest -ThrottleLimit {Math.Max(throttle, 64)} -Timeout 10").Invoke();
    }
    var vsStop = sw.Elapsed.TotalSeconds;
    var names = Enumerable.Range(0, count).Select(i => "c" + i.ToString(CultureInfo.InvariantCulture)).ToList();
    sw.Restart();
    Parallel.ForEach(names, new ParallelOptions { MaxDegreeOfParallelism = throttle }, n => Light(HostProcess.Find("lxc-start")!, new[] { "-n", n, "-P", lxcPath, "-d" }));
    Parallel.ForEach(names, new ParallelOptions { MaxDegreeOfParallelism = throttle }, n => Light(HostProcess.Find("lxc-wait")!, new[] { "-n", n, "-P", lxcPath, "-s", "RUNNING" }));
    var lxcStart = sw.Elapsed.TotalSeconds;
    sw.Restart();
    Parallel.ForEach(names, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(throttle, 64) }, n => Check("lxc-stop", "-n", n, "-P", lxcPath));
    var lxcStop = sw.Elapsed.TotalSeconds;
    Console.WriteLine($"# {count} idle Busybox guests, {throttle} at a time ({OciRuntime.Resolve(paths).Name}; LXC 5 with the same root)");
    Console.WriteLine($"start all: Start-VServerGuest -ThrottleLimit {throttle} {vsStart:F1} s  lxc-start -d (+ lxc-wait) {lxcStart:F1} s  ratio {vsStart / lxcStart:F2} (target <= 1.0)");
    Console.WriteLine($"stop all:  Stop-VServerGuest {vsStop:F1} s  lxc-stop {lxcStop:F1} s  ratio {vsStop / lxcStop:F2}");
}

void Boot(int iterations, string? cachedTree)
{
    string tree;
    if (cachedTree is null)
    {
        // builds: a cold package cache, the same cache warm, a clone of the result
        var cacheRoot = Path.Combine(baseDir, "cache");
        double Build(string name, IRootBuilder builder)
        {
            var sw = Stopwatch.StartNew();
            store.Create(new GuestConfig(name) { InitStyle = InitStyle.Auto }, builder);
            names.Add(name);
            return sw.Elapsed.TotalSeconds;
        }
        IRootBuilder Debootstrap() => new DebootstrapBuilder(new DebootstrapOptions { Distribution = "bookworm", Include = new[] { "systemd-sysv" }, CacheRoot = cacheRoot });
        var cold = Build("debcold", Debootstrap());
        var warm = Build("debwarm", Debootstrap());
        tree = store.RootOf(store.ReadConfig("debwarm"));
        var clone = Build("debclone", RootBuilders.For(BuildMethod.Clone, source: tree));
        Console.WriteLine($"build (bookworm minbase + systemd-sysv): cold {cold:F1} s, cached packages {warm:F1} s, clone of the tree {clone:F1} s");
    }
    else
    {
        // boot only, on a tree built before (the tests' cache): no build is measured
        tree = cachedTree;
        store.Create(new GuestConfig("debclone") { InitStyle = InitStyle.Auto }, RootBuilders.For(BuildMethod.Clone, source: tree));
        names.Add("debclone");
    }

    // "running" as systemd says it, polled every 20 ms the same way for all three: nsenter into the
    // guest's init (runc exec or lxc-attach as the poll would cost the booting guest CPU time
    // unequally on two cores: runc exec takes ~75 ms of CPU, nsenter ~2 ms)
    static void WaitRunning(Func<string> state)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (state().Trim() is "running" or "degraded") { return; }
            Thread.Sleep(20);
        }
        throw new TimeoutException("the guest did not finish booting");
    }
    static string NsenterState(string pid) =>
        HostProcess.Run("nsenter", new[] { "-t", pid, "-m", "-u", "-i", "-n", "-p", "systemctl", "is-system-running" }).StandardOutput;

    // each contender: boot (timed) and shut down (not timed)
    (Action Boot, Action Down) InProcess = (() =>
    {
        rt.Start("debclone");
        var init = rt.Status("debclone").InitPid!.Value.ToString(CultureInfo.InvariantCulture);
        WaitRunning(() => NsenterState(init));
    }, () => rt.Stop("debclone", TimeSpan.FromSeconds(10)));

    // the same start as typed: `vserver debclone start`, a new (native) process, as lxc-start is
    (Action Boot, Action Down) AsTyped = (() =>
    {
        Vs("debclone", "start");
        var init = rt.Status("debclone").InitPid!.Value.ToString(CultureInfo.InvariantCulture);
        WaitRunning(() => NsenterState(init));
    }, () => rt.Stop("debclone", TimeSpan.FromSeconds(10)));

    // systemd-nspawn -b on a copy of the tree: its init found as nspawn's child, entered with nsenter
    var nsTree = Path.Combine(baseDir, "nspawn-tree");
    Check("cp", "-a", "--reflink=auto", tree + "/.", nsTree);
    Process? nspawnProcess = null;
    int? nspawnInit = null;
    (Action Boot, Action Down) Nspawn = (() =>
    {
        var p = nspawnProcess = Process.Start(new ProcessStartInfo("systemd-nspawn") { ArgumentList = { "-D", nsTree, "-b", "-q", "--register=no", "--console=passive", "--keep-unit" }, UseShellExecute = false })!;
        nspawnInit = null;
        WaitRunning(() =>
        {
            nspawnInit ??= Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
                .FirstOrDefault(pid => pid > 0 && ProcFs.Stat(pid) is { Comm: "systemd" } st && st.ParentId == p.Id) is var found and > 0 ? found : null;
            return nspawnInit is int i ? NsenterState(i.ToString(CultureInfo.InvariantCulture)) : "";
        });
    }, () =>
    {
        // end the container's init first: nspawn killed alone leaves it running, orphaned
        VServer.Native.Sys.Signal(nspawnInit!.Value, 9);
        nspawnProcess!.WaitForExit();
        Thread.Sleep(200);
    });

    // lxc-start on another copy
    var lxcPath = Path.Combine(baseDir, "lxc");
    var lxcTree = Path.Combine(baseDir, "lxc-tree");
    Check("cp", "-a", "--reflink=auto", tree + "/.", lxcTree);
    Directory.CreateDirectory(Path.Combine(lxcPath, "deb"));
    File.WriteAllText(Path.Combine(lxcPath, "deb", "config"),
        "lxc.include = /usr/share/lxc/config/common.conf\n" +
        $"lxc.rootfs.path = dir:{lxcTree}\nlxc.uts.name = deb\nlxc.net.0.type = empty\n" +
        "lxc.apparmor.profile = unconfined\nlxc.init.cmd = /sbin/init\n");
    (Action Boot, Action Down) Lxc = (() =>
    {
        Check("lxc-start", "-n", "deb", "-P", lxcPath, "-d");
        var pid = HostProcess.Run("lxc-info", new[] { "-n", "deb", "-P", lxcPath, "-p", "-H" }).StandardOutput.Trim();
        WaitRunning(() => NsenterState(pid));
    }, () => Check("lxc-stop", "-n", "deb", "-P", lxcPath, "-k"));

    // interleaved rounds: each round boots all four once, the order turning by one each round, so a
    // slow stretch of the machine falls on all of them alike; the ratios are taken within each round
    var contenders = new[] { InProcess, AsTyped, Nspawn, Lxc };
    var samples = contenders.Select(_ => new List<double>()).ToArray();
    foreach (var c in contenders)
    {
        c.Boot(); c.Down(); // warm, not timed: the runtime probe, lxcfs, the JIT, each tree's first read
    }
    for (var round = 0; round < iterations; round++)
    {
        for (var k = 0; k < contenders.Length; k++)
        {
            var c = (round + k) % contenders.Length;
            var sw = Stopwatch.StartNew();
            contenders[c].Boot();
            samples[c].Add(sw.Elapsed.TotalMilliseconds);
            contenders[c].Down();
        }
    }
    string Ratios(int a, int b)
    {
        var r = Enumerable.Range(0, iterations).Select(i => samples[a][i] / samples[b][i]).ToList();
        return $"{Median(samples[a]) / Median(samples[b]):F2} (within rounds: median {Median(r):F2}, {r.Count(x => x <= 1.0)} of {iterations} rounds <= 1.0, range {r.Min():F2}-{r.Max():F2})";
    }
    Console.WriteLine($"boot to \"running\" (systemd), {iterations} interleaved rounds, medians:");
    Console.WriteLine($"  VServer (GuestRuntime.Start, {OciRuntime.Resolve(paths).Name} under conmon): {Median(samples[0]):F0} ms");
    Console.WriteLine($"  VServer (vserver debclone start, as typed): {Median(samples[1]):F0} ms");
    Console.WriteLine($"  systemd-nspawn -b: {Median(samples[2]):F0} ms");
    Console.WriteLine($"  lxc-start -d:      {Median(samples[3]):F0} ms");
    Console.WriteLine($"  VServer / nspawn:  {Ratios(0, 2)}; as typed {Ratios(1, 2)}");
    Console.WriteLine($"  VServer / LXC:     {Ratios(0, 3)}; as typed {Ratios(1, 3)}");
    Console.WriteLine("  rounds (ms, in process / as typed / nspawn / LXC): " + string.Join("; ", Enumerable.Range(0, iterations).Select(i => string.Join("/", samples.Select(l => l[i].ToString("F0", CultureInfo.InvariantCulture))))));
}

// a runspace with the staged module imported, for the cmdlets as a user runs them
Runspace WarmRunspace()
{
    Environment.SetEnvironmentVariable("VSERVER_CONFIG_ROOT", paths.ConfigRoot);
    Environment.SetEnvironmentVariable("VSERVER_VDIR_ROOT", paths.VdirRoot);
    Environment.SetEnvironmentVariable("VSERVER_RUN_ROOT", paths.RunRoot);
    var r = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
    r.Open();
    using var import = PowerShell.Create(r);
    import.AddCommand("Import-Module").AddParameter("Name", Path.Combine(repo, "output", "VServer", "VServer.psd1")).Invoke();
    return r;
}

// the median (of an even count, the mean of the middle two)
static double Median(IEnumerable<double> xs)
{
    var l = xs.Order().ToList();
    return l.Count % 2 == 1 ? l[l.Count / 2] : (l[l.Count / 2 - 1] + l[l.Count / 2]) / 2;
}

// the median of what each run of the body says it took (the body times itself)
static double MeasureSamples(int n, Func<double> timed) => Median(Enumerable.Range(0, n).Select(_ => timed()).ToList());

static double Measure(int n, Action work, Action? after = null, int warmup = 0, Action? before = null)
{
    for (var i = 0; i < warmup; i++)
    {
        before?.Invoke();
        work();
        after?.Invoke();
    }
    var samples = new List<double>();
    for (var i = 0; i < n; i++)
    {
        before?.Invoke();
        var sw = Stopwatch.StartNew();
        work();
        samples.Add(sw.Elapsed.TotalMilliseconds);
        after?.Invoke();
    }
    return Median(samples);
}

// a command with a small output, timed as a shell runs it: posix_spawn and waitpid, its output read once it has
// ended (HostProcess.Run's reader threads and .NET's SIGCHLD thread added 3-6 ms to each command, twice to
// lxc-start + lxc-wait); the lifecycle commands of both sides go through it
static void Light(string file, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null)
{
    using var p = HostProcess.Spawn(file, args, environment);
    var r = p.Wait();
    if (r.ExitCode != 0) { throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {r.StandardError}"); }
}

static void Check(string file, params string[] args)
{
    var r = HostProcess.Run(file, args);
    if (r.ExitCode != 0) { throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {r.StandardError}"); }
}

static long Pss(int pid)
{
    foreach (var line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
    {
        if (line.StartsWith("Pss:", StringComparison.Ordinal))
        {
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
    }
    return 0;
}

static string FindRepo()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
    {
        if (File.Exists(Path.Combine(d.FullName, "VServer.psd1"))) { return d.FullName; }
    }
    throw new InvalidOperationException("repository root not found");
}

sealed class StderrReporter : IOperationReporter
{
    public void Progress(string activity, string status, int percent) { }
    public void Warning(string message) => Console.Error.WriteLine("warning: " + message);
    public void Verbose(string message) => Console.Error.WriteLine("  " + message);
}
