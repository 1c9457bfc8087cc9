using System.Diagnostics;
using System.Globalization;
using System.Text;
using VServer.Config;
using VServer.Native;

namespace VServer.Runtime;

/// <summary>
/// A private-users guest's user namespace for one start: made before anything else of the start
/// (with the network namespace it owns, so the guest's root may mount sysfs and set its network's
/// sysctls there), then used three ways: the guest's root is mounted idmapped through it (the
/// tree on disk keeps ids 0 … 65535, so Clone, Template, Archive, Export and Unify work on it
/// unchanged and extents stay shared between guests with different ranges), it is pinned in the
/// run directory for the runtime to join by path, and the network namespace is named vs-NAME.
/// </summary>
public sealed class GuestUsers : IDisposable
{
    private GuestUsers(IdRange range, int userFd, int netFd)
    {
        Range = range;
        UserFd = userFd;
        NetFd = netFd;
    }

    public IdRange Range { get; }

    /// <summary>The user namespace (a descriptor, closed by Dispose).</summary>
    public int UserFd { get; }

    /// <summary>The network namespace it owns; -1 when none was asked for (Host mode).</summary>
    public int NetFd { get; }

    /// <summary>
    /// Makes the user namespace (and a network namespace it owns): vserver-ns (else util-linux's unshare) holds them
    /// while VServer writes the mapping as the host's root does for a child (uid_map, gid_map: one
    /// line, <c>0 FIRST COUNT</c>) and opens them; then it ends. A thread of this process cannot
    /// make a user namespace (the kernel refuses one to a process with threads).
    /// </summary>
    public static GuestUsers Create(IdRange range, bool network)
    {
        if (range.IsPending)
        {
            throw new ArgumentException("the range is not handed out yet", nameof(range));
        }
        // vserver-ns hold (shipped beside the vserver command), else util-linux's unshare and a shell:
        // either says when the namespaces exist, then waits for its input to end
        var helper = GuestRuntime.CompanionProgram(OciRuntime.NamespaceHelper);
        var program = helper ?? HostProcess.Find("unshare") ?? throw new VServerException("UnshareNotFound", ErrorKind.NotInstalled,
            "unshare (Debian package 'util-linux') is not installed; a guest with private users needs it.", "unshare");
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var args = helper is not null
            ? (network ? new[] { "hold", "--net" } : new[] { "hold" })
            : (network ? new[] { "--user", "--net" } : new[] { "--user" }).Concat(new[] { "--", "/bin/sh", "-c", "echo ready; read _" });
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        HostProcess.Traced(program, psi.ArgumentList); // vserver --debug lists it
        using var p = Process.Start(psi) ?? throw new VServerException("UserNamespaceFailed", ErrorKind.InvalidOperation, $"{Path.GetFileName(program)} did not start.", null);
        int userFd = -1, netFd = -1;
        try
        {
            if (p.StandardOutput.ReadLine() != "ready")
            {
                p.WaitForExit(2000);
                throw new VServerException("UserNamespaceFailed", ErrorKind.InvalidOperation,
                    $"{Path.GetFileName(program)} could not make a user namespace: {p.StandardError.ReadToEnd().Trim()} (is /proc/sys/user/max_user_namespaces 0?)", null);
            }
            var pid = p.Id.ToString(CultureInfo.InvariantCulture);
            var line = Encoding.ASCII.GetBytes(range.ToMapLine() + "\n");
            foreach (var map in new[] { "uid_map", "gid_map" })
            {
                var fd = Sys.Open($"/proc/{pid}/{map}", Sys.O_WRONLY_);
                try
                {
                    Sys.WriteAll(fd, line, $"/proc/{pid}/{map}"); // one write, as the kernel wants it
                }
                finally
                {
                    Sys.Close(fd);
                }
            }
            userFd = Sys.Open($"/proc/{pid}/ns/user", Sys.O_RDONLY_);
            if (network)
            {
                netFd = Sys.Open($"/proc/{pid}/ns/net", Sys.O_RDONLY_);
            }
            return new GuestUsers(range, userFd, netFd);
        }
        catch
        {
            if (userFd >= 0) Sys.Close(userFd);
            if (netFd >= 0) Sys.Close(netFd);
            throw;
        }
        finally
        {
            try
            {
                p.StandardInput.Close();
                if (!p.WaitForExit(2000))
                {
                    p.Kill();
                    p.WaitForExit();
                }
            }
            catch (InvalidOperationException)
            {
                // it ended already
            }
        }
    }

    private static readonly Dictionary<string, string?> Probed = new(StringComparer.Ordinal);

    /// <summary>
    /// Why guests whose roots lie under <paramref name="path"/> cannot have private users here, or
    /// null when they can: a user namespace is made for real and the filesystem is asked for an
    /// idmapped mount that is never attached. Asked once per filesystem and process.
    /// </summary>
    public static string? WhyNot(string path)
    {
        var max = File.Exists("/proc/sys/user/max_user_namespaces") ? File.ReadAllText("/proc/sys/user/max_user_namespaces").Trim() : "0";
        if (max == "0")
        {
            return "user namespaces are off (/proc/sys/user/max_user_namespaces is 0)";
        }
        var at = Storage.FileSystems.NearestExisting(path);
        var key = Sys.Dev(Sys.FStatAt(Sys.AT_FDCWD, at, 0)).ToString(CultureInfo.InvariantCulture);
        lock (Probed)
        {
            if (Probed.TryGetValue(key, out var known))
            {
                return known;
            }
            string? why = null;
            try
            {
                using var users = Create(new IdRange(IdRange.PoolStart, IdRange.Size), network: false);
                Sys.MountIdmapped(at, "", users.UserFd);
            }
            catch (VServerException e)
            {
                why = $"{at} ({Storage.FileSystems.NameOf(at)}) takes no idmapped mount ({e.Message})";
            }
            Probed[key] = why;
            return why;
        }
    }

    /// <summary>
    /// A new guest's private users when its maker gave no choice (<paramref name="given"/> says
    /// nothing of them; New-VServerGuest and <c>vserver build</c> alike): on (handed out at the
    /// create) where this host can run them under the guest's root directory, else off with a
    /// warning that says why.
    /// </summary>
    public static void ApplyDefault(GuestConfig config, GuestSettings given, Storage.GuestStore store, IOperationReporter reporter)
    {
        if (given.PrivateUsers is not null || config.PrivateUsers is not null)
        {
            return;
        }
        if (WhyNot(Path.GetDirectoryName(store.RootOf(config))!) is string why)
        {
            reporter.Warning($"Guest '{config.Name}' gets host root as its root (no private users): {why}.");
            return;
        }
        config.PrivateUsers = IdRange.Pending;
    }

    /// <summary>
    /// Mounts the guest's root idmapped on <paramref name="target"/> (an empty directory) and pins the
    /// user namespace on <paramref name="pinFile"/>. A filesystem without idmapped mounts is named in
    /// a PrivateUsersNotSupported error; nothing stays mounted on a failure.
    /// </summary>
    /// <param name="template">A Template guest's template: its root is then an overlay of the template and
    /// <c>ROOT.layers</c>, each mounted idmapped beside <paramref name="target"/> (<c>lower</c>, <c>layers</c>),
    /// made by a mounter with the guest root's ids, as overlayfs on idmapped layers needs.</param>
    public void MountRoot(string guest, string root, string target, string pinFile, string? template = null)
    {
        // /run/vserver-users and INSTALLATION (anyone may pass, nobody may list) / ID (the guest's root uid's, 0700) / root
        var own = Path.GetDirectoryName(target)!;
        foreach (var passable in new[] { Path.GetDirectoryName(Path.GetDirectoryName(own)!)!, Path.GetDirectoryName(own)! })
        {
            Directory.CreateDirectory(passable);
            File.SetUnixFileMode(passable, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }
        Directory.CreateDirectory(own);
        var fd = Sys.Open(own, Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_);
        try
        {
            Sys.FChown(fd, (int)Range.First, (int)Range.First, own);
            Sys.FChmod(fd, 0x1C0, own); // 0700
        }
        finally
        {
            Sys.Close(fd);
        }
        Directory.CreateDirectory(target);
        try
        {
            if (template is null)
            {
                Sys.MountIdmapped(root, target, UserFd);
            }
            else
            {
                MountOverlay(guest, root, template, target);
            }
        }
        catch (SyscallException e) when (e.Syscall.StartsWith("mount_setattr", StringComparison.Ordinal) && e.ErrnoValue is Errno.EINVAL or Errno.EPERM or Errno.EOPNOTSUPP)
        {
            throw new VServerException("PrivateUsersNotSupported", ErrorKind.InvalidOperation,
                $"Guest '{guest}' cannot run with private users: its root {root} is on {Storage.FileSystems.NameOf(root)}, where this kernel makes no idmapped mount ({e.Message}). Turn them off (Set-VServerGuest {guest} -PrivateUsers:$false) or keep the guest on XFS, btrfs, ext4 or tmpfs.", guest);
        }
        try
        {
            File.WriteAllBytes(pinFile, Array.Empty<byte>());
            Sys.BindNamespace(UserFd, pinFile);
        }
        catch
        {
            Sys.Unmount(target);
            throw;
        }
    }

    /// <summary>Where a private-users Template guest's idmapped template and layers are mounted, beside its root.</summary>
    public static (string Lower, string Layers) OverlayLayersBeside(string target) =>
        (Path.Combine(Path.GetDirectoryName(target)!, "lower"), Path.Combine(Path.GetDirectoryName(target)!, "layers"));

    private void MountOverlay(string guest, string root, string template, string target)
    {
        var (lower, layers) = OverlayLayersBeside(target);
        Directory.CreateDirectory(lower);
        Directory.CreateDirectory(layers);
        try
        {
            Sys.MountIdmapped(Config.Validate.TemplateDirectory(template), lower, UserFd);
            Sys.MountIdmapped(Storage.TemplateLayers.LayersOf(root), layers, UserFd);
            var upper = Path.Combine(layers, Path.GetFileName(Storage.TemplateLayers.UpperOf(root)));
            var work = Path.Combine(layers, Path.GetFileName(Storage.TemplateLayers.WorkOf(root)));
            Sys.MountOverlayAs((uint)Range.First, target, $"lowerdir={lower},upperdir={upper},workdir={work}");
        }
        catch (Exception e)
        {
            Sys.Unmount(lower);
            Sys.Unmount(layers);
            if (e is SyscallException { Syscall: "mount" })
            {
                throw new VServerException("TemplateMountFailed", ErrorKind.InvalidOperation,
                    $"Guest '{guest}': mounting its overlay root on the idmapped template {template} failed: {e.Message}", guest, e);
            }
            throw;
        }
    }

    /// <summary>
    /// Gives the guest's root the cgroup directories the runtime made for it (the payload: the one
    /// its cgroup namespace shows as /), and the files that move processes there, so systemd inside
    /// can make its own tree as it does on a host. The limits sit one level above, still host root's.
    /// </summary>
    public static void DelegateCgroup(string payloadCgroup, IdRange range)
    {
        foreach (var dir in Cgroups.Existing(payloadCgroup))
        {
            var fd = Sys.Open(dir, Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_);
            try
            {
                Sys.FChown(fd, (int)range.First, (int)range.First, dir);
                foreach (var f in new[] { "cgroup.procs", "tasks", "cgroup.clone_children", "cgroup.subtree_control", "cgroup.threads" })
                {
                    Sys.FChownAtIfExists(fd, f, (int)range.First, (int)range.First, dir + "/" + f);
                }
            }
            finally
            {
                Sys.Close(fd);
            }
        }
    }

    public void Dispose()
    {
        Sys.Close(UserFd);
        if (NetFd >= 0)
        {
            Sys.Close(NetFd);
        }
    }
}
