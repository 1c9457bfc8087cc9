using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace VServer.Native;

/// <summary>Shared extents (FICLONE, FIDEDUPERANGE, FIEMAP), statfs and mount(2).</summary>
internal static unsafe partial class Sys
{
    // <linux/fs.h>: _IOW(0x94, 9, int), _IOWR(0x94, 54, struct file_dedupe_range), _IOWR('f', 11, struct fiemap)
    private const uint FICLONE = 0x40049409, FIDEDUPERANGE = 0xC0189436, FS_IOC_FIEMAP = 0xC020660B;

    public const int DedupeSame = 0, DedupeDiffers = 1;
    public const uint FiemapExtentLast = 0x1, FiemapExtentDelalloc = 0x4, FiemapExtentShared = 0x2000, FiemapExtentInline = 0x200, FiemapExtentUnknown = 0x2;

    [StructLayout(LayoutKind.Sequential)]
    private struct DedupeRange
    {
        public ulong SrcOffset;
        public ulong SrcLength;
        public ushort DestCount;
        public ushort Reserved1;
        public uint Reserved2;
        // one file_dedupe_range_info follows
        public long DestFd;
        public ulong DestOffset;
        public ulong BytesDeduped;
        public int Status;
        public uint Reserved;
    }

    /// <summary>FICLONE: makes <paramref name="destFd"/> share all of <paramref name="srcFd"/>'s extents. Returns the errno (0 on success).</summary>
    public static int Clone(int destFd, int srcFd)
    {
        int rc;
        do { rc = ioctl(destFd, unchecked((int)FICLONE), srcFd); } while (rc < 0 && errno == EINTR);
        return rc < 0 ? errno : 0;
    }

    /// <summary>
    /// FIDEDUPERANGE for one destination: the kernel compares the two ranges and, when they are
    /// the same, makes the destination share the source's extents, atomically. Returns
    /// (status, bytes deduplicated): status 0 same (shared now), 1 the bytes differ, else -errno.
    /// </summary>
    public static (int Status, long Bytes) Dedupe(int srcFd, long srcOffset, long length, int destFd, long destOffset)
    {
        var r = new DedupeRange
        {
            SrcOffset = (ulong)srcOffset,
            SrcLength = (ulong)length,
            DestCount = 1,
            DestFd = destFd,
            DestOffset = (ulong)destOffset,
        };
        int rc;
        do { rc = ioctl(srcFd, unchecked((int)FIDEDUPERANGE), &r); } while (rc < 0 && errno == EINTR);
        if (rc < 0)
        {
            return (-errno, 0);
        }
        return (r.Status, (long)r.BytesDeduped);
    }

    /// <summary>One extent as FIEMAP reports it.</summary>
    public readonly record struct Extent(long Logical, long Physical, long Length, uint Flags)
    {
        public bool Shared => (Flags & FiemapExtentShared) != 0;

        /// <summary>Placed on disk (not delayed allocation or otherwise unknown), so its physical address means something.</summary>
        public bool Allocated => (Flags & (FiemapExtentUnknown | FiemapExtentDelalloc)) == 0 && Physical != 0;
    }

    /// <summary>
    /// FS_IOC_FIEMAP over the whole file; null when the filesystem cannot map extents. With
    /// <paramref name="sync"/> dirty data is written out first, so delayed allocations show as real extents.
    /// </summary>
    public static List<Extent>? Fiemap(int fd, bool sync = true)
    {
        const int batch = 128;
        const int header = 32, extentSize = 56;
        var buffer = stackalloc byte[header + batch * extentSize];
        var result = new List<Extent>();
        ulong start = 0;
        while (true)
        {
            new Span<byte>(buffer, header + batch * extentSize).Clear();
            *(ulong*)buffer = start;                 // fm_start
            *(ulong*)(buffer + 8) = ulong.MaxValue;  // fm_length: to the end
            *(uint*)(buffer + 16) = sync ? 1u : 0u;  // fm_flags: FIEMAP_FLAG_SYNC
            *(uint*)(buffer + 24) = batch;           // fm_extent_count
            int rc;
            do { rc = ioctl(fd, unchecked((int)FS_IOC_FIEMAP), buffer); } while (rc < 0 && errno == EINTR);
            if (rc < 0)
            {
                var e = errno;
                return e == EOPNOTSUPP || e == ENOTTY || e == EINVAL ? null : throw new SyscallException("ioctl(FS_IOC_FIEMAP)", null, e);
            }
            var mapped = *(uint*)(buffer + 20);
            if (mapped == 0)
            {
                return result;
            }
            var last = false;
            for (var i = 0; i < mapped; i++)
            {
                var e = buffer + header + i * extentSize;
                var x = new Extent(*(long*)e, *(long*)(e + 8), *(long*)(e + 16), *(uint*)(e + 40));
                result.Add(x);
                last |= (x.Flags & FiemapExtentLast) != 0;
                start = (ulong)(x.Logical + x.Length);
            }
            if (last || mapped < batch)
            {
                return result;
            }
        }
    }

    [DllImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static extern int sys_fstatfs(int fd, long* buf);

    /// <summary>fstatfs(2): the filesystem's magic number and its block counts.</summary>
    public static (long Type, long BlockSize, long Blocks, long FreeBlocks) FStatFs(int fd, string? display = null)
    {
        var buf = stackalloc long[16]; // struct statfs on 64-bit Linux: 120 bytes
        if (sys_fstatfs(fd, buf) < 0)
        {
            throw new SyscallException("fstatfs", display, Marshal.GetLastPInvokeError());
        }
        return (buf[0], buf[1], buf[2], buf[3]);
    }

    [DllImport("libc", EntryPoint = "statfs", SetLastError = true)]
    private static extern int sys_statfs(string path, long* buf);

    /// <summary>statfs(2) by path (a symlink is followed): the filesystem's magic number and its mount's flags (f_flags).</summary>
    public static (long Type, long Flags) StatFs(string path)
    {
        var buf = stackalloc long[16]; // struct statfs on 64-bit Linux: 120 bytes
        if (sys_statfs(path, buf) < 0)
        {
            throw new SyscallException("statfs", path, Marshal.GetLastPInvokeError());
        }
        return (buf[0], buf[10]);
    }

    /// <summary>Whether the mount <paramref name="path"/> is on is read-only (statfs(2)'s f_flags has ST_RDONLY).</summary>
    public static bool IsReadOnlyMount(string path) => (StatFs(path).Flags & 1 /* ST_RDONLY */) != 0;

    /// <summary>A read-only bind mount of <paramref name="source"/> (not recursive) at <paramref name="target"/>: bind, then remount read-only; undone when the remount fails.</summary>
    public static void BindMountReadOnly(string source, string target)
    {
        const ulong MS_RDONLY = 1, MS_REMOUNT = 32, MS_BIND = 4096;
        if (sys_mount(source, target, "none", MS_BIND, null) < 0)
        {
            throw new SyscallException("mount", target, Marshal.GetLastPInvokeError());
        }
        if (sys_mount("none", target, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, null) < 0)
        {
            var e = Marshal.GetLastPInvokeError();
            sys_umount2(target, 2 /* MNT_DETACH */);
            throw new SyscallException("mount", target + " (read-only)", e);
        }
    }

    /// <summary>A filesystem magic number's name (statfs(2)).</summary>
    public static string FileSystemName(long magic) => magic switch
    {
        0x58465342 => "xfs",
        0x9123683E => "btrfs",
        0xEF53 => "ext4",
        0x01021994 => "tmpfs",
        0x794C7630 => "overlay",
        0x6969 => "nfs",
        0x2FC12FC1 => "zfs",
        0xCA451A4E => "bcachefs",
        0x65735546 => "fuse",
        0x7461636F => "ocfs2",
        0x9FA0 => "proc",
        0x62656572 => "sysfs",
        _ => "0x" + magic.ToString("x", System.Globalization.CultureInfo.InvariantCulture),
    };

    [DllImport("libc", EntryPoint = "mount", SetLastError = true)]
    private static extern int sys_mount(string source, string target, string fstype, ulong flags, string? data);

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int sys_rename(string from, string to);

    /// <summary>rename(2): replaces <paramref name="to"/> atomically, whatever <paramref name="from"/> is (a symlink to a directory included, which File.Move refuses).</summary>
    public static void Rename(string from, string to)
    {
        if (sys_rename(from, to) < 0)
        {
            throw new SyscallException("rename", from, Marshal.GetLastPInvokeError());
        }
    }

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr sys_realpath(string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void sys_free(IntPtr p);

    /// <summary>realpath(3): every symlink of the path followed (host-side paths the administrator set up only); null when it does not resolve.</summary>
    public static string? RealPath(string path)
    {
        var p = sys_realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero)
        {
            return null;
        }
        try
        {
            return Marshal.PtrToStringUTF8(p);
        }
        finally
        {
            sys_free(p);
        }
    }

    [DllImport("libc", EntryPoint = "umount2", SetLastError = true)]
    private static extern int sys_umount2(string target, int flags);

    public static void Mount(string source, string target, string fsType, string? data)
    {
        if (sys_mount(source, target, fsType, 0, data) < 0)
        {
            throw new SyscallException("mount", target, Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>umount2 with MNT_DETACH; false when nothing was mounted there.</summary>
    public static bool Unmount(string target)
    {
        if (sys_umount2(target, 2 /* MNT_DETACH */) == 0)
        {
            return true;
        }
        var e = Marshal.GetLastPInvokeError();
        return e == EINVAL || e == ENOENT ? false : throw new SyscallException("umount2", target, e);
    }
}
