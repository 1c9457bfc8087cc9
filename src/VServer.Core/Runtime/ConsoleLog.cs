using System.Globalization;
using System.Text;

namespace VServer.Runtime;

/// <summary>
/// A guest's console log, <c>$RUN_ROOT/ID/console.log</c>: conmon writes what the guest's init and its
/// console print there, in the k8s-file format (<c>TIMESTAMP STREAM P|F TEXT</c>; P: the line goes on in
/// the next record), and starts it afresh when it passes <see cref="MaxBytes"/>, so a noisy guest cannot
/// fill the host. It outlives the guest's stops and starts. Every byte of it is the guest's: a
/// message is shown with terminal control sequences dropped and other control characters made visible.
/// </summary>
public static partial class ConsoleLog
{
    /// <summary>A terminal's control sequence (colours, cursor moves): dropped from a message, as `less -R` would render it harmless.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"\x1b\[[0-?]*[ -/]*[@-~]")]
    private static partial System.Text.RegularExpressions.Regex ControlSequence();

    /// <summary>A line of the guest's as it is shown: control sequences dropped, other control characters made visible.</summary>
    public static string Clean(string text) => VisibleText.Of(ControlSequence().Replace(text, ""));

    /// <summary>The most conmon keeps of one guest's console (its --log-size-max).</summary>
    public const long MaxBytes = 4 * 1024 * 1024;

    /// <summary>Parses records into lines, joining partial ones; a line that is no record is kept whole.</summary>
    public static IEnumerable<LogEntry> Parse(string name, IEnumerable<string> records)
    {
        var partial = new StringBuilder();
        foreach (var record in records)
        {
            if (record.Split(' ', 4) is [var time, var stream, var tag, var text] && stream is "stdout" or "stderr" && tag is "P" or "F" &&
                DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.None, out var at))
            {
                partial.Append(text.TrimEnd('\r'));
                if (tag == "P" && partial.Length < 64 * 1024)
                {
                    continue;
                }
                yield return new LogEntry(name, at, stream, Clean(partial.ToString()));
                partial.Clear();
            }
            else if (record.Length > 0)
            {
                yield return new LogEntry(name, null, "", Clean(record.TrimEnd('\r')));
            }
        }
        if (partial.Length > 0)
        {
            yield return new LogEntry(name, null, "stdout", Clean(partial.ToString()));
        }
    }

    /// <summary>
    /// The guest's console lines (the last <paramref name="tail"/>; all when null); empty when it has
    /// no log yet. <paramref name="previous"/>: the log of the start before the last one.
    /// </summary>
    public static IReadOnlyList<LogEntry> Read(RunDirectory run, int? tail = null, bool previous = false)
    {
        string text;
        try
        {
            using var f = new FileStream(previous ? run.PreviousConsoleLog : run.ConsoleLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            // conmon keeps it under MaxBytes; read no more than that even if something else grew it
            if (f.Length > MaxBytes)
            {
                f.Seek(-MaxBytes, SeekOrigin.End);
            }
            text = new StreamReader(f, Encoding.UTF8).ReadToEnd();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Array.Empty<LogEntry>();
        }
        var entries = Parse(run.Name, text.Split('\n')).Where(e => e.Message.Length > 0 || e.TimeStamp is not null).ToList();
        return tail is int n ? entries.TakeLast(n).ToList() : entries;
    }

    /// <summary>
    /// Before a start: the last start's log becomes the previous one (replacing the one before), so a
    /// guest that ended badly can still be read after it was started again. Both stay within MaxBytes.
    /// </summary>
    public static void KeepPrevious(RunDirectory run)
    {
        // rename(2) itself: File.Move looks at both ends first (half a millisecond of every start)
        try
        {
            Native.Sys.Rename(run.ConsoleLog, run.PreviousConsoleLog);
        }
        catch (Native.SyscallException e) when (e.ErrnoValue == 2) // ENOENT: no log yet
        {
        }
    }

    /// <summary>
    /// Follows the log (Get-VServerLog -Wait): each new line as it is written, from the end the log has
    /// now, until <paramref name="cancel"/>. A log conmon started afresh (smaller than read, or a new
    /// file at the next start) is read from its beginning.
    /// </summary>
    public static void Follow(RunDirectory run, Action<LogEntry> onEntry, CancellationToken cancel, TimeSpan? poll = null)
    {
        var interval = poll ?? TimeSpan.FromMilliseconds(200);
        long position = 0;
        ulong? inode = null;
        try
        {
            using var f = new FileStream(run.ConsoleLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            (position, inode) = (f.Length, InodeOf(f));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
        }
        var carry = "";
        while (!cancel.IsCancellationRequested)
        {
            {
                try
                {
                    using var f = new FileStream(run.ConsoleLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    var now = InodeOf(f);
                    if (now != inode || f.Length < position)
                    {
                        (position, inode, carry) = (0, now, "");
                    }
                    if (f.Length > position)
                    {
                        f.Seek(position, SeekOrigin.Begin);
                        var buffer = new byte[Math.Min(f.Length - position, MaxBytes)];
                        var read = f.Read(buffer, 0, buffer.Length);
                        position += read;
                        var chunk = carry + Encoding.UTF8.GetString(buffer, 0, read);
                        var end = chunk.LastIndexOf('\n');
                        carry = end < 0 ? chunk : chunk[(end + 1)..];
                        if (end >= 0)
                        {
                            foreach (var e in Parse(run.Name, chunk[..end].Split('\n')))
                            {
                                onEntry(e);
                            }
                        }
                    }
                }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
                {
                    (position, inode, carry) = (0, null, "");
                }
            }
            cancel.WaitHandle.WaitOne(interval);
        }
    }

    private static ulong InodeOf(FileStream f) => (ulong)Native.Sys.FStat((int)f.SafeFileHandle.DangerousGetHandle()).st_ino;
}
