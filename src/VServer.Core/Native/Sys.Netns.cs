using System.Runtime.InteropServices;
using static Tmds.Linux.LibC;

namespace VServer.Native;

/// <summary>
/// Named network namespaces made as iproute2's <c>ip netns add</c> makes them (so <c>ip netns</c>,
/// <c>ip -n</c> and <c>nsenter --net=</c> see them alike), without a process per start: the file
/// <c>/run/netns/NAME</c> a bind mount of a new namespace, <c>/run/netns</c> a shared mount so the
/// binds reach every mount namespace; and its loopback up.
/// </summary>
internal static unsafe partial class Sys
{
    private const ulong MS_BIND_ = 0x1000, MS_REC_ = 0x4000, MS_SHARED_ = 1 << 20;
    private const int CLONE_NEWNET_ = 0x40000000;
    private const ulong SIOCGIFFLAGS_ = 0x8913, SIOCSIFFLAGS_ = 0x8914;

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int sys_ioctl(int fd, ulong request, byte* arg);

    [DllImport("libc", EntryPoint = "unshare", SetLastError = true)]
    private static extern int sys_unshare(int flags);

    /// <summary>
    /// Makes the named network namespace <paramref name="dir"/>/<paramref name="name"/> with its
    /// loopback up; NetnsExists when the name is taken. With <paramref name="existingFd"/> the name
    /// is given to that namespace (one a guest's user namespace owns) instead of a new one.
    /// </summary>
    public static void NetnsAdd(string dir, string name, int existingFd = -1)
    {
        Directory.CreateDirectory(dir);
        // shared, so the bind below reaches mount namespaces made later (as ip does: a bind of itself first when it is no mount point)
        if (sys_mount("", dir, "none", MS_SHARED_ | MS_REC_, null) < 0)
        {
            var e = Marshal.GetLastPInvokeError();
            if (e != EINVAL || sys_mount(dir, dir, "none", MS_BIND_ | MS_REC_, null) < 0 || sys_mount("", dir, "none", MS_SHARED_ | MS_REC_, null) < 0)
            {
                throw new SyscallException("mount", dir, e != EINVAL ? e : Marshal.GetLastPInvokeError());
            }
        }
        var path = Path.Combine(dir, name);
        Close(Open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
        // a namespace is a thread's: a thread of its own enters it, pins it and ends
        try
        {
            OnOwnThread(() =>
            {
                if (existingFd >= 0)
                {
                    Setns(existingFd, CLONE_NEWNET_, name);
                }
                else if (sys_unshare(CLONE_NEWNET_) < 0)
                {
                    throw new SyscallException("unshare", "CLONE_NEWNET", Marshal.GetLastPInvokeError());
                }
                if (sys_mount("/proc/thread-self/ns/net", path, "none", MS_BIND_, null) < 0)
                {
                    throw new SyscallException("mount", path, Marshal.GetLastPInvokeError());
                }
                LoopbackUp();
            });
        }
        catch
        {
            NetnsDelete(path);
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a thread of its own, which then ends, and throws what it threw:
    /// for what changes the calling thread itself (its namespaces, its credentials) and must not
    /// stay with a thread of the pool.
    /// </summary>
    private static void OnOwnThread(Action work)
    {
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try
            {
                work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, 256 * 1024);
        t.Start();
        t.Join();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
    }

    /// <summary>Removes a named network namespace: its bind (detached) and its file; false when there was none.</summary>
    public static bool NetnsDelete(string path)
    {
        var existed = File.Exists(path);
        Unmount(path);
        if (existed)
        {
            File.Delete(path);
        }
        return existed;
    }

    /// <summary>IFF_UP on "lo" of the calling thread's network namespace.</summary>
    private static void LoopbackUp()
    {
        var fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new SyscallException("socket", "lo", Marshal.GetLastPInvokeError());
        }
        try
        {
            var ifr = stackalloc byte[40]; // struct ifreq: char ifr_name[16]; short ifr_flags …
            ifr[0] = (byte)'l';
            ifr[1] = (byte)'o';
            if (sys_ioctl(fd, SIOCGIFFLAGS_, ifr) < 0)
            {
                throw new SyscallException("ioctl SIOCGIFFLAGS", "lo", Marshal.GetLastPInvokeError());
            }
            *(short*)(ifr + 16) |= 1; // IFF_UP
            if (sys_ioctl(fd, SIOCSIFFLAGS_, ifr) < 0)
            {
                throw new SyscallException("ioctl SIOCSIFFLAGS", "lo", Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            Close(fd);
        }
    }
}
