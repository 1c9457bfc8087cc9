using VServer.Native;

namespace VServer.Storage;

/// <summary>
/// Removes a directory tree without ever following a symlink and without crossing into another
/// filesystem: every directory is opened relative to its parent's fd with O_NOFOLLOW, listed
/// through that fd, and its entries are unlinked relative to it. A directory swapped for a symlink
/// mid-walk is unlinked as a link; a mount point inside the tree stops the removal.
/// </summary>
public static class SafeRemove
{
    /// <summary>Removes <paramref name="path"/> and everything below it. Absent paths are fine.</summary>
    public static void RemoveTree(string path, CancellationToken cancel = default)
    {
        path = Path.GetFullPath(path).TrimEnd('/');
        if (path.Length == 0 || path == "/")
        {
            throw new VServerException("RefusedRemoveRoot", ErrorKind.InvalidArgument, "Refusing to remove '/'.", path);
        }
        var parent = Path.GetDirectoryName(path)!;
        var leaf = Path.GetFileName(path);
        int pfd;
        try
        {
            pfd = Sys.Open(parent, Sys.O_PATH_ | Sys.O_DIRECTORY_);
        }
        catch (SyscallException e) when (e.ErrnoValue == Errno.ENOENT)
        {
            return;
        }
        try
        {
            Tmds.Linux.stat st;
            try
            {
                st = Sys.FStatAt(pfd, leaf, Sys.AT_SYMLINK_NOFOLLOW, path);
            }
            catch (SyscallException e) when (e.ErrnoValue == Errno.ENOENT)
            {
                return;
            }
            if (!Sys.IsDir(st))
            {
                Sys.UnlinkAt(pfd, leaf, 0, path);
                return;
            }
            RemoveDirectory(pfd, leaf, path, Sys.Dev(st), cancel);
        }
        finally
        {
            Sys.Close(pfd);
        }
    }

    private static void RemoveDirectory(int parentFd, string name, string display, ulong dev, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        var fd = Sys.OpenAt(parentFd, name, Sys.O_RDONLY_ | Sys.O_DIRECTORY_ | Sys.O_NOFOLLOW_, 0, display);
        try
        {
            var st = Sys.FStat(fd, display);
            if (Sys.Dev(st) != dev)
            {
                throw new VServerException("MountPointInTree", ErrorKind.ResourceUnavailable,
                    $"'{display}' is a mount point; unmount it before removing the tree.", display);
            }
            // The fd pins the directory; listing it through /proc/self/fd cannot be redirected.
            foreach (var entry in TreeWalk.ListNames(fd))
            {
                var child = display + "/" + entry;
                Tmds.Linux.stat cst;
                try
                {
                    cst = Sys.FStatAt(fd, entry, Sys.AT_SYMLINK_NOFOLLOW, child);
                }
                catch (SyscallException e) when (e.ErrnoValue == Errno.ENOENT)
                {
                    continue;
                }
                if (Sys.IsDir(cst))
                {
                    RemoveDirectory(fd, entry, child, dev, cancel);
                }
                else
                {
                    try
                    {
                        Sys.UnlinkAt(fd, entry, 0, child);
                    }
                    catch (SyscallException e) when (e.ErrnoValue == Errno.ENOENT)
                    {
                    }
                }
            }
        }
        finally
        {
            Sys.Close(fd);
        }
        Sys.UnlinkAt(parentFd, name, Sys.AT_REMOVEDIR, display);
    }
}
