using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace VServer.Native;

/// <summary>
/// What a guest with private users needs of the kernel: an idmapped mount of its root (open_tree,
/// mount_setattr with MOUNT_ATTR_IDMAP, move_mount: glibc 2.36's wrappers), a namespace pinned by
/// a bind of its descriptor, and setns.
/// </summary>
internal static unsafe partial class Sys
{
    private const uint OPEN_TREE_CLONE_ = 1, AT_EMPTY_PATH_ = 0x1000, AT_SYMLINK_NOFOLLOW_ = 0x100, AT_NO_AUTOMOUNT_ = 0x800;
    private const uint MOVE_MOUNT_F_EMPTY_PATH_ = 0x4;
    private const ulong MOUNT_ATTR_IDMAP_ = 0x00100000;

    [StructLayout(LayoutKind.Sequential)]
    private struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClr;
        public ulong Propagation;
        public ulong UsernsFd;
    }

    [DllImport("libc", EntryPoint = "open_tree", SetLastError = true)]
    private static extern int sys_open_tree(int dirfd, string path, uint flags);

    [DllImport("libc", EntryPoint = "mount_setattr", SetLastError = true)]
    private static extern int sys_mount_setattr(int dirfd, string path, uint flags, MountAttr* attr, nuint size);

    [DllImport("libc", EntryPoint = "move_mount", SetLastError = true)]
    private static extern int sys_move_mount(int fromDirfd, string fromPath, int toDirfd, string toPath, uint flags);

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int sys_setns(int fd, int nstype);

    /// <summary>
    /// Mounts a copy of the directory <paramref name="source"/> (not what is mounted below it) on
    /// <paramref name="target"/>, its owners seen through the user namespace <paramref name="usernsFd"/>'s
    /// mapping: a file owned by uid N on disk shows as the host uid N maps to. The filesystem must
    /// support idmapped mounts (EINVAL otherwise).
    /// </summary>
    public static void MountIdmapped(string source, string target, int usernsFd)
    {
        var tree = sys_open_tree(AT_FDCWD, source, OPEN_TREE_CLONE_ | (uint)O_CLOEXEC | AT_SYMLINK_NOFOLLOW_ | AT_NO_AUTOMOUNT_);
        if (tree < 0)
        {
            throw new SyscallException("open_tree", source, Marshal.GetLastPInvokeError());
        }
        try
        {
            var attr = new MountAttr { AttrSet = MOUNT_ATTR_IDMAP_, UsernsFd = (ulong)usernsFd };
            if (sys_mount_setattr(tree, "", AT_EMPTY_PATH_, &attr, (nuint)sizeof(MountAttr)) < 0)
            {
                throw new SyscallException("mount_setattr(MOUNT_ATTR_IDMAP)", source, Marshal.GetLastPInvokeError());
            }
            if (target.Length > 0 && sys_move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH_) < 0)
            {
                throw new SyscallException("move_mount", target, Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            Close(tree); // a tree never moved is freed with its descriptor
        }
    }

    /// <summary>Pins the namespace <paramref name="nsFd"/> on the existing file <paramref name="target"/> (a bind, as ip netns does).</summary>
    public static void BindNamespace(int nsFd, string target)
    {
        if (sys_mount("/proc/self/fd/" + nsFd.ToString(System.Globalization.CultureInfo.InvariantCulture), target, "none", MS_BIND_, null) < 0)
        {
            throw new SyscallException("mount", target, Marshal.GetLastPInvokeError());
        }
    }

    [DllImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static extern int sys_prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [DllImport("libc", EntryPoint = "setfsuid", SetLastError = true)]
    private static extern int sys_setfsuid(uint fsuid);

    [DllImport("libc", EntryPoint = "setfsgid", SetLastError = true)]
    private static extern int sys_setfsgid(uint fsgid);

    private const int PR_SET_SECUREBITS_ = 28, SECBIT_NO_SETUID_FIXUP_ = 1 << 2;

    /// <summary>
    /// mount(2) of an overlay by a thread of its own whose filesystem ids are <paramref name="fsid"/>,
    /// capabilities kept (SECBIT_NO_SETUID_FIXUP; credentials are a thread's own on Linux). overlayfs
    /// does its work in the upper layer with its mounter's credentials: on an idmapped upper layer
    /// those ids must be mapped there, which host root's are not (EOVERFLOW, and a read-only overlay).
    /// </summary>
    public static void MountOverlayAs(uint fsid, string target, string options) => OnOwnThread(() =>
    {
        if (sys_prctl(PR_SET_SECUREBITS_, SECBIT_NO_SETUID_FIXUP_, 0, 0, 0) < 0)
        {
            throw new SyscallException("prctl(PR_SET_SECUREBITS)", target, Marshal.GetLastPInvokeError());
        }
        sys_setfsgid(fsid);
        sys_setfsuid(fsid);
        if (sys_setfsuid(uint.MaxValue) != (int)fsid) // asks without changing: the ids it has now
        {
            throw new VServerException("OverlayMountFailed", ErrorKind.InvalidOperation, $"setfsuid({fsid}) did not take for the overlay on {target}.", target);
        }
        Mount("overlay", target, "overlay", options);
    });

    /// <summary>setns(2) for the calling thread.</summary>
    public static void Setns(int fd, int nstype, string display)
    {
        if (sys_setns(fd, nstype) < 0)
        {
            throw new SyscallException("setns", display, Marshal.GetLastPInvokeError());
        }
    }
}
