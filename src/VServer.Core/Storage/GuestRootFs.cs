using System.Text;
using VServer.Native;

namespace VServer.Storage;

/// <summary>
/// File operations inside a guest root. The root is held open as a directory fd; every path is
/// resolved by the kernel relative to it (openat2 RESOLVE_IN_ROOT), and every component created
/// or written is opened with O_NOFOLLOW, so a symlink planted in the guest tree can never send a
/// host-side operation outside the root (seed 003: <c>var/lock/subsys -> /lib</c>).
/// </summary>
public sealed class GuestRootFs : IDisposable
{
    private int _rootFd;

    private GuestRootFs(string hostPath, int fd)
    {
        HostPath = hostPath;
        _rootFd = fd;
    }

    /// <summary>The host path of the root (for messages only; never joined with guest paths to open files).</summary>
    public string HostPath { get; }

    public static GuestRootFs Open(string hostPath)
    {
        var fd = Sys.Open(hostPath, Sys.O_PATH_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_);
        return new GuestRootFs(hostPath, fd);
    }

    private string Display(string rel) => HostPath.TrimEnd('/') + "/" + rel.TrimStart('/');

    /// <summary>Splits a guest path into clean components; refuses <c>..</c> and empty paths.</summary>
    internal static string[] Components(string rel)
    {
        var parts = rel.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Any(p => p == ".."))
        {
            throw new VServerException("InvalidGuestPath", ErrorKind.InvalidArgument, $"Guest path '{rel}' contains '..'.", rel);
        }
        return parts;
    }

    /// <summary>
    /// Walks to (and creates, mode <paramref name="mode"/>) the directory <paramref name="rel"/>,
    /// refusing any component that is a symlink. Returns an O_PATH fd the caller closes.
    /// </summary>
    private int WalkDirectories(IReadOnlyList<string> parts, int count, int mode, bool create)
    {
        var fd = Sys.OpenAt(_rootFd, ".", Sys.O_PATH_ | Sys.O_DIRECTORY_);
        var sofar = new StringBuilder();
        try
        {
            for (var i = 0; i < count; i++)
            {
                sofar.Append('/').Append(parts[i]);
                if (create)
                {
                    Sys.MkdirAt(fd, parts[i], mode, Display(sofar.ToString()));
                }
                // O_NOFOLLOW + O_DIRECTORY: a symlink in place of a directory fails with ENOTDIR/ELOOP.
                var next = Sys.OpenAt(fd, parts[i], Sys.O_PATH_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_, 0, Display(sofar.ToString()));
                Sys.Close(fd);
                fd = next;
            }
            return fd;
        }
        catch
        {
            Sys.Close(fd);
            throw;
        }
    }

    /// <summary>mkdir -p inside the root; the final directory gets exactly <paramref name="mode"/>.</summary>
    public void CreateDirectory(string rel, int mode = 0x1ED /*0755*/)
    {
        var parts = Components(rel);
        var fd = WalkDirectories(parts, parts.Length, 0x1ED, create: true);
        try
        {
            if (parts.Length > 0)
            {
                // chmod through an O_PATH fd is not allowed; reopen read-only (still no-follow).
                var dfd = Sys.OpenAt(fd, ".", Sys.O_RDONLY_ | Sys.O_DIRECTORY_);
                try { Sys.FChmod(dfd, mode, Display(rel)); } finally { Sys.Close(dfd); }
            }
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    private T InParent<T>(string rel, bool createParents, Func<int, string, T> action)
    {
        var parts = Components(rel);
        if (parts.Length == 0)
        {
            throw new VServerException("InvalidGuestPath", ErrorKind.InvalidArgument, $"Guest path '{rel}' names the root itself.", rel);
        }
        var fd = WalkDirectories(parts, parts.Length - 1, 0x1ED, createParents);
        try
        {
            return action(fd, parts[^1]);
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    /// <summary>Creates or replaces a regular file. An existing symlink at the target is refused, never followed.</summary>
    public void WriteFile(string rel, ReadOnlySpan<byte> content, int mode = 0x1A4 /*0644*/)
    {
        var bytes = content.ToArray();
        InParent(rel, true, (dir, leaf) =>
        {
            var fd = Sys.OpenAt(dir, leaf, Sys.O_WRONLY_ | Sys.O_CREAT_ | Sys.O_TRUNC_ | Sys.O_NOFOLLOW_, mode, Display(rel));
            try
            {
                Sys.WriteAll(fd, bytes, Display(rel));
                Sys.FChmod(fd, mode, Display(rel));
            }
            finally
            {
                Sys.Close(fd);
            }
            return 0;
        });
    }

    public void WriteText(string rel, string text, int mode = 0x1A4) => WriteFile(rel, Encoding.UTF8.GetBytes(text), mode);

    /// <summary>Removes a symlink or a regular file of the guest (the entry itself, never what a link names).</summary>
    public void RemoveEntry(string rel) => InParent(rel, false, (dir, leaf) =>
    {
        Sys.UnlinkAt(dir, leaf, 0, Display(rel));
        return 0;
    });

    /// <summary>Copies a host file (trusted, outside any guest) into the root.</summary>
    public void CopyFromHost(string hostFile, string rel, int mode)
    {
        InParent(rel, true, (dir, leaf) =>
        {
            var fd = Sys.OpenAt(dir, leaf, Sys.O_WRONLY_ | Sys.O_CREAT_ | Sys.O_TRUNC_ | Sys.O_NOFOLLOW_, mode, Display(rel));
            try
            {
                using var src = new FileStream(hostFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                var buf = new byte[1 << 16];
                int n;
                while ((n = src.Read(buf, 0, buf.Length)) > 0)
                {
                    Sys.WriteAll(fd, buf.AsSpan(0, n), Display(rel));
                }
                Sys.FChmod(fd, mode, Display(rel));
            }
            finally
            {
                Sys.Close(fd);
            }
            return 0;
        });
    }

    /// <summary>Creates a symlink (its target is data: it is never resolved on the host side).</summary>
    public void Symlink(string target, string rel)
    {
        InParent(rel, true, (dir, leaf) =>
        {
            Sys.SymlinkAt(target, dir, leaf, Display(rel));
            return 0;
        });
    }

    /// <summary>Creates a character device node; needs CAP_MKNOD.</summary>
    public void CharDevice(string rel, uint major, uint minor, int mode)
    {
        InParent(rel, true, (dir, leaf) =>
        {
            Sys.MknodAt(dir, leaf, 0x2000 /*S_IFCHR*/ | mode, Sys.MakeDev(major, minor), Display(rel));
            // mknod applies the umask; the node was created just now by us, so set the exact mode.
            Sys.FChmodAt(dir, leaf, mode, Display(rel));
            return 0;
        });
    }

    /// <summary>Reads a regular file, resolving the path inside the root (symlinks stay in the root).</summary>
    public byte[] ReadFile(string rel, int maxBytes = 1 << 20)
    {
        Components(rel);
        // Links are followed, but RESOLVE_IN_ROOT makes the kernel treat the root as "/" for every
        // step (absolute targets and ".." included): a link can never lead out of the guest.
        var fd = Sys.OpenAt2(_rootFd, rel.TrimStart('/'), Sys.O_RDONLY_,
            Sys.RESOLVE_IN_ROOT_ | Sys.RESOLVE_NO_MAGICLINKS_, 0, Display(rel));
        try
        {
            using var ms = new MemoryStream();
            var buf = new byte[1 << 14];
            int n;
            while ((n = Sys.Read(fd, buf, Display(rel))) > 0)
            {
                if (ms.Length + n > maxBytes)
                {
                    throw new VServerException("GuestFileTooLarge", ErrorKind.LimitsExceeded, $"Guest file '{Display(rel)}' is larger than {maxBytes} bytes.", rel);
                }
                ms.Write(buf, 0, n);
            }
            return ms.ToArray();
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    /// <summary>
    /// Opens a regular file for reading with no symlink anywhere on its path (RESOLVE_NO_SYMLINKS,
    /// no mount crossing): the file a host-side scan listed, or nothing. Returns -1 when the path
    /// no longer leads to a regular file that way (removed, swapped for a symlink, …).
    /// </summary>
    public int OpenRegularNoFollow(string rel)
    {
        Components(rel);
        int fd;
        try
        {
            // O_NOATIME: reading a guest's files for unification or vdu must not rewrite their inodes
            fd = Sys.OpenAt2(_rootFd, rel.TrimStart('/'), Sys.O_RDONLY_ | Sys.O_NOFOLLOW_ | Sys.O_NOATIME_,
                Sys.RESOLVE_NO_SYMLINKS_ | Sys.RESOLVE_NO_MAGICLINKS_ | Sys.RESOLVE_NO_XDEV_ | Sys.RESOLVE_BENEATH_, 0, Display(rel));
        }
        catch (SyscallException e) when (e.ErrnoValue is Errno.ENOENT or Errno.ELOOP or Errno.ENOTDIR or Errno.EXDEV or Errno.EACCES)
        {
            return -1;
        }
        if (((uint)Sys.FStat(fd, Display(rel)).st_mode & 0xF000) != 0x8000)
        {
            Sys.Close(fd);
            return -1;
        }
        return fd;
    }

    /// <summary>
    /// Where a guest path leads when every symlink on it is followed inside the root (the kernel
    /// treats the root as "/": RESOLVE_IN_ROOT), as a guest path (<c>/usr/lib/systemd/systemd</c>);
    /// null when it leads nowhere. The target is only named, never opened for reading or run.
    /// </summary>
    public string? Resolve(string rel)
    {
        Components(rel);
        int fd;
        try
        {
            fd = Sys.OpenAt2(_rootFd, rel.TrimStart('/'), Sys.O_PATH_, Sys.RESOLVE_IN_ROOT_ | Sys.RESOLVE_NO_MAGICLINKS_, 0, Display(rel));
        }
        catch (SyscallException e) when (e.ErrnoValue is Errno.ENOENT or Errno.ELOOP or Errno.ENOTDIR or Errno.EACCES)
        {
            return null;
        }
        try
        {
            var root = File.ResolveLinkTarget("/proc/self/fd/" + _rootFd.ToString(System.Globalization.CultureInfo.InvariantCulture), false)?.FullName;
            var target = File.ResolveLinkTarget("/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture), false)?.FullName;
            if (root is null || target is null)
            {
                return null;
            }
            return target == root ? "/" : target.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal) ? target[root.TrimEnd('/').Length..] : null;
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    /// <summary>What the guest's /sbin/init is: named by where it resolves inside the root.</summary>
    public InitKind InitKind()
    {
        var target = Resolve("/sbin/init");
        if (target is null || LStat(target) is not { } st || ((uint)st.st_mode & 0xF000) != 0x8000)
        {
            return VServer.InitKind.None;
        }
        return Path.GetFileName(target) switch
        {
            "systemd" => VServer.InitKind.Systemd,
            "busybox" => VServer.InitKind.Busybox,
            _ => VServer.InitKind.Other,
        };
    }

    /// <summary>lstat of a guest path, resolved inside the root; null when absent.</summary>
    public Tmds.Linux.stat? LStat(string rel)
    {
        var parts = Components(rel);
        if (parts.Length == 0)
        {
            return Sys.FStatAt(_rootFd, "", Sys.AT_EMPTY_PATH);
        }
        try
        {
            return InParent(rel, false, (dir, leaf) => (Tmds.Linux.stat?)Sys.FStatAt(dir, leaf, Sys.AT_SYMLINK_NOFOLLOW, Display(rel)));
        }
        catch (SyscallException e) when (e.ErrnoValue == Errno.ENOENT)
        {
            return null;
        }
    }

    public void Dispose()
    {
        Sys.Close(_rootFd);
        _rootFd = -1;
    }
}
