using System.Text;

namespace VServer.Storage;

/// <summary>
/// Atomic replacement of host-side files (configuration directories): write a temporary file in
/// the same directory, fsync it, rename it over the target. Readers see the old or the new
/// content, never a part.
/// </summary>
public static class AtomicFile
{
    /// <param name="durable">
    /// false: no fsync before the rename, for a running guest's run directory (state.json, its
    /// bundle, exec.records): what it says holds only while the guest's init lives, so nothing of it
    /// has to outlast a crash of the host, while readers still see the old or the new content.
    /// (Under /run, a tmpfs on most hosts, an fsync costs nothing; on a disk, 1-2 ms per file.)
    /// </param>
    public static void WriteAllText(string path, string content, bool durable = true) => WriteAllBytes(path, Encoding.UTF8.GetBytes(content), durable);

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, bool durable = true)
    {
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // the handle alone: a FileStream's buffer (4 KB, fresh pages in a short-lived process) would only be copied through
            using (var handle = File.OpenHandle(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(handle, content, 0);
                if (durable)
                {
                    RandomAccess.FlushToDisk(handle);
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }
}
