using System.Globalization;
using System.Text;
using VServer.Config;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// A running guest against its configuration. Some settings change a running guest at once (its
/// cgroup limits, the nice value of its processes, a btrfs disk limit): Set-VServerGuest applies them
/// with the configuration, all or nothing. The others (addresses, capabilities, init style …) wait for
/// the next start: each start records what it applied (<see cref="RunState.Applied"/>), and a setting
/// whose configured value differs from that is pending (Get-VServerGuest's PendingRestart).
/// </summary>
public static class LiveSettings
{
    /// <summary>The settings a running guest takes at once.</summary>
    public static readonly IReadOnlyList<string> Live = new[] { "MemoryLimit", "SwapLimit", "CpuLimit", "CpuWeight", "ProcessLimit", "Nice", "DiskLimit" };

    /// <summary>
    /// Each setting that shapes a running guest, by the name Set-VServerGuest gives it (or its file's,
    /// for those only a file sets), as one comparable string.
    /// </summary>
    public static Dictionary<string, string> Of(GuestConfig c)
    {
        // loops and names spelled out: LINQ's generic virtual calls and Enum.ToString build reflection data on the native vserver command
        static string Join<T>(IEnumerable<T> items)
        {
            var sb = new StringBuilder();
            var first = true;
            foreach (var i in items)
            {
                if (!first)
                {
                    sb.Append('\n');
                }
                sb.Append(Convert.ToString(i, CultureInfo.InvariantCulture));
                first = false;
            }
            return sb.ToString();
        }
        static IEnumerable<string> Pairs(SortedDictionary<string, string> map)
        {
            foreach (var (k, v) in map)
            {
                yield return k + "=" + v;
            }
        }
        static string N<T>(T? v) where T : struct => v is T x ? Convert.ToString(x, CultureInfo.InvariantCulture)! : "";
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Context"] = N(c.Context),
            ["Hostname"] = c.Hostname ?? "",
            ["Domainname"] = c.Domainname ?? "",
            ["Interface"] = Join(c.Interfaces),
            ["Flag"] = Join(c.Flags),
            ["Capability"] = Join(c.Capabilities),
            ["InitStyle"] = Name(c.InitStyle),
            ["StartCommand"] = c.StartCommand is null ? "" : CommandLine.Join(c.StartCommand),
            ["StopCommand"] = c.StopCommand is null ? "" : CommandLine.Join(c.StopCommand),
            ["MemoryLimit"] = N(c.MemoryLimit),
            ["SwapLimit"] = N(c.SwapLimit),
            ["CpuLimit"] = N(c.CpuLimit),
            ["CpuWeight"] = N(c.CpuWeight),
            ["ProcessLimit"] = N(c.ProcessLimit),
            ["DiskLimit"] = N(c.DiskLimit),
            ["Nice"] = N(c.Nice),
            ["PrivateUsers"] = c.PrivateUsers?.ToString() ?? "",
            ["ResourceLimit"] = Join(c.ResourceLimits),
            ["NetworkMode"] = Name(c.EffectiveNetworkMode),
            ["Bridge"] = c.Bridge ?? "",
            ["Publish"] = Join(c.Publish),
            ["DnsServer"] = Join(c.DnsServers),
            ["Fstab"] = Join(c.Fstab),
            ["Runlevel"] = c.Runlevel ?? "",
            ["InitEnvironment"] = Join(c.InitEnvironment),
            ["Sysctl"] = Join(Pairs(c.Sysctls)),
            ["Template"] = c.Template ?? "",
        };
    }

    /// <summary>The member's name, as Enum.ToString gives it.</summary>
    internal static string Name(InitStyle style) => style switch
    {
        InitStyle.Sysv => nameof(InitStyle.Sysv),
        InitStyle.Plain => nameof(InitStyle.Plain),
        InitStyle.Command => nameof(InitStyle.Command),
        InitStyle.Auto => nameof(InitStyle.Auto),
        _ => ((int)style).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The member's name, as Enum.ToString gives it.</summary>
    internal static string Name(NetworkMode mode) => mode switch
    {
        NetworkMode.Bridge => nameof(NetworkMode.Bridge),
        NetworkMode.IPvlan => nameof(NetworkMode.IPvlan),
        NetworkMode.Host => nameof(NetworkMode.Host),
        NetworkMode.None => nameof(NetworkMode.None),
        NetworkMode.Macvlan => nameof(NetworkMode.Macvlan),
        _ => ((int)mode).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Names of the settings whose values differ between two configurations, in <see cref="Of"/>'s order.</summary>
    public static IReadOnlyList<string> Changed(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after) =>
        after.Where(kv => !before.TryGetValue(kv.Key, out var old) || old != kv.Value).Select(kv => kv.Key).ToList();

    /// <summary>
    /// Settings the running guest does not run with yet: configured differently since its start and
    /// not changed live. Empty for a state written by a VServer that did not record what it applied.
    /// </summary>
    public static IReadOnlyList<string> Pending(GuestConfig c, RunState state) =>
        state.Applied is { } applied ? Changed(applied, Of(c)).Where(n => !Live.Contains(n)).ToList() : Array.Empty<string>();

    /// <summary>What a change does: the settings it changes at once on a running guest, and those that wait for its next start.</summary>
    public sealed record Plan(bool Running, IReadOnlyList<string> Now, IReadOnlyList<string> AtNextStart)
    {
        /// <summary>The change as -WhatIf names it.</summary>
        public string Describe() =>
            !Running ? (AtNextStart.Count == 0 ? "no setting changes" : "change " + string.Join(", ", AtNextStart))
            : string.Join("; ", new[]
            {
                Now.Count == 0 ? null : "change now: " + string.Join(", ", Now),
                AtNextStart.Count == 0 ? null : "at its next start: " + string.Join(", ", AtNextStart),
            }.Where(s => s is not null).DefaultIfEmpty("no setting changes"));
    }

    /// <summary>
    /// The plan of a change from <paramref name="before"/> to <paramref name="after"/>; for a stopped
    /// guest every change waits for its start. With <paramref name="running"/>'s state, a Bridge guest's
    /// new addresses on the same interfaces change at once too (<see cref="AddressesLive"/>).
    /// </summary>
    public static Plan PlanFor(GuestConfig before, GuestConfig after, RunState? running, VServerPaths paths)
    {
        var changed = Changed(Of(before), Of(after));
        if (running is null)
        {
            return new Plan(false, Array.Empty<string>(), changed);
        }
        var addresses = AddressesLive(before, after, running, paths);
        bool Now(string n) => Live.Contains(n) || (n == "Interface" && addresses);
        return new Plan(true, changed.Where(Now).ToList(), changed.Where(n => !Now(n)).ToList());
    }

    /// <summary>
    /// Whether the change of addresses applies to the running guest now: a Bridge guest whose
    /// interfaces, mode and bridge stay, and that runs with the addresses configured before (none
    /// pending from an earlier change).
    /// </summary>
    public static bool AddressesLive(GuestConfig before, GuestConfig after, RunState running, VServerPaths paths)
    {
        if (running.Applied is not { } applied)
        {
            return false;
        }
        var was = Of(before);
        bool Runs(string key) => applied.TryGetValue(key, out var value) && value == was[key];
        return Runs("Interface") && Runs("NetworkMode") && Runs("Bridge") && was["Interface"] != Of(after)["Interface"] &&
            GuestNetwork.AddressesOnly(paths, before, after);
    }

    /// <summary>
    /// Applies to a running guest what it takes at once: its cgroup limits (<see cref="Cgroups.Change"/>,
    /// refused with nothing changed when a limit is below what the guest uses) and, when Nice changed,
    /// the nice value of each of its threads, moved by the change and kept at or above the new value
    /// (util-vserver's vsched sets a context's priority the same way, for all its processes). Returns the undo.
    /// The disk limit is the store's (<see cref="Storage.GuestStore.Update"/>).
    /// </summary>
    public static Action Apply(GuestStore store, GuestConfig before, GuestConfig after, RunState state)
    {
        var name = after.Name;
        var undoAddresses = AddressesLive(before, after, state, store.Paths) ? GuestNetwork.ChangeAddresses(store, before, after) : null;
        Action undoCgroup;
        try
        {
            undoCgroup = Cgroups.Change(name, state.CgroupsPath, OciBundle.Limits(after, Cgroups.SwapLimitSupported()));
        }
        catch
        {
            undoAddresses?.Invoke();
            throw;
        }
        var undoLimits = () => { undoCgroup(); undoAddresses?.Invoke(); };
        var appliedNice = AppliedNice(state) ?? 0;
        var wantNice = after.Nice ?? 0;
        if (appliedNice == wantNice)
        {
            return undoLimits;
        }
        List<(int Tid, int Nice)> reniced;
        try
        {
            reniced = Renice(state.CgroupsPath, wantNice - appliedNice, wantNice);
        }
        catch
        {
            undoLimits();
            throw;
        }
        return () =>
        {
            foreach (var (tid, old) in reniced)
            {
                TrySetNice(tid, old);
            }
            undoLimits();
        };
    }

    /// <summary>The record of what a running guest now runs with, after a live change to <paramref name="after"/>.</summary>
    public static Dictionary<string, string>? AppliedAfter(RunState state, GuestConfig after, bool addressesChanged = false)
    {
        if (state.Applied is not { } applied)
        {
            return null;
        }
        var now = Of(after);
        var result = new Dictionary<string, string>(applied, StringComparer.Ordinal);
        foreach (var name in addressesChanged ? Live.Append("Interface") : Live)
        {
            result[name] = now[name];
        }
        return result;
    }

    /// <summary>
    /// The configuration with the network a running guest was started with (or changed to live):
    /// its mode, bridge, interfaces and published ports as its start applied them. A change that
    /// waits for the next start must not move the host's rules for the guest, which would block the
    /// addresses it still has and let through the ones it does not. The configuration itself when
    /// the state recorded nothing (a state of an older VServer) or a recorded value does not read back.
    /// </summary>
    public static GuestConfig NetworkAsApplied(GuestConfig config, RunState? state)
    {
        if (state?.Applied is not { } a || !a.TryGetValue("Interface", out var interfaces) || !a.TryGetValue("NetworkMode", out var mode) ||
            !a.TryGetValue("Bridge", out var bridge) || !a.TryGetValue("Publish", out var publish))
        {
            return config;
        }
        static IEnumerable<string> Lines(string v) => v.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        try
        {
            var c = config.Clone();
            c.NetworkMode = Enum.Parse<NetworkMode>(mode);
            c.Bridge = bridge.Length == 0 ? null : bridge;
            c.Interfaces = Lines(interfaces).Select(InterfaceSpec.FromString).ToList();
            c.Publish = Lines(publish).Select(PortMapping.Parse).ToList();
            return c;
        }
        catch (Exception e) when (e is VServerException or ArgumentException)
        {
            return config;
        }
    }

    /// <summary>The nice value a running guest's processes were given (at its start or by a live change); null when none was.</summary>
    public static int? AppliedNice(RunState state) =>
        state.Applied is { } a && a.TryGetValue("Nice", out var n) && int.TryParse(n, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

    /// <summary>
    /// Moves every thread of the guest's processes by <paramref name="delta"/>, never below
    /// <paramref name="floor"/> nor above 19. A thread is checked to be in the guest's cgroup just
    /// before it is changed (a pid that ended may have been given to a host process since the listing).
    /// </summary>
    private static List<(int Tid, int Nice)> Renice(string cgroup, int delta, int floor)
    {
        var done = new List<(int, int)>();
        var controller = Cgroups.MembershipController();
        foreach (var pid in Cgroups.Processes(cgroup))
        {
            foreach (var tid in ProcFs.ThreadIds(pid))
            {
                if (ProcFs.ThreadStat(pid, tid) is not { } st || !InGuest(pid, cgroup, controller))
                {
                    continue;
                }
                var target = Math.Clamp(st.Nice + delta, floor, 19);
                if (target != st.Nice && TrySetNice(tid, target))
                {
                    done.Add((tid, st.Nice));
                }
            }
        }
        return done;
    }

    private static bool InGuest(int pid, string cgroup, string controller) =>
        ProcFs.CgroupPath(pid, controller) is string p && (p == cgroup || p.StartsWith(cgroup + "/", StringComparison.Ordinal));

    private static bool TrySetNice(int tid, int nice)
    {
        try
        {
            Native.Sys.SetNice(tid, nice);
            return true;
        }
        catch (Native.SyscallException)
        {
            return false; // the thread ended
        }
    }
}
