using System.Diagnostics;

namespace VServer.Runtime;

/// <summary>
/// Pays, beside a start's own steps, the wait that the runtime's first move of the guest's init into
/// its v1 cgroups would pay. Moving a task between cgroups write-locks the kernel's global
/// <c>cgroup_threadgroup_rwsem</c>, and after a quiet spell the writer waits for an RCU grace period
/// (5–15 ms here, more than the rest of the runtime's create); writers that follow within a grace
/// period or two of the last do not wait. This process moves itself into the v1 cgroup it is already
/// in (a move that changes nothing) right after the guest's cgroups are made, and again every few
/// milliseconds until the runtime's create has ended, so the runtime's move finds the lock warm.
/// A host without v1 controllers (cgroup v2 moves a new task with <c>CLONE_INTO_CGROUP</c>) and a
/// host whose cgroups were mounted with <c>favordynmods</c> gain nothing from it, and it does nothing there.
/// The kernel's side of it: kernel/rcu/sync.c (a writer waits only from the idle state) and
/// Documentation/admin-guide/cgroup-v2.rst (favordynmods).
/// </summary>
internal sealed class MigrationWarmup : IDisposable
{
    /// <summary>Between two moves: well within the kernel's window after a move (one grace period or more).</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(3);

    /// <summary>The longest it keeps the lock warm, should a start never end it.</summary>
    internal static readonly TimeSpan Limit = TimeSpan.FromSeconds(5);

    // no spinning before a wait: the waits are the point (a spinning wait yielded the CPU hundreds of times per start)
    private readonly ManualResetEventSlim _done = new(false, spinCount: 0);
    private readonly ManualResetEventSlim _ended = new();
    private int _moves;

    private MigrationWarmup(string procs)
    {
        Procs = procs;
    }

    /// <summary>The v1 <c>cgroup.procs</c> of this process's own cgroup that it writes to.</summary>
    internal string Procs { get; }

    /// <summary>How many moves it has made (for its tests).</summary>
    internal int Moves => Volatile.Read(ref _moves);

    /// <summary>Set once it has stopped moving (for its tests).</summary>
    internal WaitHandle Ended => _ended.WaitHandle;

    // the one warmup of this process that starts share (Start-VServerGuest -ThrottleLimit 16 runs 16 at once:
    // one thread keeps the lock warm for all of them, not sixteen each moving every few milliseconds)
    private static readonly object s_gate = new();
    private static MigrationWarmup? s_shared;
    private int _leases; // under s_gate
    private long _until = Deadline(); // Stopwatch timestamp: it stops moving then (Limit after it began, or after the last lease began)

    private static long Deadline() => Stopwatch.GetTimestamp() + (long)(Limit.TotalSeconds * Stopwatch.Frequency);

    /// <summary>
    /// Starts keeping the lock warm, or joins the warmup another start of this process keeps; null when
    /// this host has nothing to warm (no v1 controller, or favordynmods). It ends when its last lease is disposed.
    /// </summary>
    public static Lease? Begin()
    {
        if (ProcsOfSelf(Cgroups.Hierarchies(), File.ReadAllText("/proc/self/cgroup"), Cgroups.FavorDynMods()) is not string procs)
        {
            return null;
        }
        lock (s_gate)
        {
            if (s_shared is { } running && running.Procs == procs && !running._ended.IsSet)
            {
                running._leases++;
                Volatile.Write(ref running._until, Deadline());
                return new Lease(running);
            }
            var warmup = new MigrationWarmup(procs) { _leases = 1 };
            s_shared = warmup;
            warmup.StartThread();
            return new Lease(warmup);
        }
    }

    /// <summary>One start's share of the process's warmup.</summary>
    internal sealed class Lease : IDisposable
    {
        private int _disposed;

        internal Lease(MigrationWarmup warmup) => Warmup = warmup;

        /// <summary>The warmup it shares (for its tests).</summary>
        internal MigrationWarmup Warmup { get; }

        internal int Moves => Warmup.Moves;

        internal WaitHandle Ended => Warmup.Ended;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Warmup.Release();
            }
        }
    }

    private void Release()
    {
        lock (s_gate)
        {
            if (--_leases == 0)
            {
                _done.Set();
                if (s_shared == this)
                {
                    s_shared = null;
                }
            }
        }
    }

    /// <summary>Keeps the lock warm by moving this process into the cgroup whose <c>cgroup.procs</c> is <paramref name="procs"/>.</summary>
    internal static MigrationWarmup Start(string procs)
    {
        var warmup = new MigrationWarmup(procs);
        warmup.StartThread();
        return warmup;
    }

    /// <summary>
    /// The <c>cgroup.procs</c> of this process's cgroup in its v1 <c>pids</c> hierarchy (else the first v1
    /// controller's); null with no v1 controller, or when the cgroup mounts say <c>favordynmods</c>.
    /// </summary>
    internal static string? ProcsOfSelf(IReadOnlyDictionary<string, string> hierarchies, string selfCgroup, bool favorDynMods)
    {
        if (favorDynMods)
        {
            return null;
        }
        foreach (var line in selfCgroup.Split('\n').OrderBy(l => l.Contains(":pids:", StringComparison.Ordinal) ? 0 : 1))
        {
            // "8:pids:/user.slice": v1 hierarchies carry controllers; "0::/x" is v2 and "N:name=systemd:/x" has none
            var parts = line.Split(':', 3);
            if (parts.Length != 3 || parts[1].Length == 0 || parts[1].StartsWith("name=", StringComparison.Ordinal))
            {
                continue;
            }
            foreach (var controller in parts[1].Split(','))
            {
                if (hierarchies.TryGetValue(controller, out var mount) && parts[2].StartsWith('/') && !parts[2].Contains("/../", StringComparison.Ordinal))
                {
                    return mount.TrimEnd('/') + parts[2].TrimEnd('/') + "/cgroup.procs";
                }
            }
        }
        return null;
    }

    private void StartThread() => new Thread(Run) { IsBackground = true, Name = "vserver-cgroup-warmup" }.Start();

    private void Run()
    {
        try
        {
            do
            {
                // "0": the writer's own thread group, into the cgroup it is in: nothing moves, the lock is taken
                // (open, write, close: a FileStream adds a lock, a seek and a truncate to each move)
                var fd = Native.Sys.Open(Procs, Native.Sys.O_WRONLY_);
                try
                {
                    Native.Sys.WriteAll(fd, "0"u8, Procs);
                }
                finally
                {
                    Native.Sys.Close(fd);
                }
                Interlocked.Increment(ref _moves);
            }
            while (!_done.Wait(Interval) && Stopwatch.GetTimestamp() < Volatile.Read(ref _until));
        }
        catch (Native.SyscallException)
        {
            // a host that does not let this process move itself (a read-only or delegated hierarchy): the start pays the wait as before
        }
        finally
        {
            _ended.Set();
        }
    }

    /// <summary>Ends it once the runtime's create has moved the guest's init (a move in progress finishes on its own).</summary>
    public void Dispose() => _done.Set();
}
