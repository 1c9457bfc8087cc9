using VServer.Native;

namespace VServer.Storage;

/// <summary>
/// An exclusive, blocking, open-file-description lock on a lock file (fcntl F_OFD_SETLKW).
/// Held while contexts are handed out and guests are created, renamed into place or removed,
/// so two concurrent creates never receive the same context — across threads and processes.
/// </summary>
public sealed class HostLock : IDisposable
{
    private int _fd;

    private HostLock(int fd) => _fd = fd;

    public static HostLock Acquire(string lockFile)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockFile)!);
        var fd = Sys.Open(lockFile, Sys.O_RDWR_ | Sys.O_CREAT_ | Sys.O_NOFOLLOW_, 0x180 /*0600*/);
        try
        {
            Sys.LockExclusive(fd, lockFile);
        }
        catch
        {
            Sys.Close(fd);
            throw;
        }
        return new HostLock(fd);
    }

    public void Dispose()
    {
        Sys.Close(_fd); // closing the last fd of the description releases an OFD lock
        _fd = -1;
    }
}
