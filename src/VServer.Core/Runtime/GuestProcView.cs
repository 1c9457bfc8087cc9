using VServer.Native;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// What Linux-VServer's virt_mem, virt_uptime, virt_load and virt_cpu showed a guest — its own
/// memory limit, uptime, load and CPUs in <c>free</c>, <c>uptime</c> and <c>top</c> — on today's
/// kernels: Debian's <c>lxcfs</c>, one FUSE daemon per installation, whose files VServer binds
/// over the guest's <c>/proc/meminfo</c> and the rest. lxcfs answers each read from the cgroups
/// of the reader's pid namespace init, and for memory walks up to the guest cgroup where VServer
/// writes the limits (<c>/vserver/NAME</c> above the runtime's <c>payload</c>).
/// <para>
/// VServer starts the daemon with the first guest that needs it, checks it at every start
/// (a daemon that died leaves a dead mount, "Transport endpoint is not connected"; it is cleared
/// and started again) and keeps it while the installation has guests, as LXC keeps lxcfs.service:
/// a stop and a start do not pay its start-up. A remove that leaves no guest running stops it,
/// so nothing is left running when the guests are gone.
/// </para>
/// </summary>
public static class GuestProcView
{
    public const string FilesystemType = "fuse.lxcfs";

    /// <summary>The files bound into every guest, relative to the lxcfs mount and to the guest's root; the ones runc allows over /proc.</summary>
    public static readonly IReadOnlyList<string> Files = new[]
    {
        "proc/cpuinfo", "proc/diskstats", "proc/loadavg", "proc/meminfo", "proc/stat", "proc/swaps", "proc/uptime",
        "sys/devices/system/cpu/online",
    };

    /// <summary>lxcfs's own options: load averages per guest (-l), the CPU count from the guest's CPU quota (--enable-cfs).</summary>
    public static readonly IReadOnlyList<string> DaemonOptions = new[] { "-f", "-l", "--enable-cfs" };

    public static string MountPoint(VServerPaths paths) => Path.Combine(paths.RunRoot, ".lxcfs");

    private static string PidFile(VServerPaths paths) => Path.Combine(paths.RunRoot, ".lxcfs.pid");

    private static string LogFile(VServerPaths paths) => Path.Combine(paths.RunRoot, ".lxcfs.log");

    private static string LockFile(VServerPaths paths) => Path.Combine(paths.RunRoot, ".lxcfs.lock");

    private static string ServedFile(VServerPaths paths) => Path.Combine(paths.RunRoot, ".lxcfs.files");

    /// <summary>
    /// Which of <see cref="Files"/> this installation's lxcfs serves (an older lxcfs lacks some). Each
    /// lookup is a round trip to the daemon through FUSE (0.1-0.7 ms here, eight per start), so they are
    /// made once per daemon and kept in <c>$RUN_ROOT/.lxcfs.files</c> under its pid and start time; only
    /// names of <see cref="Files"/> are taken from there.
    /// </summary>
    public static IReadOnlyList<string> FilesServed(VServerPaths paths)
    {
        var daemon = DaemonPid(paths) is int pid && ProcFs.Stat(pid) is { } stat
            ? pid.ToString(System.Globalization.CultureInfo.InvariantCulture) + " " + stat.StartTicks.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null;
        if (daemon is not null && SmallFile.ReadTextIfExists(ServedFile(paths)) is string text)
        {
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length > 0 && lines[0] == daemon)
            {
                var known = new List<string>();
                foreach (var f in Files)
                {
                    if (Array.IndexOf(lines, f, 1) > 0)
                    {
                        known.Add(f);
                    }
                }
                return known;
            }
        }
        var served = LookUp(MountPoint(paths));
        if (daemon is not null)
        {
            AtomicFile.WriteAllText(ServedFile(paths), daemon + "\n" + string.Join("\n", served) + "\n", durable: false);
        }
        return served;
    }

    /// <summary>Which of <see cref="Files"/> the lxcfs mounted at <paramref name="mountPoint"/> serves, each looked up there (a FUSE round trip).</summary>
    public static IReadOnlyList<string> LookUp(string mountPoint)
    {
        var served = new List<string>();
        foreach (var f in Files)
        {
            if (File.Exists(Path.Combine(mountPoint, f)))
            {
                served.Add(f);
            }
        }
        return served;
    }

    /// <summary>The lxcfs program, or null when it is not installed.</summary>
    public static string? Program() => TestSeams.LxcfsProgram is string p ? (p.Length == 0 ? null : p) : HostProcess.Find("lxcfs");

    /// <summary>
    /// Makes sure this installation's lxcfs serves, starting it when needed. Returns its mount
    /// point, or null — with a warning naming what the guest will see instead — when lxcfs is not
    /// installed or does not come up.
    /// </summary>
    public static string? Ensure(VServerPaths paths, string guest, IOperationReporter reporter)
    {
        var program = Program();
        if (program is null)
        {
            reporter.Warning($"Guest '{guest}': lxcfs is not installed (Debian package 'lxcfs'), so free, uptime and top inside the guest show the host's memory, uptime and CPUs instead of the guest's limits.");
            return null;
        }
        var mp = MountPoint(paths);
        Directory.CreateDirectory(paths.RunRoot);
        using var hostLock = HostLock.Acquire(LockFile(paths));
        if (Serving(paths))
        {
            return mp;
        }
        if (MountTable.FilesystemAt(mp) is not null || DaemonPid(paths) is not null)
        {
            reporter.Warning($"lxcfs of this installation ({mp}) had stopped; it is started again. Guests started before keep a dead /proc/meminfo, /proc/uptime and the rest until they restart.");
        }
        StopLocked(paths);
        try
        {
            Directory.CreateDirectory(mp);
            File.Delete(LogFile(paths)); // the log of this daemon only
            // through setsid --fork: the daemon is nobody's child here, so no runspace holds it or leaves it a zombie
            var setsid = HostProcess.Find("setsid") ?? throw new VServerException("ProgramNotFound", ErrorKind.NotInstalled, "setsid (util-linux) is not installed.", "setsid");
            var args = new List<string> { "--fork", program };
            args.AddRange(DaemonOptions);
            args.AddRange(new[] { "-p", PidFile(paths), mp });
            var pid = Sys.SpawnDetached(setsid, args, LogFile(paths));
            Sys.WaitChild(pid, TimeSpan.FromSeconds(5));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (!Serving(paths))
            {
                if (sw.Elapsed > TimeSpan.FromSeconds(5))
                {
                    throw new VServerException("ProcViewFailed", ErrorKind.InvalidOperation, $"lxcfs did not mount {mp} within 5 s: {LogTail(paths)}", mp);
                }
                Thread.Sleep(2);
            }
            reporter.Verbose($"lxcfs serves {mp} (pid {DaemonPid(paths)}).");
            return mp;
        }
        catch (Exception e) when (e is VServerException or IOException or UnauthorizedAccessException or SyscallException)
        {
            StopLocked(paths);
            reporter.Warning($"Guest '{guest}': lxcfs could not be started ({VisibleText.Of(e.Message)}), so free, uptime and top inside the guest show the host's memory, uptime and CPUs.");
            return null;
        }
    }

    /// <summary>The lxcfs mount point when this installation's daemon serves now (for a bundle written again while guests run); never starts it.</summary>
    public static string? Current(VServerPaths paths) => Program() is not null && Serving(paths) ? MountPoint(paths) : null;

    /// <summary>
    /// Stops this installation's lxcfs when no guest of it has a cgroup (a guest being started holds
    /// its cgroup from before its bundle is written until its cleanup). Called when a guest is removed.
    /// </summary>
    public static void Release(VServerPaths paths, IOperationReporter reporter)
    {
        if (!File.Exists(PidFile(paths)) && MountTable.FilesystemAt(MountPoint(paths)) is null)
        {
            return;
        }
        using var hostLock = HostLock.Acquire(LockFile(paths));
        if (Cgroups.AnyGuest(paths))
        {
            return;
        }
        try
        {
            StopLocked(paths);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
        {
            reporter.Warning($"lxcfs of this installation could not be stopped: {VisibleText.Of(e.Message)}");
        }
    }

    /// <summary>The daemon's pid when its pid file names a live lxcfs.</summary>
    public static int? DaemonPid(VServerPaths paths)
    {
        try
        {
            var text = File.ReadAllText(PidFile(paths)).Trim();
            return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)
                && pid > 1 && ProcFs.Stat(pid) is { IsZombie: false, Comm: "lxcfs" } ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Mounted, its daemon alive, and a read through it answered (a dead daemon's mount gives ENOTCONN).</summary>
    private static bool Serving(VServerPaths paths)
    {
        var mp = MountPoint(paths);
        return MountTable.FilesystemAt(mp) == FilesystemType && DaemonPid(paths) is not null && File.Exists(Path.Combine(mp, "proc", "meminfo"));
    }

    private static void StopLocked(VServerPaths paths)
    {
        var mp = MountPoint(paths);
        while (MountTable.FilesystemAt(mp) == FilesystemType && Sys.Unmount(mp))
        {
        }
        if (DaemonPid(paths) is int pid)
        {
            Sys.Signal(pid, 15);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (ProcFs.Stat(pid) is { IsZombie: false, Comm: "lxcfs" } && sw.Elapsed < TimeSpan.FromSeconds(3))
            {
                Thread.Sleep(2);
            }
            if (ProcFs.Stat(pid) is { IsZombie: false, Comm: "lxcfs" })
            {
                Sys.Signal(pid, 9);
            }
        }
        File.Delete(PidFile(paths));
        File.Delete(ServedFile(paths));
    }

    private static string LogTail(VServerPaths paths)
    {
        try
        {
            var lines = File.ReadAllLines(LogFile(paths));
            return string.Join(" | ", lines.TakeLast(3));
        }
        catch (IOException)
        {
            return "no log";
        }
    }
}
