using System.Text;

namespace VServer.Storage;

/// <summary>
/// Reads the small text files a configuration directory is made of (<c>context</c>, <c>uts/nodename</c>,
/// <c>private-users</c>: a few bytes each) as <see cref="File.ReadAllText(string)"/> does, without its
/// buffers. ReadAllText makes a FileStream, a StreamReader and a StringBuilder for each file, about
/// 20 KB, and in the short-lived <c>vserver</c> command every such allocation is fresh memory that the
/// kernel backs page by page: a start that looked at every guest's <c>private-users</c> on a host of
/// 200 guests spent 16 ms in it (docs/benchmarks.md). Here one buffer per thread is read into with
/// open, read and close, and only the string is made.
/// </summary>
public static class SmallFile
{
    /// <summary>Files larger than this are read by <see cref="File.ReadAllText(string)"/>.</summary>
    internal const int Limit = 16 * 1024;

    [ThreadStatic]
    private static byte[]? t_buffer;

    /// <summary>
    /// The file's text, as <see cref="File.ReadAllText(string)"/> gives it (symlinks followed, a UTF-8
    /// byte order mark dropped, invalid UTF-8 replaced), or null when <see cref="File.Exists(string)"/>
    /// says there is no such file. Errors other than a missing file are thrown as ReadAllText throws them.
    /// </summary>
    public static string? ReadTextIfExists(string path)
    {
        if (TryReadDirect(path) is string text)
        {
            return text;
        }
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }

    /// <summary>The file's text, as <see cref="File.ReadAllText(string)"/> gives it.</summary>
    public static string ReadText(string path) => TryReadDirect(path) ?? File.ReadAllText(path);

    /// <summary>
    /// The common case with the fewest calls: open (no symlink followed), read, close. Null for
    /// everything else (a missing file, a symlink, a directory, an unreadable or oversized file), which
    /// ReadAllText itself then reads, or fails on.
    /// </summary>
    private static string? TryReadDirect(string path)
    {
        var buffer = t_buffer ??= GC.AllocateUninitializedArray<byte>(Limit); // read into, never read unwritten: its pages are touched only as far as a file reaches
        var length = Native.Sys.TryReadSmallFile(path, ref buffer, Limit);
        return length < 0 || length == Limit ? null : Decode(buffer.AsSpan(0, length), path);
    }

    private static string Decode(ReadOnlySpan<byte> bytes, string path)
    {
        if (bytes.Length >= 2 && (bytes[0] is 0xFE or 0xFF || (bytes[0] == 0 && bytes[1] == 0)))
        {
            // a UTF-16/32 byte order mark, perhaps: ReadAllText's own detection
            return File.ReadAllText(path);
        }
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            bytes = bytes[3..];
        }
        return Encoding.UTF8.GetString(bytes);
    }
}
