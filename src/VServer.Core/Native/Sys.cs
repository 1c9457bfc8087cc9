using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace VServer.Native;

/// <summary>
/// The only place Tmds.LibC is called. Every wrapper retries on EINTR and throws a
/// <see cref="SyscallException"/> naming the call, the path and the errno.
/// </summary>
internal static unsafe partial class Sys
{
    public const int AT_FDCWD = -100;
    public const int AT_REMOVEDIR = 0x200;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;

    public static int LastErrno => Marshal.GetLastPInvokeError() is var e && e != 0 ? e : errno;

    private static byte[] Z(string s)
    {
        if (s.IndexOf('\0') >= 0)
        {
            throw new VServerException("InvalidPath", ErrorKind.InvalidArgument, $"Path '{s.Replace("\0", "\\0")}' contains a NUL byte.", s);
        }
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
        return bytes;
    }

    private static int Check(int rc, string call, string? path)
    {
        if (rc < 0)
        {
            throw new SyscallException(call, path, errno);
        }
        return rc;
    }

    public static int Open(string path, int flags, int mode = 0)
    {
        var p = Z(path);
        fixed (byte* pp = p)
        {
            int rc;
            do { rc = open(pp, flags | O_CLOEXEC, (mode_t)mode); } while (rc < 0 && errno == EINTR);
            return Check(rc, "open", path);
        }
    }

    public static int OpenAt(int dirfd, string path, int flags, int mode = 0, string? display = null)
    {
        var p = Z(path);
        fixed (byte* pp = p)
        {
            int rc;
            do { rc = openat(dirfd, pp, flags | O_CLOEXEC, (mode_t)mode); } while (rc < 0 && errno == EINTR);
            return Check(rc, "openat", display ?? path);
        }
    }

    /// <summary>
    /// openat2(2): resolution rules (RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS …) enforced by the kernel.
    /// EAGAIN is retried: with RESOLVE_IN_ROOT or RESOLVE_BENEATH the kernel gives it when any rename
    /// or mount anywhere on the host raced the lookup (it cannot then prove a ".." stayed inside), which
    /// many guests starting at once make common; the man page asks the caller to try again.
    /// </summary>
    public static int OpenAt2(int dirfd, string path, int flags, ulong resolve, int mode = 0, string? display = null)
    {
        var p = Z(path);
        var how = new open_how { flags = (ulong)(flags | O_CLOEXEC), mode = (ulong)mode, resolve = resolve };
        fixed (byte* pp = p)
        {
            int rc;
            var again = 0;
            while (true)
            {
                rc = openat2(dirfd, pp, &how, (size_t)sizeof(open_how));
                if (rc >= 0 || (errno != EINTR && (errno != EAGAIN || ++again > 1000)))
                {
                    break;
                }
                if (errno == EAGAIN && again % 16 == 0)
                {
                    Thread.Yield(); // let the renames that race it finish
                }
            }
            return Check(rc, "openat2", display ?? path);
        }
    }

    public static void Close(int fd)
    {
        if (fd >= 0)
        {
            close(fd);
        }
    }

    /// <summary>mkdirat; returns false when the entry already exists.</summary>
    public static bool MkdirAt(int dirfd, string name, int mode, string? display = null)
    {
        var p = Z(name);
        fixed (byte* pp = p)
        {
            int rc = mkdirat(dirfd, pp, (mode_t)mode);
            if (rc < 0 && errno == EEXIST)
            {
                return false;
            }
            Check(rc, "mkdirat", display ?? name);
            return true;
        }
    }

    public static void MknodAt(int dirfd, string name, int mode, ulong dev, string? display = null)
    {
        var p = Z(name);
        fixed (byte* pp = p)
        {
            Check(mknodat(dirfd, pp, (mode_t)mode, (dev_t)dev), "mknodat", display ?? name);
        }
    }

    /// <summary>A FIFO at <paramref name="path"/> (mkfifo(3): mknod with S_IFIFO).</summary>
    public static void Mkfifo(string path, int mode) => MknodAt(AT_FDCWD, path, 0x1000 | mode, 0);

    public static void SymlinkAt(string target, int dirfd, string name, string? display = null)
    {
        var t = Z(target);
        var p = Z(name);
        fixed (byte* tp = t)
        fixed (byte* pp = p)
        {
            Check(symlinkat(tp, dirfd, pp), "symlinkat", display ?? name);
        }
    }

    public static void UnlinkAt(int dirfd, string name, int flags, string? display = null)
    {
        var p = Z(name);
        fixed (byte* pp = p)
        {
            Check(unlinkat(dirfd, pp, flags), "unlinkat", display ?? name);
        }
    }

    public static stat FStatAt(int dirfd, string name, int flags, string? display = null)
    {
        var p = Z(name);
        stat st;
        fixed (byte* pp = p)
        {
            Check(fstatat(dirfd, pp, &st, flags), "fstatat", display ?? name);
        }
        return st;
    }

    public static stat FStat(int fd, string? display = null)
    {
        stat st;
        Check(fstat(fd, &st), "fstat", display);
        return st;
    }

    /// <summary>fchmodat without following a final symlink target's link (AT_SYMLINK_NOFOLLOW is not supported by Linux; callers only use it on entries they just created).</summary>
    public static void FChmodAt(int dirfd, string name, int mode, string? display = null)
    {
        var p = Z(name);
        fixed (byte* pp = p)
        {
            Check(fchmodat(dirfd, pp, (mode_t)mode, 0), "fchmodat", display ?? name);
        }
    }

    public static void FChmod(int fd, int mode, string? display = null) => Check(fchmod(fd, (mode_t)mode), "fchmod", display);

    public static void FChown(int fd, int uid, int gid, string? display = null) => Check(fchown(fd, (uid_t)(uint)uid, (gid_t)(uint)gid), "fchown", display);

    /// <summary>fchownat of an entry of <paramref name="dirfd"/>, never following a symlink; false when there is no such entry.</summary>
    public static bool FChownAtIfExists(int dirfd, string name, int uid, int gid, string? display = null)
    {
        var p = Z(name);
        fixed (byte* pp = p)
        {
            if (fchownat(dirfd, pp, (uid_t)(uint)uid, (gid_t)(uint)gid, AT_SYMLINK_NOFOLLOW) == 0)
            {
                return true;
            }
        }
        var e = Marshal.GetLastPInvokeError() is var x && x != 0 ? x : errno;
        return e == ENOENT ? false : throw new SyscallException("fchownat", display ?? name, e);
    }

    public static void FSync(int fd, string? display = null)
    {
        int rc;
        do { rc = fsync(fd); } while (rc < 0 && errno == EINTR);
        Check(rc, "fsync", display);
    }

    public static void WriteAll(int fd, ReadOnlySpan<byte> data, string? display = null)
    {
        fixed (byte* d = data)
        {
            long off = 0;
            while (off < data.Length)
            {
                var n = (long)write(fd, d + off, (size_t)(int)(data.Length - off));
                if (n < 0)
                {
                    if (errno == EINTR)
                    {
                        continue;
                    }
                    throw new SyscallException("write", display, errno);
                }
                off += n;
            }
        }
    }

    public static int Read(int fd, Span<byte> buffer, string? display = null)
    {
        fixed (byte* b = buffer)
        {
            while (true)
            {
                var n = (long)read(fd, b, (size_t)buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                if (errno != EINTR)
                {
                    throw new SyscallException("read", display, errno);
                }
            }
        }
    }

    /// <summary>posix_fadvise(POSIX_FADV_WILLNEED) on the whole file: the kernel starts reading it ahead (advice only; errors are ignored).</summary>
    public static void WillNeed(int fd) => posix_fadvise(fd, 0, 0, 3 /* POSIX_FADV_WILLNEED */);

    /// <summary>Blocking exclusive open-file-description lock (F_OFD_SETLKW) on the whole file.</summary>
    public static void LockExclusive(int fd, string? display = null)
    {
        var fl = new flock { l_type = (short)F_WRLCK, l_whence = 0, l_start = 0, l_len = 0, l_pid = 0 };
        int rc;
        do { rc = fcntl(fd, F_OFD_SETLKW, &fl); } while (rc < 0 && errno == EINTR);
        Check(rc, "fcntl(F_OFD_SETLKW)", display);
    }

    public static uint GetEuid() => (uint)geteuid();

    /// <summary>A pipe whose both ends are close-on-exec: (read end, write end).</summary>
    public static (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        Check(pipe2(fds, O_CLOEXEC), "pipe2", null);
        return (fds[0], fds[1]);
    }

    /// <summary>Sets or clears FD_CLOEXEC, so a child started now inherits (or not) this descriptor.</summary>
    public static void SetInheritable(int fd, bool inheritable)
    {
        Check(fcntl(fd, F_SETFD, inheritable ? 0 : FD_CLOEXEC), "fcntl(F_SETFD)", null);
    }

    /// <summary>
    /// An anonymous in-memory file (memfd_create, close-on-exec) holding <paramref name="content"/>:
    /// a file handed to a child by descriptor (<c>/proc/self/fd/N</c>), with nothing written to disk.
    /// </summary>
    public static int MemoryFile(string name, ReadOnlySpan<byte> content)
    {
        var fd = sys_memfd_create(name, 1 /* MFD_CLOEXEC */);
        if (fd < 0)
        {
            throw new SyscallException("memfd_create", name, Marshal.GetLastPInvokeError());
        }
        try
        {
            WriteAll(fd, content, name);
            return fd;
        }
        catch
        {
            Close(fd);
            throw;
        }
    }

    /// <summary>execv(2): replaces this process with the program; returns only by throwing.</summary>
    public static void Exec(string path, IReadOnlyList<string> args)
    {
        var argv = new IntPtr[args.Count + 2];
        try
        {
            argv[0] = Marshal.StringToCoTaskMemUTF8(path);
            for (var i = 0; i < args.Count; i++)
            {
                argv[i + 1] = Marshal.StringToCoTaskMemUTF8(args[i]);
            }
            // what .NET ignores (SIGPIPE) or blocks would stay so across execv: the program starts
            // with every signal at its default and none blocked, as a child .NET starts does
            for (var sig = 1; sig < 65; sig++)
            {
                if (sig is not (9 or 19 or 32 or 33))
                {
                    sys_signal(sig, IntPtr.Zero /* SIG_DFL */);
                }
            }
            UnblockAllSignals();
            fixed (IntPtr* a = argv)
            {
                sys_execv(argv[0], a);
            }
            throw new SyscallException("execv", path, Marshal.GetLastPInvokeError());
        }
        finally
        {
            foreach (var p in argv)
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }

    [DllImport("libc", EntryPoint = "memfd_create", SetLastError = true)]
    private static extern int sys_memfd_create([MarshalAs(UnmanagedType.LPUTF8Str)] string name, uint flags);

    [DllImport("libc", EntryPoint = "signal", SetLastError = true)]
    private static extern IntPtr sys_signal(int sig, IntPtr handler);

    [DllImport("libc", EntryPoint = "execv", SetLastError = true)]
    private static extern int sys_execv(IntPtr path, IntPtr* argv);

    /// <summary>
    /// Whether <paramref name="fd"/> reports POLLPRI or POLLERR now (poll(2) without waiting). On an
    /// open /proc/PID/mountinfo the kernel raises them once for each change of the namespace's mounts.
    /// </summary>
    public static bool PollPriority(int fd) => (Poll(fd, 0x2 /* POLLPRI */, 0) & (0x2 | 0x8 /* POLLERR */)) != 0;

    /// <summary>Whether <paramref name="fd"/> can be read (data, or its end) within <paramref name="milliseconds"/>.</summary>
    public static bool PollReadable(int fd, int milliseconds) => Poll(fd, 0x1 /* POLLIN */, milliseconds) != 0;

    /// <summary>poll(2) of one descriptor: the events it reports (0: none within <paramref name="milliseconds"/>).</summary>
    private static short Poll(int fd, short events, int milliseconds)
    {
        var p = new PollFd { Fd = fd, Events = events };
        int rc;
        do { rc = sys_poll(&p, 1, milliseconds); } while (rc < 0 && LastErrno == EINTR);
        if (rc < 0)
        {
            throw new SyscallException("poll", null, LastErrno);
        }
        return rc == 0 ? (short)0 : p.Revents;
    }

    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    // Tmds.LibC 0.5 has no poll(2)
    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static extern int sys_poll(PollFd* fds, ulong nfds, int timeout);

    // Tmds.LibC 0.5 has no kill(2) or setpriority(2); these two come straight from libc.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int sys_kill(int pid, int sig);

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int sys_setpriority(int which, uint who, int prio);

    /// <summary>kill(pid, 0): whether the process exists (EPERM counts as existing).</summary>
    public static bool ProcessExists(int pid) => pid > 0 && (sys_kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == EPERM);

    /// <summary>
    /// Clears the calling thread's signal mask. conmon runs its exit command with SIGCHLD blocked;
    /// .NET learns that its children ended from SIGCHLD, so the exit hook must unblock it first.
    /// </summary>
    public static void UnblockAllSignals()
    {
        sigset_t set;
        sigemptyset(&set);
        Check(sigprocmask(SIG_SETMASK, &set, null), "sigprocmask", null);
    }

    /// <summary>kill(pid, sig); false when the process is already gone.</summary>
    public static bool Signal(int pid, int sig)
    {
        if (pid <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pid));
        }
        if (sys_kill(pid, sig) == 0)
        {
            return true;
        }
        var e = Marshal.GetLastPInvokeError();
        return e == ESRCH ? false : throw new SyscallException("kill", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), e);
    }

    /// <summary>setpriority(PRIO_PROCESS, pid, nice).</summary>
    public static void SetNice(int pid, int nice)
    {
        if (sys_setpriority(0 /* PRIO_PROCESS */, (uint)pid, nice) < 0)
        {
            throw new SyscallException("setpriority", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// Reads a whole small file (a /proc entry) into <paramref name="buffer"/>, growing it when
    /// full. Returns the length, or -1 when the file is gone or unreadable (ENOENT, ESRCH, EACCES…):
    /// a process that exits while it is read is not an error.
    /// </summary>
    public static int TryReadSmallFile(string path, ref byte[] buffer, int limit = 1 << 20)
    {
        var p = Z(path);
        int fd;
        fixed (byte* pp = p)
        {
            do { fd = open(pp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); } while (fd < 0 && errno == EINTR);
        }
        if (fd < 0)
        {
            return -1;
        }
        try
        {
            var total = 0;
            while (true)
            {
                if (total == buffer.Length)
                {
                    if (buffer.Length >= limit)
                    {
                        return total; // a truncated read of an oversized file
                    }
                    var larger = GC.AllocateUninitializedArray<byte>(Math.Min(limit, buffer.Length * 2));
                    buffer.AsSpan(0, total).CopyTo(larger);
                    buffer = larger;
                }
                long n;
                fixed (byte* b = &buffer[total])
                {
                    do { n = (long)read(fd, b, (size_t)(buffer.Length - total)); } while (n < 0 && errno == EINTR);
                }
                if (n < 0)
                {
                    return -1; // ESRCH: the process went away between open and read
                }
                if (n == 0)
                {
                    return total;
                }
                total += (int)n;
            }
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>sysconf(_SC_CLK_TCK): the unit of the times in /proc/PID/stat.</summary>
    public static long ClockTicksPerSecond()
    {
        var t = (long)sysconf(2 /* _SC_CLK_TCK in glibc; Tmds.LibC does not name it */);
        return t > 0 ? t : 100;
    }

    [DllImport("libc", EntryPoint = "pidfd_open", SetLastError = true)]
    private static extern int sys_pidfd_open(int pid, uint flags);

    [DllImport("libc", EntryPoint = "pidfd_send_signal", SetLastError = true)]
    private static extern int sys_pidfd_send_signal(int pidfd, int sig, IntPtr info, uint flags);

    /// <summary>pidfd_open(2): a descriptor that names this one process for as long as it is held; -1 when the pid does not exist.</summary>
    public static int PidfdOpen(int pid)
    {
        var fd = sys_pidfd_open(pid, 0);
        if (fd >= 0)
        {
            Check(fcntl(fd, F_SETFD, FD_CLOEXEC), "fcntl(F_SETFD)", null);
            return fd;
        }
        var e = Marshal.GetLastPInvokeError();
        return e == ESRCH ? -1 : throw new SyscallException("pidfd_open", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), e);
    }

    /// <summary>pidfd_send_signal(2); false when the process has exited (signal 0 only tests that).</summary>
    public static bool PidfdSignal(int pidfd, int sig, string display)
    {
        if (sys_pidfd_send_signal(pidfd, sig, IntPtr.Zero, 0) == 0)
        {
            return true;
        }
        var e = Marshal.GetLastPInvokeError();
        return e == ESRCH ? false : throw new SyscallException("pidfd_send_signal", display, e);
    }

    /// <summary>makedev(3) as glibc encodes it.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) |
        ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    public static int O_RDONLY_ => O_RDONLY;
    public static int O_WRONLY_ => O_WRONLY;
    public static int O_NONBLOCK_ => O_NONBLOCK;
    public static int O_RDWR_ => O_RDWR;
    public static int O_CREAT_ => O_CREAT;
    public static int O_EXCL_ => O_EXCL;
    public static int O_TRUNC_ => O_TRUNC;
    public static int O_NOFOLLOW_ => O_NOFOLLOW;
    public static int O_DIRECTORY_ => O_DIRECTORY;
    public static int O_PATH_ => O_PATH;
    public static int O_NOATIME_ => 0x40000; // <asm-generic/fcntl.h>; x86, arm and arm64 alike
    public static ulong RESOLVE_IN_ROOT_ => (ulong)RESOLVE_IN_ROOT;
    public static ulong RESOLVE_NO_SYMLINKS_ => (ulong)RESOLVE_NO_SYMLINKS;
    public static ulong RESOLVE_NO_MAGICLINKS_ => (ulong)RESOLVE_NO_MAGICLINKS;
    public static ulong RESOLVE_NO_XDEV_ => (ulong)RESOLVE_NO_XDEV;
    public static ulong RESOLVE_BENEATH_ => (ulong)RESOLVE_BENEATH;

    public static bool IsDir(in stat st) => ((uint)st.st_mode & 0xF000) == 0x4000;
    public static bool IsLink(in stat st) => ((uint)st.st_mode & 0xF000) == 0xA000;
    public static ulong Dev(in stat st) => (ulong)st.st_dev;
}
