using System.Collections.Concurrent;
using VServer.Native;
using VServer.Storage;

namespace VServer.Runtime;

/// <summary>
/// The OCI runtime's program as VServer runs it: a read-only bind mount of the installed binary
/// at <c>/run/vserver-runtime/NAME</c>. crun (and runc's init) protect themselves against
/// CVE-2019-5736 — a container overwriting the host's runtime through <c>/proc/PID/exe</c> — by
/// copying themselves and re-executing the copy at every invocation, unless the binary they run
/// from cannot be written: a sealed memfd or a read-only mount. A read-only bind mount gives the
/// same protection (a write through <c>/proc/PID/exe</c> fails with EROFS) without the second
/// exec of a large dynamically linked program at every create, start, exec, kill and delete.
/// The mount is host-wide, made once (under a lock) and checked at each use: when the installed
/// binary was replaced (an upgrade), the stale mount is replaced with one of the new file. Where
/// the mount cannot be made (not root), the installed binary is run as before.
/// </summary>
public static class RuntimeBinary
{
    public const string DefaultDirectory = "/run/vserver-runtime";

    private static readonly ConcurrentDictionary<(string, string), string> Known = new();

    /// <summary>
    /// The path to run <paramref name="program"/> by: the read-only mount of it in
    /// <paramref name="directory"/>, made when missing or stale; the program itself when the mount
    /// cannot be made.
    /// </summary>
    public static string For(string program, string directory = DefaultDirectory)
    {
        if (IsUnder(program, directory))
        {
            return program;
        }
        var key = (program, directory);
        if (Known.TryGetValue(key, out var known) && IsReadOnlyMountOf(known, program))
        {
            return known;
        }
        var target = Path.Combine(directory, Path.GetFileName(program));
        if (IsReadOnlyMountOf(target, program))
        {
            return Known[key] = target;
        }
        try
        {
            Directory.CreateDirectory(directory);
            using var _ = HostLock.Acquire(Path.Combine(directory, ".lock"));
            if (!IsReadOnlyMountOf(target, program))
            {
                // a mount of a binary since replaced (or of another file): off, then the current one
                while (Sys.Unmount(target))
                {
                }
                if (!File.Exists(target))
                {
                    File.WriteAllBytes(target, Array.Empty<byte>());
                }
                Sys.BindMountReadOnly(program, target);
            }
            return IsReadOnlyMountOf(target, program) ? Known[key] = target : program;
        }
        catch (Exception e) when (e is SyscallException or IOException or UnauthorizedAccessException)
        {
            return program; // not root, or /run read-only: the runtime copies itself as it always does
        }
    }

    /// <summary>
    /// The installed program a path from <see cref="For"/> stands for: a path in
    /// <paramref name="directory"/> is the program of its name on PATH (what conmon's command
    /// line and a guest's state record may name), any other path itself.
    /// </summary>
    public static string Installed(string path, string directory = DefaultDirectory) =>
        IsUnder(path, directory) ? HostProcess.Find(Path.GetFileName(path)) ?? path : path;

    /// <summary>Whether <paramref name="target"/> is the same file as <paramref name="program"/>, on a read-only mount.</summary>
    public static bool IsReadOnlyMountOf(string target, string program)
    {
        try
        {
            var t = Sys.FStatAt(Sys.AT_FDCWD, target, Sys.AT_SYMLINK_NOFOLLOW);
            var p = Sys.FStatAt(Sys.AT_FDCWD, program, 0);
            return t.st_dev == p.st_dev && t.st_ino == p.st_ino && Sys.IsReadOnlyMount(target);
        }
        catch (SyscallException)
        {
            return false;
        }
    }

    private static bool IsUnder(string path, string directory) =>
        string.Equals(Path.GetDirectoryName(path), directory.TrimEnd('/'), StringComparison.Ordinal);
}
