namespace VServer.Native;

/// <summary>errno numbers we name, and the one place an errno becomes an ErrorKind.</summary>
internal static class Errno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, EBADF = 9, EAGAIN = 11,
        ENOMEM = 12, EACCES = 13, EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20,
        EISDIR = 21, EINVAL = 22, EMFILE = 24, ENOSPC = 28, EROFS = 30, EMLINK = 31, ENAMETOOLONG = 36,
        ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40, EOPNOTSUPP = 95, ETXTBSY = 26, EFBIG = 27;

    private static readonly Dictionary<int, string> Names = new()
    {
        [EPERM] = "EPERM", [ENOENT] = "ENOENT", [ESRCH] = "ESRCH", [EINTR] = "EINTR", [EIO] = "EIO",
        [EBADF] = "EBADF", [EAGAIN] = "EAGAIN", [ENOMEM] = "ENOMEM", [EACCES] = "EACCES", [EBUSY] = "EBUSY",
        [EEXIST] = "EEXIST", [EXDEV] = "EXDEV", [ENODEV] = "ENODEV", [ENOTDIR] = "ENOTDIR", [EISDIR] = "EISDIR",
        [EINVAL] = "EINVAL", [EMFILE] = "EMFILE", [ENOSPC] = "ENOSPC", [EROFS] = "EROFS", [EMLINK] = "EMLINK",
        [ENAMETOOLONG] = "ENAMETOOLONG", [ENOSYS] = "ENOSYS", [ENOTEMPTY] = "ENOTEMPTY", [ELOOP] = "ELOOP",
        [EOPNOTSUPP] = "EOPNOTSUPP", [ETXTBSY] = "ETXTBSY", [EFBIG] = "EFBIG",
    };

    public static string Name(int errno) => Names.TryGetValue(errno, out var n) ? n : "E" + errno.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static ErrorKind Kind(int errno) => errno switch
    {
        ENOENT or ESRCH or ENODEV => ErrorKind.ObjectNotFound,
        EACCES or EPERM or EROFS => ErrorKind.PermissionDenied,
        EINVAL or ENAMETOOLONG or ENOTDIR or EISDIR or ELOOP or EXDEV => ErrorKind.InvalidArgument,
        EEXIST or ENOTEMPTY => ErrorKind.ResourceExists,
        EBUSY or EAGAIN or ETXTBSY => ErrorKind.ResourceUnavailable,
        ENOSPC or EMFILE or ENOMEM or EMLINK or EFBIG => ErrorKind.LimitsExceeded,
        ENOSYS or EOPNOTSUPP => ErrorKind.NotInstalled,
        _ => ErrorKind.NotSpecified,
    };
}

/// <summary>A failed system call: carries the call, the path and the errno name (ErrorId <c>call,ENAME</c>).</summary>
public sealed class SyscallException : VServerException
{
    internal SyscallException(string syscall, string? path, int errno)
        : base($"{syscall},{Errno.Name(errno)}", Errno.Kind(errno),
               path is null
                   ? $"{syscall} failed: {Errno.Name(errno)} ({Describe(errno)})"
                   : $"{syscall} `{path}` failed: {Errno.Name(errno)} ({Describe(errno)})",
               path)
    {
        Syscall = syscall;
        Path = path;
        ErrnoValue = errno;
    }

    public string Syscall { get; }
    public string? Path { get; }
    public int ErrnoValue { get; }
    public string ErrnoName => Errno.Name(ErrnoValue);

    private static string Describe(int errno) => new System.ComponentModel.Win32Exception(errno).Message;
}
