using VServer.Native;

namespace VServer.Storage;

/// <summary>
/// Removes a directory tree without ever following a symlink and without crossing into another
/// filesystem, at any depth: <see cref="TreeWalk"/> opens every directory relative to its parent's
/// fd with O_NOFOLLOW and lists it through that fd, and its entries are unlinked relative to it. A
/// mount point inside the tree stops the removal; a btrfs subvolume made inside it (another device
/// number, but no mount) is removed with it, as root may rmdir an emptied subvolume.
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
            RemoveContents(path, Sys.Dev(st), cancel);
            Sys.UnlinkAt(pfd, leaf, Sys.AT_REMOVEDIR, path);
        }
        finally
        {
            Sys.Close(pfd);
        }
    }

    /// <summary>Empties a directory, deepest first, at any depth (the walk is iterative and holds few fds).</summary>
    private static void RemoveContents(string top, ulong dev, CancellationToken cancel)
    {
        foreach (var e in TreeWalk.Walk(top, null, cancel, leaving: true))
        {
            var display = e.Path is null ? e.Name : top + e.Path;
            if (e.Leaving)
            {
                Sys.UnlinkAt(e.DirFd, e.Name, Sys.AT_REMOVEDIR, display); // its entries are gone: rmdir
            }
            else if (e.IsDirectory)
            {
                if (e.Device != dev)
                {
                    if (!Btrfs.IsNestedSubvolume(e.DirFd, e.Name, e.Stat, display))
                    {
                        throw new VServerException("MountPointInTree", ErrorKind.ResourceUnavailable,
                            $"'{display}' is a mount point; unmount it before removing the tree.", display);
                    }
                    // a subvolume made inside the tree: the walk keeps to one device number, so it is
                    // removed as a tree of its own, reached through the directory's fd, never by path
                    RemoveTree($"/proc/self/fd/{e.DirFd}/{e.Name}", cancel);
                }
                // else walked into next; removed when it is left
            }
            else
            {
                try
                {
                    Sys.UnlinkAt(e.DirFd, e.Name, 0, display);
                }
                catch (SyscallException x) when (x.ErrnoValue == Errno.ENOENT)
                {
                }
            }
        }
    }
}
