using System.Runtime.InteropServices;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace VServer.Native;

/// <summary>posix_spawn: a daemon VServer supervises (lxcfs: own session, stdio on files), and conmon (its output on pipes, read once it has ended).</summary>
internal static unsafe partial class Sys
{
    // glibc: posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336 on 64-bit; room to spare
    private const int SpawnBufferSize = 1024;
    private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;

    [DllImport("libc", EntryPoint = "posix_spawn")]
    private static extern int sys_posix_spawn(out int pid, string path, void* fileActions, void* attr, IntPtr[] argv, IntPtr[] envp);

    [DllImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static extern int sys_waitpid(int pid, int* status, int options);

    private const int WNOHANG = 1;

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    private static extern int sys_fa_init(void* fa);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    private static extern int sys_fa_destroy(void* fa);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_addopen")]
    private static extern int sys_fa_addopen(void* fa, int fd, string path, int oflag, uint mode);

    [DllImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static extern int sys_fa_adddup2(void* fa, int fd, int newfd);

    [DllImport("libc", EntryPoint = "posix_spawnattr_init")]
    private static extern int sys_attr_init(void* attr);

    [DllImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    private static extern int sys_attr_destroy(void* attr);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    private static extern int sys_attr_setflags(void* attr, short flags);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    private static extern int sys_attr_setsigmask(void* attr, sigset_t* mask);

    [DllImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    private static extern int sys_attr_setsigdefault(void* attr, sigset_t* mask);

    /// <summary>
    /// Starts <paramref name="file"/> in a session of its own with stdin on /dev/null and stdout and
    /// stderr appended to <paramref name="log"/>, every signal at its default and none blocked.
    /// The caller reaps it (or it runs <c>setsid --fork</c> to leave an orphan behind).
    /// </summary>
    public static int SpawnDetached(string file, IReadOnlyList<string> args, string log) =>
        Spawn(file, args, null, POSIX_SPAWN_SETSID, fa =>
        {
            Check0(sys_fa_addopen(fa, 0, "/dev/null", O_RDONLY, 0), "posix_spawn_file_actions_addopen", "/dev/null");
            Check0(sys_fa_addopen(fa, 1, log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0x180), "posix_spawn_file_actions_addopen", log);
            Check0(sys_fa_adddup2(fa, 1, 2), "posix_spawn_file_actions_adddup2", log);
        });

    /// <summary>
    /// Starts <paramref name="file"/> with stdin on /dev/null and stdout and stderr on pipes whose read
    /// ends it returns, our environment with <paramref name="environment"/> over it, every signal at
    /// its default and none blocked. <paramref name="inheritFds"/> stay open in it (dup2 onto
    /// themselves clears close-on-exec in the child alone, so no other child started meanwhile gets
    /// them). The caller reaps it (<see cref="WaitChild(int)"/>) and closes the two descriptors.
    /// </summary>
    public static (int Pid, int Stdout, int Stderr) SpawnPiped(string file, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment, IReadOnlyList<int> inheritFds)
    {
        var (outRead, outWrite) = Pipe();
        var (errRead, errWrite) = (-1, -1);
        try
        {
            (errRead, errWrite) = Pipe();
            var (ow, ew) = (outWrite, errWrite);
            var pid = Spawn(file, args, environment, 0, fa =>
            {
                Check0(sys_fa_addopen(fa, 0, "/dev/null", O_RDONLY, 0), "posix_spawn_file_actions_addopen", "/dev/null");
                Check0(sys_fa_adddup2(fa, ow, 1), "posix_spawn_file_actions_adddup2", file);
                Check0(sys_fa_adddup2(fa, ew, 2), "posix_spawn_file_actions_adddup2", file);
                foreach (var fd in inheritFds)
                {
                    Check0(sys_fa_adddup2(fa, fd, fd), "posix_spawn_file_actions_adddup2", file);
                }
            });
            return (pid, outRead, errRead);
        }
        catch
        {
            Close(outRead);
            if (errRead >= 0)
            {
                Close(errRead);
            }
            throw;
        }
        finally
        {
            Close(outWrite);
            if (errWrite >= 0)
            {
                Close(errWrite);
            }
        }
    }

    private delegate void FileActions(void* fa);

    private static int Spawn(string file, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment, short flags, FileActions actions)
    {
        var fa = stackalloc byte[SpawnBufferSize];
        var attr = stackalloc byte[SpawnBufferSize];
        var argv = new IntPtr[args.Count + 2];
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            env[(string)e.Key] = (string?)e.Value ?? "";
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        var envp = new IntPtr[env.Count + 1];
        try
        {
            argv[0] = Marshal.StringToCoTaskMemUTF8(file);
            for (var i = 0; i < args.Count; i++)
            {
                argv[i + 1] = Marshal.StringToCoTaskMemUTF8(args[i]);
            }
            var n = 0;
            foreach (var (k, v) in env)
            {
                envp[n++] = Marshal.StringToCoTaskMemUTF8(k + "=" + v);
            }
            Check0(sys_fa_init(fa), "posix_spawn_file_actions_init", file);
            Check0(sys_attr_init(attr), "posix_spawnattr_init", file);
            try
            {
                actions(fa);
                sigset_t none, all;
                sigemptyset(&none);
                sigfillset(&all);
                Check0(sys_attr_setsigmask(attr, &none), "posix_spawnattr_setsigmask", file);
                Check0(sys_attr_setsigdefault(attr, &all), "posix_spawnattr_setsigdefault", file);
                Check0(sys_attr_setflags(attr, (short)(flags | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)), "posix_spawnattr_setflags", file);
                Check0(sys_posix_spawn(out var pid, file, fa, attr, argv, envp), "posix_spawn", file);
                return pid;
            }
            finally
            {
                sys_fa_destroy(fa);
                sys_attr_destroy(attr);
            }
        }
        finally
        {
            foreach (var p in argv)
            {
                if (p != IntPtr.Zero)
                {
                    Marshal.FreeCoTaskMem(p);
                }
            }
            foreach (var p in envp)
            {
                if (p != IntPtr.Zero)
                {
                    Marshal.FreeCoTaskMem(p);
                }
            }
        }
    }

    /// <summary>waitpid for a child of ours until it ends; its exit status (128 + N for a signal), or null when it was reaped elsewhere.</summary>
    public static int? WaitChild(int pid)
    {
        while (true)
        {
            int status;
            var r = sys_waitpid(pid, &status, 0);
            if (r == pid)
            {
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
            }
            if (r < 0 && Marshal.GetLastPInvokeError() == EINTR)
            {
                continue;
            }
            return null;
        }
    }

    /// <summary>waitpid for a child of ours; its exit status, or null when it was reaped elsewhere or is still running at the deadline.</summary>
    public static int? WaitChild(int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            int status;
            var r = sys_waitpid(pid, &status, WNOHANG);
            if (r == pid)
            {
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
            }
            if (r < 0 || DateTime.UtcNow > deadline)
            {
                return null; // ECHILD: the runtime's SIGCHLD handling took it
            }
            Thread.Sleep(1);
        }
    }

    private static void Check0(int result, string call, string what)
    {
        if (result != 0)
        {
            throw new SyscallException(call, what, result); // these return the error number
        }
    }
}
