using VServer.Build;
using VServer.Native;

namespace VServer.Runtime;

/// <summary>
/// util-vserver's testme.sh for this design: the kernel features, host tools and filesystems
/// VServer uses, each probed for real where that is cheap and leaves nothing behind.
/// </summary>
public static class HostChecks
{
    private static readonly string[] Namespaces = { "pid", "ipc", "uts", "mnt", "net", "cgroup", "user", "time" };

    /// <summary>Every check's name, in the order they run: what -Check accepts and completes.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "root" }
        .Concat(Namespaces.Select(n => "namespace " + n))
        .Concat(new[] { "cgroups", "OCI runtime", "conmon", "busybox-static", "tini-static", "lxcfs", "overlayfs", "reflink", "guest store", "private users", "iproute2", "nftables", "veth", "bridge", "ipvlan", "macvlan" })
        .ToArray();

    public static IEnumerable<HostCheck> Run(VServerPaths paths)
    {
        var root = Sys.GetEuid() == 0;
        yield return new HostCheck("root", root ? CheckStatus.Pass : CheckStatus.Fail,
            root ? "running as root" : "starting guests, mounts and network setup need root");

        foreach (var ns in Namespaces)
        {
            var ok = File.Exists("/proc/self/ns/" + ns);
            yield return new HostCheck("namespace " + ns, ok ? CheckStatus.Pass : ns == "time" ? CheckStatus.Warn : CheckStatus.Fail,
                ok ? "available" : ns == "time" ? "missing: the virt_uptime flag cannot work" : "missing from this kernel");
        }

        yield return Cgroups();
        yield return Tool("OCI runtime", () =>
        {
            var rt = OciRuntime.Resolve(paths);
            var version = HostProcess.Run(rt.Path, new[] { "--version" });
            var how = rt.CreateCommand().Args.Count > 0 ? " (hybrid cgroups: its create runs in a mount namespace without " + VServer.Runtime.Cgroups.HybridUnifiedMount + ")" : "";
            return (CheckStatus.Pass, $"{rt.Name}: {Top(version.StandardOutput, rt.Path)}{how}");
        });
        yield return Tool("conmon", () => HostProcess.Find("conmon") is string conmon
            ? (CheckStatus.Pass, Top(HostProcess.Run(conmon, new[] { "--version" }).StandardOutput, conmon))
            : (CheckStatus.Fail, "not installed (Debian package conmon): no guest can start"));
        yield return Tool("busybox-static", () =>
        {
            var bb = HostBusybox.Locate();
            return (CheckStatus.Pass, bb.Path);
        }, CheckStatus.Warn, " (needed for -Method Busybox only)");
        yield return Tool("tini-static", () => HostProcess.Find("tini-static") is string tini
            ? (CheckStatus.Pass, tini)
            : (CheckStatus.Warn, "not installed (Debian package tini): the Sysv init style cannot start"));
        yield return Tool("lxcfs", () => GuestProcView.Program() is string lxcfs
            ? (CheckStatus.Pass, $"{lxcfs}: guests see their own memory, uptime, load and CPUs (one daemon per installation, started with its first guest)")
            : (CheckStatus.Warn, "not installed (Debian package lxcfs): free, uptime and top inside guests show the host's memory, uptime and CPUs"));
        yield return Tool("overlayfs", () => File.ReadAllText("/proc/filesystems").Contains("\toverlay\n", StringComparison.Ordinal)
            ? (CheckStatus.Pass, "in the kernel")
            : (CheckStatus.Warn, "not in the kernel (modprobe overlay): -Method Template cannot work"));
        yield return Reflink(paths.VdirRoot);
        yield return GuestStore(paths.VdirRoot);
        yield return PrivateUsers(paths.VdirRoot);
        yield return Tool("iproute2", () => HostProcess.Find("ip") is string ip
            ? (CheckStatus.Pass, Top(HostProcess.Run(ip, new[] { "-V" }).StandardOutput, ip))
            : (CheckStatus.Fail, "not installed (Debian package iproute2)"));
        yield return Tool("nftables", () => HostProcess.Find("nft") is string nft
            ? (CheckStatus.Pass, Top(HostProcess.Run(nft, new[] { "--version" }).StandardOutput, nft) + ": the host is shielded from guests, NAT, no spoofing")
            : (CheckStatus.Fail, "not installed (Debian package nftables): Bridge guests cannot start"));
        foreach (var c in Links(root))
        {
            yield return c;
        }
    }

    /// <summary>
    /// Whether guests may run with -PrivateUsers here: a user namespace is made for real (and let go)
    /// and the vdir root's filesystem is asked for an idmapped mount that is never attached.
    /// </summary>
    private static HostCheck PrivateUsers(string vdirRoot) => Tool("private users", () =>
    {
        var at = Storage.FileSystems.NearestExisting(vdirRoot);
        return GuestUsers.WhyNot(vdirRoot) is string why
            ? (CheckStatus.Warn, why + ": new guests get host root as their root")
            : (CheckStatus.Pass, $"user namespaces and idmapped mounts on {Storage.FileSystems.NameOf(at)} ({at}): new guests get private users");
    }, CheckStatus.Warn);

    /// <summary>The first non-empty line of a tool's output (its version line).</summary>
    private static string Top(string text, string fallback) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? fallback;

    private static HostCheck Tool(string check, Func<(CheckStatus, string)> probe, CheckStatus onError = CheckStatus.Fail, string note = "")
    {
        try
        {
            var (status, detail) = probe();
            return new HostCheck(check, status, detail);
        }
        catch (VServerException e)
        {
            return new HostCheck(check, onError, e.Message + note);
        }
        catch (IOException e)
        {
            return new HostCheck(check, onError, e.Message + note);
        }
    }

    private static HostCheck Cgroups()
    {
        var h = Runtime.Cgroups.Hierarchies();
        var v1 = h.Keys.Where(k => k.Length > 0 && !k.StartsWith("name=", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        string layout;
        List<string> controllers;
        if (h.TryGetValue("", out var unified))
        {
            var v2 = File.Exists(Path.Combine(unified, "cgroup.controllers"))
                ? File.ReadAllText(Path.Combine(unified, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList()
                : new List<string>();
            layout = v1.Count > 0 ? "hybrid" : "v2";
            controllers = v1.Union(v2).ToList();
        }
        else
        {
            layout = v1.Count > 0 ? "v1" : "none";
            controllers = v1;
        }
        var missing = new[] { "pids", "memory", "cpu" }.Where(c => !controllers.Contains(c)).ToList();
        var status = layout == "none" ? CheckStatus.Fail : missing.Count > 0 ? CheckStatus.Warn : CheckStatus.Pass;
        var detail = $"{layout}; controllers {string.Join(' ', controllers)}" + (missing.Count > 0 ? $"; missing {string.Join(' ', missing)}: those limits do not apply" : "");
        return new HostCheck("cgroups", status, detail);
    }

    /// <summary>How new guest roots are kept (Storage): btrfs subvolumes where the vdir root is on btrfs and btrfs-progs is installed, else directories.</summary>
    private static HostCheck GuestStore(string vdirRoot)
    {
        var onBtrfs = Storage.Btrfs.IsBtrfs(Storage.FileSystems.NearestExisting(vdirRoot));
        return Storage.Btrfs.KindFor(vdirRoot) == Storage.StorageKind.Btrfs
            ? new HostCheck("guest store", CheckStatus.Pass, $"Btrfs: {vdirRoot} is on btrfs; each new guest's root is a subvolume, a Clone of a guest is a snapshot")
            : new HostCheck("guest store", onBtrfs ? CheckStatus.Warn : CheckStatus.Pass, onBtrfs
                ? $"Directory: {vdirRoot} is on btrfs, but btrfs (Debian package 'btrfs-progs') is not installed: guest roots are plain directories"
                : $"Directory: guest roots under {vdirRoot} are plain directories (subvolumes and snapshots need a vdir root on btrfs)");
    }

    /// <summary>Whether files in the vdir root can share extents: a real FICLONE between two hidden scratch files, removed again.</summary>
    private static HostCheck Reflink(string vdirRoot)
    {
        var dir = Storage.FileSystems.NearestExisting(vdirRoot);
        var a = Path.Combine(dir, ".vserver-testme-" + Guid.NewGuid().ToString("N")[..8]);
        var b = a + ".clone";
        int fa = -1, fb = -1;
        try
        {
            var probe = Sys.Open(dir, Sys.O_PATH_ | Sys.O_DIRECTORY_);
            var fs = Sys.FileSystemName(Sys.FStatFs(probe, dir).Type);
            Sys.Close(probe);
            File.WriteAllBytes(a, new byte[4096]);
            fa = Sys.Open(a, Sys.O_RDONLY_);
            fb = Sys.Open(b, Sys.O_WRONLY_ | Sys.O_CREAT_ | Sys.O_EXCL_, 0x180);
            var errno = Sys.Clone(fb, fa);
            return errno == 0
                ? new HostCheck("reflink", CheckStatus.Pass, $"{dir} is on {fs}, which shares extents: Invoke-VServerUnify and instant clones work")
                : new HostCheck("reflink", CheckStatus.Warn, $"{dir} is on {fs}, which cannot share extents ({Errno.Name(errno)}): unification needs XFS with reflink or btrfs; clones are full copies");
        }
        catch (Exception e) when (e is VServerException or IOException or UnauthorizedAccessException)
        {
            return new HostCheck("reflink", CheckStatus.Warn, $"{dir}: {e.Message}");
        }
        finally
        {
            Sys.Close(fa);
            Sys.Close(fb);
            File.Delete(a);
            File.Delete(b);
        }
    }

    /// <summary>veth, bridge and ipvlan links made for real inside a scratch network namespace (through <see cref="Ip"/>), which is then deleted.</summary>
    private static List<HostCheck> Links(bool root)
    {
        var kinds = new[] { "veth", "bridge", "ipvlan", "macvlan" };
        if (!root || HostProcess.Find("ip") is null)
        {
            return kinds.Select(k => new HostCheck(k, CheckStatus.Warn, root ? "not tested: iproute2 is missing" : "not tested: needs root")).ToList();
        }
        var ns = "vs-testme-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            Ip.Run("netns", "add", ns);
        }
        catch (VServerException e)
        {
            return kinds.Select(k => new HostCheck(k, CheckStatus.Fail, "cannot make a network namespace to test in: " + e.Message)).ToList();
        }
        try
        {
            // veth and a bridge carry the default network mode; ipvlan only its own mode
            var tries = new (string Kind, string[] Args, CheckStatus Missing, string Means)[]
            {
                ("veth", new[] { "-n", ns, "link", "add", "vt0", "type", "veth", "peer", "name", "vt1" }, CheckStatus.Fail, "guests with addresses cannot start in Bridge mode"),
                ("bridge", new[] { "-n", ns, "link", "add", "vtbr", "type", "bridge" }, CheckStatus.Fail, "guests with addresses cannot start in Bridge mode"),
                ("ipvlan", new[] { "-n", ns, "link", "add", "link", "vt0", "name", "vtiv", "type", "ipvlan", "mode", "l2" }, CheckStatus.Warn, "-NetworkMode IPvlan cannot work"),
                ("macvlan", new[] { "-n", ns, "link", "add", "link", "vt0", "name", "vtmv", "type", "macvlan", "mode", "bridge" }, CheckStatus.Warn, "-NetworkMode Macvlan cannot work"),
            };
            var result = new List<HostCheck>();
            foreach (var (kind, args, missing, means) in tries)
            {
                try
                {
                    Ip.Run(args);
                    result.Add(new HostCheck(kind, CheckStatus.Pass, "a test link was made"));
                }
                catch (VServerException e)
                {
                    result.Add(new HostCheck(kind, missing, $"{means}: {e.Message}"));
                }
            }
            return result;
        }
        finally
        {
            Ip.TryRun("netns", "delete", ns);
        }
    }
}
