using VServer.Native;

namespace VServer.Storage;

/// <summary>Which filesystem a host path is on, or would be on once it is made (its nearest existing parent's).</summary>
public static class FileSystems
{
    /// <summary><paramref name="path"/> itself when it is a directory, else its nearest parent that is.</summary>
    public static string NearestExisting(string path)
    {
        var dir = path;
        while (!Directory.Exists(dir) && Path.GetDirectoryName(dir) is string parent && parent != dir)
        {
            dir = parent;
        }
        return dir;
    }

    /// <summary>statfs(2)'s magic number for the filesystem <paramref name="path"/> is on (a host path an administrator set up: a symlink is followed); null when it cannot be read.</summary>
    public static long? MagicOf(string path)
    {
        try
        {
            return Sys.StatFs(path).Type;
        }
        catch (SyscallException)
        {
            return null;
        }
    }

    /// <summary>The name of the filesystem a path is or would be on (<c>xfs</c>, <c>btrfs</c>, …).</summary>
    public static string NameOf(string path) => MagicOf(NearestExisting(path)) is long m ? Sys.FileSystemName(m) : "unreadable";
}
