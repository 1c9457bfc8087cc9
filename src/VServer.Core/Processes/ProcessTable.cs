using VServer.Native;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Processes;

/// <summary>A running guest as the process views see it.</summary>
public sealed record RunningGuest(string Name, int Context, RunState State);

/// <summary>One process found by a scan: its stat line and the guest whose cgroup holds it (null: the host).</summary>
public readonly record struct ScannedProcess(int Pid, ProcStat Stat, RunningGuest? Guest);

/// <summary>
/// The host's view of every context (util-vserver's spectator view): processes tagged with the
/// guest they run in. Membership comes from the kernel: the process's own cgroup in the
/// hierarchy that counts processes (<c>/proc/PID/cgroup</c>), never names or process trees.
/// A process that exits while it is read is skipped.
/// </summary>
public sealed class ProcessTable
{
    private readonly GuestStore _store;
    private readonly string _parent;
    private readonly IReadOnlyDictionary<string, string> _hierarchies;
    private readonly string _controller;
    private readonly Dictionary<string, RunningGuest> _byCgroup = new(StringComparer.Ordinal);
    private readonly long _pageSize = Environment.SystemPageSize;

    public ProcessTable(VServerPaths paths)
    {
        _store = new GuestStore(paths);
        _parent = Cgroups.ParentFor(paths);
        _hierarchies = Cgroups.Hierarchies();
        _controller = Cgroups.MembershipController(_hierarchies);
        var guests = new List<RunningGuest>();
        foreach (var (name, state) in RunDirectory.Running(paths))
        {
            int context;
            try
            {
                context = state.Context ?? _store.ReadConfig(name).Context ?? 0;
            }
            catch (VServerException)
            {
                context = 0; // started by an older VServer and its config is gone: still listed, context unknown
            }
            var g = new RunningGuest(name, context, state);
            guests.Add(g);
            _byCgroup[state.CgroupsPath] = g;
        }
        Guests = guests;
    }

    /// <summary>The running guests, by name.</summary>
    public IReadOnlyList<RunningGuest> Guests { get; }

    /// <summary>The running guest of this name; GuestNotRunning when it exists but is stopped, GuestNotFound when it does not exist.</summary>
    public RunningGuest Running(string name)
    {
        Config.Validate.ExistingGuestName(name);
        return Guests.FirstOrDefault(g => g.Name == name) ?? throw (_store.Exists(name)
            ? new VServerException("GuestNotRunning", ErrorKind.InvalidOperation, $"Guest '{name}' is not running.", name)
            : new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{name}' exists.", name));
    }

    /// <summary>The guest whose cgroup (or a cgroup below it) is <paramref name="cgroupPath"/>; null for the host.</summary>
    public RunningGuest? GuestOf(string cgroupPath) => GuestOf(cgroupPath, out _);

    /// <summary>
    /// The guest whose cgroup (or a cgroup below it) is <paramref name="cgroupPath"/>; null for
    /// the host, and null with <paramref name="foreign"/> set for a cgroup under any installation's
    /// parent (/vserver, /vserver.KEY) that is no running guest of these roots (another installation's guest, or one whose state is gone):
    /// such a process is in some guest, so it is never counted as the host's.
    /// </summary>
    public RunningGuest? GuestOf(string cgroupPath, out bool foreign)
    {
        foreign = false;
        // PARENT/NAME or PARENT/NAME/sub…: the guest's cgroup is the first two levels
        if (!Cgroups.IsUnderAnyInstallation(cgroupPath))
        {
            return null;
        }
        if (cgroupPath.StartsWith(_parent + "/", StringComparison.Ordinal))
        {
            var end = cgroupPath.IndexOf('/', _parent.Length + 1);
            var key = end < 0 ? cgroupPath : cgroupPath[..end];
            if (_byCgroup.TryGetValue(key, out var g))
            {
                return g;
            }
        }
        foreign = true; // a guest of another installation (/vserver.KEY), or one whose state is gone
        return null;
    }

    /// <summary>Which guest a host pid is in now (null: the host); false when the process is gone or in a guest these roots do not know.</summary>
    public bool TryGuestOfPid(int pid, out RunningGuest? guest)
    {
        guest = null;
        var path = ProcFs.CgroupPath(pid, _controller);
        if (path is null)
        {
            return false;
        }
        guest = GuestOf(path, out var foreign);
        return !foreign;
    }

    /// <summary>One pass over /proc: every process, tagged.</summary>
    public IEnumerable<ScannedProcess> All()
    {
        foreach (var pid in ProcFs.Pids())
        {
            if (ProcFs.Stat(pid) is { } st && TryGuestOfPid(pid, out var g))
            {
                yield return new ScannedProcess(pid, st, g);
            }
        }
    }

    /// <summary>The processes of one guest, from its cgroup, each checked again against /proc/PID/cgroup.</summary>
    public IEnumerable<ScannedProcess> Of(RunningGuest guest)
    {
        foreach (var pid in Cgroups.Processes(guest.State.CgroupsPath))
        {
            if (ProcFs.Stat(pid) is { } st && TryGuestOfPid(pid, out var g) && g == guest)
            {
                yield return new ScannedProcess(pid, st, g);
            }
        }
    }

    /// <summary>The processes of the chosen contexts: one pass over /proc when the host is wanted, else the guests' cgroups.</summary>
    public IEnumerable<ScannedProcess> Scan(bool host, IReadOnlyCollection<RunningGuest> guests)
    {
        if (host)
        {
            var wanted = guests.ToHashSet();
            return All().Where(p => p.Guest is null || wanted.Contains(p.Guest));
        }
        return guests.SelectMany(Of);
    }

    /// <summary>vserver-stat: context 0 (when <paramref name="host"/>) and the given guests, with their sums.</summary>
    public IReadOnlyList<ContextInfo> Contexts(bool host, IReadOnlyCollection<RunningGuest> guests)
    {
        var now = DateTimeOffset.UtcNow;
        var hostContext = new ContextInfo(0, ContextInfo.RootServerName, null);
        var byGuest = guests.ToDictionary(g => g, g => new ContextInfo(g.Context, g.Name, g.Name));
        ulong hostUser = 0, hostSystem = 0;
        foreach (var p in Scan(host, guests))
        {
            var c = p.Guest is null ? hostContext : byGuest[p.Guest];
            c.ProcessCount++;
            c.VirtualMemory += (long)p.Stat.VirtualBytes;
            c.ResidentMemory += Math.Max(0, p.Stat.ResidentPages) * _pageSize;
            if (p.Guest is null)
            {
                hostUser += p.Stat.UserTicks;
                hostSystem += p.Stat.SystemTicks;
            }
        }
        var result = new List<ContextInfo>();
        if (host)
        {
            var boot = ProcFs.BootTime();
            hostContext.UserTime = ProcFs.Ticks(hostUser);
            hostContext.SystemTime = ProcFs.Ticks(hostSystem);
            hostContext.StartTime = boot;
            hostContext.Uptime = now - boot;
            result.Add(hostContext);
        }
        // as vserver-stat lists them: by context number (the host's 0 first)
        foreach (var g in guests.OrderBy(g => g.Context).ThenBy(g => g.Name, StringComparer.Ordinal))
        {
            var c = byGuest[g];
            if (Cgroups.CpuTimes(g.State.CgroupsPath, _hierarchies) is var (user, system))
            {
                c.UserTime = user;
                c.SystemTime = system;
            }
            c.StartTime = g.State.StartTime;
            c.Uptime = now - g.State.StartTime;
            result.Add(c);
        }
        return result;
    }

    /// <summary>vps: the processes of context 0 (when <paramref name="host"/>) and the given guests, in pid order.</summary>
    public IReadOnlyList<ProcessInfo> Processes(bool host, IReadOnlyCollection<RunningGuest> guests)
    {
        var boot = ProcFs.BootTime();
        var users = new Dictionary<RunningGuest, Passwd>();
        var hostUsers = new Lazy<Passwd>(Passwd.Host);
        var result = new List<ProcessInfo>();
        foreach (var p in Scan(host, guests))
        {
            if (ProcFs.Status(p.Pid) is not { } status || ProcFs.CommandLine(p.Pid) is not { } cmdline)
            {
                continue; // exited while it was read
            }
            Passwd names;
            if (p.Guest is null)
            {
                names = hostUsers.Value;
            }
            else if (!users.TryGetValue(p.Guest, out names!))
            {
                names = users[p.Guest] = GuestUsers(p.Guest);
            }
            result.Add(Info(p, status, cmdline, names, boot));
        }
        result.Sort((a, b) => a.Id.CompareTo(b.Id));
        return result;
    }

    /// <summary>Reads one process again, as it is now; null when it is gone.</summary>
    public ProcessInfo? Read(int pid)
    {
        if (ProcFs.Stat(pid) is not { } st || !TryGuestOfPid(pid, out var g) ||
            ProcFs.Status(pid) is not { } status || ProcFs.CommandLine(pid) is not { } cmdline)
        {
            return null;
        }
        return Info(new ScannedProcess(pid, st, g), status, cmdline, g is null ? Passwd.Host() : GuestUsers(g), ProcFs.BootTime());
    }

    private ProcessInfo Info(ScannedProcess p, ProcStatus status, string cmdline, Passwd names, DateTimeOffset boot)
    {
        var guestUid = GuestUid(p.Guest, status.UserId);
        return new()
        {
            Id = p.Pid,
            GuestId = p.Guest is not null && status.NsPids.Length >= 2 ? status.NsPids[1] : null,
            Context = p.Guest?.Context ?? 0,
            GuestName = p.Guest?.Name,
            ParentId = p.Stat.ParentId,
            UserId = status.UserId,
            GuestUserId = guestUid,
            User = names.NameOf(guestUid ?? status.UserId),
            State = p.Stat.State.ToString(),
            Name = p.Stat.Comm,
            UserTime = ProcFs.Ticks(p.Stat.UserTicks),
            SystemTime = ProcFs.Ticks(p.Stat.SystemTicks),
            ResidentMemory = Math.Max(0, p.Stat.ResidentPages) * _pageSize,
            VirtualMemory = (long)p.Stat.VirtualBytes,
            StartTime = boot + ProcFs.Ticks(p.Stat.StartTicks),
            StartTicks = p.Stat.StartTicks,
            CommandLine = cmdline.Length > 0 ? cmdline : "[" + p.Stat.Comm + "]",
        };
    }

    /// <summary>The uid a guest's process has inside: the host uid less its private users' first (null for the host, or a uid outside the range).</summary>
    private static uint? GuestUid(RunningGuest? g, uint hostUid) =>
        g?.State.Users is not IdRange r ? (g is null ? null : hostUid)
        : hostUid >= r.First && hostUid <= r.Last ? (uint)(hostUid - r.First) : null;

    private Passwd GuestUsers(RunningGuest g)
    {
        try
        {
            return Passwd.OfGuest(_store.LiveRootOf(_store.ReadConfig(g.Name)));
        }
        catch (VServerException)
        {
            return Passwd.Empty; // no readable passwd: users are shown by number
        }
    }

    /// <summary>The host pid of the process that has pid <paramref name="guestPid"/> inside the guest; null when there is none.</summary>
    public ScannedProcess? FindGuestPid(RunningGuest guest, int guestPid)
    {
        foreach (var p in Of(guest))
        {
            if (ProcFs.Status(p.Pid) is { NsPids.Length: >= 2 } s && s.NsPids[1] == guestPid)
            {
                return p;
            }
        }
        return null;
    }

    /// <summary>
    /// Sends a signal to a host pid only if that very process is in <paramref name="guest"/>: the
    /// process is pinned with a pidfd first, then its cgroup (and, when given, its start time) is
    /// checked, then the pidfd is confirmed to still name a live process, so a pid reused between
    /// lookup and signal is never hit.
    /// </summary>
    public void Signal(RunningGuest guest, int hostPid, int signal, ulong? startTicks, string display)
    {
        var fd = hostPid > 0 ? Sys.PidfdOpen(hostPid) : -1;
        if (fd < 0)
        {
            throw Gone(guest, display);
        }
        try
        {
            var path = ProcFs.CgroupPath(hostPid, _controller);
            if (ProcFs.Stat(hostPid) is not { } st || path is null)
            {
                throw Gone(guest, display);
            }
            var owner = GuestOf(path, out var foreign);
            if (owner != guest)
            {
                var whose = foreign ? $"in cgroup {path}" : owner is null ? "a host process (context 0)" : $"in guest '{owner.Name}' (context {owner.Context})";
                throw new VServerException("ProcessNotInGuest", ErrorKind.PermissionDenied,
                    $"Refusing to signal {display}: it is {whose}, not in guest '{guest.Name}'.", hostPid);
            }
            if (startTicks is ulong t && st.StartTicks != t)
            {
                throw Gone(guest, display);
            }
            // the checks above read /proc by number; the pidfd still naming a live process proves the number was not reused meanwhile
            if (!Sys.PidfdSignal(fd, 0, display) || !Sys.PidfdSignal(fd, signal, display))
            {
                throw Gone(guest, display);
            }
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    private static VServerException Gone(RunningGuest guest, string display) => new("ProcessNotFound", ErrorKind.ObjectNotFound,
        $"Guest '{guest.Name}' has no {display} (it does not exist or has exited).", display);
}
