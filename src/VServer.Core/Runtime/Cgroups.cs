using System.Globalization;
using VServer.Config;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>A guest's cgroup limits; null: no limit of that kind.</summary>
public sealed record CgroupLimits
{
    public long? Memory { get; init; }

    /// <summary>Memory plus swap (v1 memsw; on v2 the swap beyond <see cref="Memory"/>).</summary>
    public long? MemoryAndSwap { get; init; }

    public long? CpuQuota { get; init; }
    public long CpuPeriod { get; init; } = 100_000;
    public long? Pids { get; init; }

    /// <summary>The share of CPU time against other guests, 1 … 10000 (v2 cpu.weight; v1 cpu.shares = weight × 1024 / 100); null: the default share.</summary>
    public int? CpuWeight { get; init; }

    /// <summary>v1 cpu.shares for a weight: 100 → 1024 (1 … 10000 → 10 … 102400, within the kernel's 2 … 262144).</summary>
    public static long SharesOf(int weight) => weight * 1024L / 100;
}

/// <summary>A guest cgroup's limits and use as the kernel reports them now; null: no limit, or not known here.</summary>
public sealed record CgroupUsage
{
    public long? MemoryUsed { get; init; }
    public long? MemoryLimit { get; init; }
    public long? MemoryAndSwapUsed { get; init; }
    public long? MemoryAndSwapLimit { get; init; }
    public long? Processes { get; init; }
    public long? ProcessLimit { get; init; }
    public long? CpuQuota { get; init; }
    public long CpuPeriod { get; init; } = 100_000;
    public int? CpuWeight { get; init; }

    /// <summary>The CPU limit in cores (quota / period); null: none.</summary>
    public double? CpuLimit => CpuQuota is long q ? Math.Round((double)q / CpuPeriod, 4) : null;
}

/// <summary>
/// The host's cgroup hierarchies (v1 controllers, the v2 unified tree, or both) and the guest
/// cgroups the runtime makes in them. Process membership comes from the kernel's cgroup files.
/// </summary>
public static class Cgroups
{
    /// <summary>Where the default installation's guests live in every hierarchy: <c>/vserver/NAME</c>.</summary>
    public const string Parent = "/vserver";

    /// <summary>Where an installation's guests live: <c>/vserver</c>, or <c>/vserver.KEY</c> for another run root.</summary>
    public static string ParentFor(VServerPaths paths) => paths.InstallationKey.Length == 0 ? Parent : Parent + "." + paths.InstallationKey;

    /// <summary>Whether a cgroup path lies under some VServer installation's parent (ours or another's).</summary>
    public static bool IsUnderAnyInstallation(string cgroupPath) =>
        cgroupPath.StartsWith(Parent + "/", StringComparison.Ordinal) || cgroupPath.StartsWith(Parent + ".", StringComparison.Ordinal);

    /// <summary>The guest's cgroup: its limits, its accounting, and every process of the guest below it.</summary>
    public static string PathFor(VServerPaths paths, string guest) => ParentFor(paths) + "/" + GuestId.Of(guest);

    /// <summary>
    /// The cgroup the runtime makes for the guest, one level below its limits: the root of the
    /// guest's cgroup namespace. A guest that mounts its hierarchy sees this one's files (which hold
    /// no limit) and never the limits above it (LXC's <c>lxc.cgroup.dir.container.inner</c>).
    /// </summary>
    public static string PayloadOf(string guestCgroup) => guestCgroup + "/payload";

    /// <summary>
    /// Makes the guest's cgroup in every hierarchy that has one of its controllers and writes its
    /// limits there. On failure nothing stays: what was made is removed and the error names the file.
    /// </summary>
    public static void Create(string guestCgroup, CgroupLimits limits)
    {
        var h = Hierarchies();
        var v2Controllers = h.TryGetValue("", out var v2root) ? ReadControllers(v2root) : new HashSet<string>();
        // (file, value) per directory, in the order they must be written
        var writes = new List<(string Dir, string File, string Value)>();
        string? DirOf(string controller) =>
            h.TryGetValue(controller, out var m) ? m + guestCgroup : v2Controllers.Contains(controller) ? v2root + guestCgroup : null;
        bool IsV2(string controller) => !h.ContainsKey(controller) && v2Controllers.Contains(controller);

        if (DirOf("pids") is string pidsDir)
        {
            writes.Add((pidsDir, "pids.max", limits.Pids is long p ? Num(p) : "max"));
        }
        else if (limits.Pids is not null)
        {
            throw new VServerException("CgroupControllerMissing", ErrorKind.NotInstalled, "This host has no pids cgroup controller: VServer cannot limit a guest's processes.", "pids");
        }
        if (limits.Memory is long mem)
        {
            var dir = DirOf("memory") ?? throw new VServerException("CgroupControllerMissing", ErrorKind.NotInstalled, "This host has no memory cgroup controller: the guest's memory limit cannot be set.", "memory");
            if (IsV2("memory"))
            {
                writes.Add((dir, "memory.max", Num(mem)));
                if (limits.MemoryAndSwap is long both)
                {
                    writes.Add((dir, "memory.swap.max", Num(Math.Max(0, both - mem))));
                }
            }
            else
            {
                writes.Add((dir, "memory.limit_in_bytes", Num(mem)));
                if (limits.MemoryAndSwap is long both)
                {
                    writes.Add((dir, "memory.memsw.limit_in_bytes", Num(both)));
                }
            }
        }
        if (limits.CpuWeight is int weight)
        {
            var dir = DirOf("cpu") ?? throw new VServerException("CgroupControllerMissing", ErrorKind.NotInstalled, "This host has no cpu cgroup controller: the guest's CPU weight cannot be set.", "cpu");
            writes.Add(IsV2("cpu") ? (dir, "cpu.weight", Num(weight)) : (dir, "cpu.shares", Num(CgroupLimits.SharesOf(weight))));
        }
        if (limits.CpuQuota is long quota)
        {
            var dir = DirOf("cpu") ?? throw new VServerException("CgroupControllerMissing", ErrorKind.NotInstalled, "This host has no cpu cgroup controller: the guest's CPU limit cannot be set.", "cpu");
            if (IsV2("cpu"))
            {
                writes.Add((dir, "cpu.max", Num(quota) + " " + Num(limits.CpuPeriod)));
            }
            else
            {
                writes.Add((dir, "cpu.cfs_period_us", Num(limits.CpuPeriod)));
                writes.Add((dir, "cpu.cfs_quota_us", Num(quota)));
                // the same quota on the payload: lxcfs counts a guest's CPUs from its own cgroup's
                // quota only (memory it takes from the ancestors); the limit above stays the one enforced
                var payload = PayloadOf(dir);
                writes.Add((payload, "cpu.cfs_period_us", Num(limits.CpuPeriod)));
                writes.Add((payload, "cpu.cfs_quota_us", Num(quota)));
            }
        }
        try
        {
            foreach (var dir in writes.Select(w => w.Dir).Distinct())
            {
                if (v2root is not null && dir.StartsWith(v2root + "/", StringComparison.Ordinal))
                {
                    // v2: the controllers must be enabled on the way down (no process lives in these two)
                    var parent = v2root + Path.GetDirectoryName(guestCgroup);
                    EnableV2(parent, v2root, v2Controllers);
                    EnableV2(dir, parent, v2Controllers);
                }
                Directory.CreateDirectory(dir);
            }
            foreach (var (dir, file, value) in writes)
            {
                var path = Path.Combine(dir, file);
                try
                {
                    File.WriteAllText(path, value);
                }
                catch (IOException e)
                {
                    throw new VServerException("CgroupSetupFailed", ErrorKind.InvalidOperation, $"Cannot write '{value}' to {path}: {e.Message}", path, e);
                }
            }
        }
        catch
        {
            RemoveEmpty(guestCgroup);
            throw;
        }
    }

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Changes a running guest's limits in place (Set-VServerGuest on a running guest, util-vserver's
    /// <c>vlimit</c>): memory, memory+swap, CPU quota and the process limit, each written in the order
    /// the kernel accepts (a lower memory limit before memory+swap, a higher one after; a v1 CPU quota
    /// on the payload below before a lower one above it). A limit below what the guest uses now — more
    /// processes than the new limit, memory the kernel cannot reclaim — is refused, every file already
    /// written is put back, and the error says what the guest uses. Returns the undo, for a caller whose
    /// next step (the configuration's write) fails.
    /// </summary>
    public static Action Change(string guest, string guestCgroup, CgroupLimits limits)
    {
        var h = Hierarchies();
        var v2Controllers = h.TryGetValue("", out var v2root) ? ReadControllers(v2root) : new HashSet<string>();
        string? DirOf(string controller) =>
            h.TryGetValue(controller, out var m) ? m + guestCgroup : v2Controllers.Contains(controller) ? v2root + guestCgroup : null;
        bool IsV2(string controller) => !h.ContainsKey(controller) && v2Controllers.Contains(controller);
        VServerException Missing(string controller, string what) =>
            new("CgroupControllerMissing", ErrorKind.NotInstalled, $"This host has no {controller} cgroup controller: the guest's {what} cannot be set.", controller);

        var steps = new List<(string Path, string Value)>();
        if (DirOf("pids") is string pidsDir)
        {
            if (limits.Pids is long p && ReadNumber(Path.Combine(pidsDir, "pids.current")) is long running && running > p)
            {
                throw BelowUsage(guest, $"{running} processes", $"a process limit of {p}");
            }
            steps.Add((Path.Combine(pidsDir, "pids.max"), limits.Pids is long q ? Num(q) : "max"));
        }
        else if (limits.Pids is not null)
        {
            throw Missing("pids", "process limit");
        }

        if (DirOf("memory") is not string memDir)
        {
            if (limits.Memory is not null)
            {
                throw Missing("memory", "memory limit");
            }
        }
        else if (IsV2("memory"))
        {
            // v2 never refuses a lower memory.max (it reclaims, then kills): ask for the reclaim first and refuse what it cannot free
            if (limits.Memory is long m && ReadNumber(Path.Combine(memDir, "memory.current")) is long used && used > m)
            {
                try
                {
                    File.WriteAllText(Path.Combine(memDir, "memory.reclaim"), Num(used - m));
                }
                catch (IOException)
                {
                    // the kernel reclaimed less than asked: the check below decides
                }
                if (ReadNumber(Path.Combine(memDir, "memory.current")) is long still && still > m)
                {
                    throw BelowUsage(guest, Bytes(still) + " of memory", "a memory limit of " + Bytes(m));
                }
            }
            steps.Add((Path.Combine(memDir, "memory.max"), limits.Memory is long mx ? Num(mx) : "max"));
            if (File.Exists(Path.Combine(memDir, "memory.swap.max")))
            {
                steps.Add((Path.Combine(memDir, "memory.swap.max"),
                    limits.Memory is long mm && limits.MemoryAndSwap is long both ? Num(Math.Max(0, both - mm)) : "max"));
            }
        }
        else
        {
            var mem = (Path.Combine(memDir, "memory.limit_in_bytes"), limits.Memory is long m ? Num(m) : "-1");
            var memsw = Path.Combine(memDir, "memory.memsw.limit_in_bytes");
            // memory+swap is never below memory: raise it first, lower it last
            var raising = limits.Memory is not long target || ReadNumber(mem.Item1) is not long now || target > now;
            var swap = File.Exists(memsw) ? (memsw, limits.MemoryAndSwap is long b ? Num(b) : "-1") : ((string, string)?)null;
            if (raising && swap is { } sw1)
            {
                steps.Add(sw1);
            }
            steps.Add(mem);
            if (!raising && swap is { } sw2)
            {
                steps.Add(sw2);
            }
        }

        if (DirOf("cpu") is not string cpuDir)
        {
            if (limits.CpuQuota is not null || limits.CpuWeight is not null)
            {
                throw Missing("cpu", "CPU limit");
            }
        }
        else if (IsV2("cpu"))
        {
            steps.Add((Path.Combine(cpuDir, "cpu.weight"), Num(limits.CpuWeight ?? GuestConfig.DefaultCpuWeight)));
            steps.Add((Path.Combine(cpuDir, "cpu.max"), (limits.CpuQuota is long q ? Num(q) : "max") + " " + Num(limits.CpuPeriod)));
        }
        else
        {
            // v1 keeps a child's quota within its parent's: the payload (lxcfs reads its CPUs there) moves second when the quota rises, first when it falls
            var quota = limits.CpuQuota is long q ? Num(q) : "-1";
            var above = new List<(string, string)> { (Path.Combine(cpuDir, "cpu.cfs_period_us"), Num(limits.CpuPeriod)), (Path.Combine(cpuDir, "cpu.cfs_quota_us"), quota) };
            var payload = PayloadOf(cpuDir);
            var below = Directory.Exists(payload)
                ? new List<(string, string)> { (Path.Combine(payload, "cpu.cfs_period_us"), Num(limits.CpuPeriod)), (Path.Combine(payload, "cpu.cfs_quota_us"), quota) }
                : new List<(string, string)>();
            steps.Add((Path.Combine(cpuDir, "cpu.shares"), Num(CgroupLimits.SharesOf(limits.CpuWeight ?? GuestConfig.DefaultCpuWeight))));
            var now = ReadNumber(Path.Combine(cpuDir, "cpu.cfs_quota_us"));
            var rising = limits.CpuQuota is not long want || (now is long n && n != -1 && want > n);
            steps.AddRange(rising ? above.Concat(below) : below.Concat(above));
        }

        var done = new List<(string Path, string Old)>();
        try
        {
            foreach (var (path, value) in steps)
            {
                string old;
                try
                {
                    old = File.ReadAllText(path).Trim();
                }
                catch (IOException e)
                {
                    throw new VServerException("CgroupSetupFailed", ErrorKind.InvalidOperation, $"Cannot read {path}: {e.Message}", path, e);
                }
                if (old == value)
                {
                    continue;
                }
                try
                {
                    File.WriteAllText(path, value);
                }
                catch (IOException e) when (path.EndsWith("limit_in_bytes", StringComparison.Ordinal) && limits.Memory is long m)
                {
                    // EBUSY: the kernel could not reclaim enough to fit the guest under the new limit
                    var usage = ReadNumber(Path.Combine(Path.GetDirectoryName(path)!, path.EndsWith("memsw.limit_in_bytes", StringComparison.Ordinal) ? "memory.memsw.usage_in_bytes" : "memory.usage_in_bytes"));
                    throw BelowUsage(guest, (usage is long u ? Bytes(u) : "more") + " of memory", $"a memory limit of {Bytes(m)} (it could not reclaim enough: {ErrnoName(e)})");
                }
                catch (IOException e)
                {
                    throw new VServerException("CgroupSetupFailed", ErrorKind.InvalidOperation, $"Cannot write '{value}' to {path}: {e.Message}", path, e);
                }
                done.Add((path, old));
            }
        }
        catch
        {
            Undo(done);
            throw;
        }
        return () => Undo(done);
    }

    /// <summary>
    /// What a guest's cgroup holds it to now and what it uses, read from the kernel's files (v1 or v2):
    /// what util-vserver's <c>vlimit -a</c> showed of a context, and what a live change is checked against.
    /// </summary>
    public static CgroupUsage Usage(string guestCgroup)
    {
        var h = Hierarchies();
        var v2Controllers = h.TryGetValue("", out var v2root) ? ReadControllers(v2root) : new HashSet<string>();
        string? DirOf(string controller) =>
            h.TryGetValue(controller, out var m) ? m + guestCgroup : v2Controllers.Contains(controller) ? v2root + guestCgroup : null;
        bool IsV2(string controller) => !h.ContainsKey(controller) && v2Controllers.Contains(controller);
        static long? Limit(long? v) => v is long x && x >= long.MaxValue / 2 ? null : v; // v1 "unlimited" is a page-rounded LONG_MAX
        long? Max(string? dir, string file)
        {
            if (dir is null)
            {
                return null;
            }
            try
            {
                var text = File.ReadAllText(Path.Combine(dir, file)).Trim().Split(' ')[0];
                return text is "max" or "-1" ? null : Limit(long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
        var mem = DirOf("memory");
        var cpu = DirOf("cpu");
        var pids = DirOf("pids");
        var v2mem = IsV2("memory");
        var v2cpu = IsV2("cpu");
        long? memory = Max(mem, v2mem ? "memory.max" : "memory.limit_in_bytes");
        long? swapTotal = v2mem ? (Max(mem, "memory.swap.max") is long sw && memory is long m2 ? m2 + sw : null) : Max(mem, "memory.memsw.limit_in_bytes");
        var quota = v2cpu ? Max(cpu, "cpu.max") : Max(cpu, "cpu.cfs_quota_us");
        long period = (v2cpu ? ReadPeriodV2(cpu) : Max(cpu, "cpu.cfs_period_us")) ?? 100_000;
        int? weight = v2cpu ? (int?)Max(cpu, "cpu.weight") : Max(cpu, "cpu.shares") is long shares ? (int)Math.Max(1, Math.Round(shares * 100.0 / 1024)) : null;
        return new CgroupUsage
        {
            MemoryUsed = mem is null ? null : ReadNumber(Path.Combine(mem, v2mem ? "memory.current" : "memory.usage_in_bytes")),
            MemoryLimit = memory,
            MemoryAndSwapUsed = mem is null ? null : v2mem
                ? (ReadNumber(Path.Combine(mem, "memory.current")) is long cur ? cur + (ReadNumber(Path.Combine(mem, "memory.swap.current")) ?? 0) : null)
                : ReadNumber(Path.Combine(mem, "memory.memsw.usage_in_bytes")),
            MemoryAndSwapLimit = swapTotal,
            Processes = pids is null ? null : ReadNumber(Path.Combine(pids, "pids.current")),
            ProcessLimit = Max(pids, "pids.max"),
            CpuQuota = quota,
            CpuPeriod = period,
            CpuWeight = weight,
        };
    }

    private static long? ReadPeriodV2(string? cpuDir)
    {
        if (cpuDir is null)
        {
            return null;
        }
        try
        {
            var parts = File.ReadAllText(Path.Combine(cpuDir, "cpu.max")).Trim().Split(' ');
            return parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void Undo(List<(string Path, string Old)> done)
    {
        for (var i = done.Count - 1; i >= 0; i--)
        {
            try
            {
                File.WriteAllText(done[i].Path, done[i].Old);
            }
            catch (IOException)
            {
                // the guest ended meanwhile, or the kernel keeps the new value: nothing more to do
            }
        }
    }

    private static string ErrnoName(IOException e) => e.HResult switch { 16 => "EBUSY", _ => e.Message.Split(" : ")[0].TrimEnd('.') };

    private static VServerException BelowUsage(string guest, string uses, string limit) =>
        new("LimitBelowUsage", ErrorKind.InvalidOperation,
            $"Guest '{guest}' uses {uses} now; the kernel cannot hold it to {limit}. Nothing was changed.", guest);

    private static long? ReadNumber(string file)
    {
        try
        {
            return long.TryParse(File.ReadAllText(file).Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Bytes as an administrator reads them: 67108864 → "64 MiB (67108864 bytes)".</summary>
    internal static string Bytes(long n) =>
        n >= 1 << 20 ? $"{(n / 1048576.0).ToString("0.#", CultureInfo.InvariantCulture)} MiB ({Num(n)} bytes)" : Num(n) + " bytes";


    private static HashSet<string> ReadControllers(string v2root)
    {
        try
        {
            return new HashSet<string>(File.ReadAllText(Path.Combine(v2root, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);
        }
        catch (IOException)
        {
            return new HashSet<string>();
        }
    }

    /// <summary>Makes a v2 cgroup and lets its children use the controllers VServer limits.</summary>
    private static void EnableV2(string dir, string parent, HashSet<string> available)
    {
        Directory.CreateDirectory(dir);
        var wanted = new[] { "memory", "cpu", "pids" }.Where(available.Contains).Select(c => "+" + c);
        try
        {
            File.WriteAllText(Path.Combine(dir, "cgroup.subtree_control"), string.Join(' ', wanted));
        }
        catch (IOException)
        {
            // already enabled, or the parent does not pass them down: the limit write names the failure
        }
    }

    /// <summary>Where a hybrid host mounts its cgroup2 tree beside the v1 hierarchies (systemd's layout, and crun's test for it).</summary>
    public const string HybridUnifiedMount = "/sys/fs/cgroup/unified";

    /// <summary>
    /// A hybrid host (v1 controllers, cgroup2 at <see cref="HybridUnifiedMount"/>) whose cgroup2 tree
    /// holds controllers (here hugetlb): crun refuses to create a container on it as it is.
    /// </summary>
    public static bool HybridWithControllers()
    {
        var h = Hierarchies();
        if (!h.TryGetValue("", out var unified) || unified != HybridUnifiedMount || h.Count < 2)
        {
            return false;
        }
        try
        {
            return File.ReadAllText(Path.Combine(unified, "cgroup.controllers")).Trim().Length > 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    // one read of the mount table gives both (a start asks for both, and every guest started beside it changes the table)
    private static readonly MountTable.Cached<(IReadOnlyDictionary<string, string> Hierarchies, bool FavorDynMods)> CachedMounts =
        new(p => ReadCgroupMounts(MountTable.LinesWith(p, " - cgroup"u8))); // "cgroup" and "cgroup2", right after the separator

    /// <summary>
    /// Mount points of the cgroup hierarchies: v1 by controller ("pids", "memory", …) and "" for v2.
    /// Read from the mount table again only once its mounts have changed.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Hierarchies() => CachedMounts.Get().Hierarchies;

    /// <summary>Whether a cgroup hierarchy is mounted with <c>favordynmods</c> (moving a task then waits for no RCU grace period).</summary>
    public static bool FavorDynMods() => CachedMounts.Get().FavorDynMods;

    /// <summary>The cgroup mounts of a mount table (mountinfo's lines): the hierarchies, and whether any says <c>favordynmods</c>.</summary>
    internal static (IReadOnlyDictionary<string, string> Hierarchies, bool FavorDynMods) ReadCgroupMounts(IEnumerable<string> mountInfo)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var favorDynMods = false;
        foreach (var line in mountInfo)
        {
            var sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0)
            {
                continue;
            }
            var pre = line[..sep].Split(' ');
            var post = line[(sep + 3)..].Split(' ');
            if (pre.Length < 5 || post.Length < 3 || post[0] is not ("cgroup" or "cgroup2"))
            {
                continue;
            }
            var options = post[2].Split(',');
            favorDynMods |= options.Contains("favordynmods");
            var mountPoint = MountTable.Unescape(pre[4]);
            if (post[0] == "cgroup2")
            {
                result.TryAdd("", mountPoint);
                continue;
            }
            foreach (var opt in options)
            {
                // controllers ("pids", "memory") and named hierarchies ("name=systemd")
                if (opt is not ("rw" or "ro") && (!opt.Contains('=') || opt.StartsWith("name=", StringComparison.Ordinal)))
                {
                    result.TryAdd(opt, mountPoint);
                }
            }
        }
        return (result.AsReadOnly(), favorDynMods);
    }

    /// <summary>
    /// The hierarchy that says which guest a process belongs to: v1 "pids" where it is mounted,
    /// else the v2 tree (""). Every guest has a cgroup of its own there.
    /// </summary>
    public static string MembershipController(IReadOnlyDictionary<string, string>? hierarchies = null) =>
        (hierarchies ?? Hierarchies()).ContainsKey("pids") ? "pids" : "";

    /// <summary>The directory of the hierarchy that counts processes (v1 pids, else v2) for a cgroup path.</summary>
    public static string? ProcessDirectory(string cgroupPath)
    {
        var h = Hierarchies();
        return h.TryGetValue(MembershipController(h), out var mount) ? mount + cgroupPath : null;
    }

    /// <summary>Host pids in a cgroup and the cgroups below it (empty when it does not exist).</summary>
    public static IReadOnlyList<int> Processes(string cgroupPath) => ProcessesIn(ProcessDirectory(cgroupPath));

    /// <summary>Host pids under a cgroup directory of the counting hierarchy (<see cref="ProcessDirectory"/>, resolved once by a caller that polls).</summary>
    public static IReadOnlyList<int> ProcessesIn(string? directory)
    {
        var result = new List<int>();
        if (directory is not null)
        {
            Collect(directory, result, 0);
        }
        return result;
    }

    private static void Collect(string dir, List<int> into, int depth)
    {
        if (depth == 0 && !Directory.Exists(dir))
        {
            return; // a stopped guest's: no exception thrown and caught for each guest a host-wide scan looks at
        }
        try
        {
            foreach (var l in File.ReadLines(Path.Combine(dir, "cgroup.procs")))
            {
                if (int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0)
                {
                    into.Add(pid);
                }
            }
            if (depth < 32)
            {
                foreach (var sub in Directory.EnumerateDirectories(dir))
                {
                    Collect(sub, into, depth + 1); // a cgroup file system has no symlinks
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the cgroup went away while it was read
        }
    }

    /// <summary>
    /// The kernel's CPU accounting for a cgroup, processes that have ended included: v1
    /// <c>cpuacct.stat</c>, else v2 <c>cpu.stat</c>. Null when neither can be read.
    /// </summary>
    public static (TimeSpan User, TimeSpan System)? CpuTimes(string cgroupPath, IReadOnlyDictionary<string, string>? hierarchies = null)
    {
        var h = hierarchies ?? Hierarchies();
        if (h.TryGetValue("cpuacct", out var v1) && ReadKeyed(Path.Combine(v1 + cgroupPath, "cpuacct.stat")) is { } a &&
            a.TryGetValue("user", out var u1) && a.TryGetValue("system", out var s1))
        {
            return (ProcFs.Ticks((ulong)u1), ProcFs.Ticks((ulong)s1));
        }
        if (h.TryGetValue("", out var v2) && ReadKeyed(Path.Combine(v2 + cgroupPath, "cpu.stat")) is { } b &&
            b.TryGetValue("user_usec", out var u2) && b.TryGetValue("system_usec", out var s2))
        {
            return (TimeSpan.FromTicks(u2 * 10), TimeSpan.FromTicks(s2 * 10));
        }
        return null;
    }

    private static Dictionary<string, long>? ReadKeyed(string file)
    {
        try
        {
            var d = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var line in File.ReadLines(file))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                {
                    d[parts[0]] = v;
                }
            }
            return d;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Every existing directory of a cgroup path, in all hierarchies.</summary>
    public static IReadOnlyList<string> Existing(string cgroupPath)
    {
        // a loop, not a LINQ chain: its generic virtual calls are resolved at run time on the native vserver command
        var found = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var mount in Hierarchies().Values)
        {
            if (seen.Add(mount) && Directory.Exists(mount + cgroupPath))
            {
                found.Add(mount + cgroupPath);
            }
        }
        return found;
    }

    /// <summary>Whether any guest of this installation has a cgroup (running, starting or not yet cleaned up), in any hierarchy.</summary>
    public static bool AnyGuest(VServerPaths paths) =>
        Existing(ParentFor(paths)).Any(d =>
        {
            try
            {
                return Directory.EnumerateDirectories(d).Any();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false; // removed meanwhile
            }
        });

    /// <summary>
    /// Removes a guest's cgroup (its payload first) and, when it is then empty, VServer's parent, from
    /// every hierarchy; what is still busy stays.
    /// </summary>
    public static void RemoveEmpty(string cgroupPath)
    {
        foreach (var path in new[] { PayloadOf(cgroupPath), cgroupPath, Path.GetDirectoryName(cgroupPath)! })
        {
            foreach (var dir in Existing(path))
            {
                try
                {
                    Directory.Delete(dir); // rmdir: refused while the cgroup has processes or children
                }
                catch (IOException)
                {
                }
            }
        }
    }

    /// <summary>
    /// Freezes every process of a guest's cgroup (v1 freezer, else v2 <c>cgroup.freeze</c>) until the
    /// result is disposed: while the host copies a running guest's tree, nothing in the guest can
    /// swap a directory for a symlink under the copy. Null when the cgroup does not exist.
    /// </summary>
    public static IDisposable? Freeze(string guestCgroup, TimeSpan timeout)
    {
        var h = Hierarchies();
        string file, frozen, thawed, check;
        if (h.TryGetValue("freezer", out var v1) && Directory.Exists(v1 + guestCgroup))
        {
            file = Path.Combine(v1 + guestCgroup, "freezer.state");
            (frozen, thawed, check) = ("FROZEN", "THAWED", file);
        }
        else if (h.TryGetValue("", out var v2) && File.Exists(Path.Combine(v2 + guestCgroup, "cgroup.freeze")))
        {
            file = Path.Combine(v2 + guestCgroup, "cgroup.freeze");
            (frozen, thawed, check) = ("1", "0", Path.Combine(v2 + guestCgroup, "cgroup.events"));
        }
        else
        {
            return null;
        }
        File.WriteAllText(file, frozen);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!IsFrozen(check))
        {
            if (sw.Elapsed > timeout)
            {
                File.WriteAllText(file, thawed);
                throw new VServerException("FreezeFailed", ErrorKind.ResourceUnavailable, $"The cgroup {guestCgroup} did not freeze within {timeout.TotalSeconds} s.", guestCgroup);
            }
            Thread.Sleep(5);
        }
        return new Thaw(file, thawed);
    }

    private static bool IsFrozen(string file)
    {
        var text = File.ReadAllText(file);
        return text.Trim() == "FROZEN" || text.Split('\n').Any(l => l.Trim() == "frozen 1");
    }

    private sealed class Thaw : IDisposable
    {
        private readonly string _file;
        private readonly string _value;

        public Thaw(string file, string value) => (_file, _value) = (file, value);

        public void Dispose()
        {
            try
            {
                File.WriteAllText(_file, _value);
            }
            catch (IOException)
            {
                // the guest ended meanwhile: nothing left to thaw
            }
        }
    }

    /// <summary>Whether memory+swap can be limited here (v2, or v1 with memsw accounting).</summary>
    public static bool SwapLimitSupported()
    {
        var h = Hierarchies();
        if (h.TryGetValue("memory", out var mem))
        {
            return File.Exists(Path.Combine(mem, "memory.memsw.limit_in_bytes"));
        }
        return h.ContainsKey("");
    }
}
