using System.Text.RegularExpressions;
using VServer.Runtime;

namespace VServer.Storage;

/// <summary>How a guest moves to another host.</summary>
public sealed record MoveOptions
{
    /// <summary><c>[user@]host</c>, as ssh takes it.</summary>
    public required string Destination { get; init; }

    /// <summary>Keep the guest here (stopped) after the other side has it.</summary>
    public bool KeepSource { get; init; }

    /// <summary>ssh <c>-o</c> options (<c>Port=2222</c>, <c>IdentityFile=/root/.ssh/move</c>).</summary>
    public IReadOnlyList<string> SshOptions { get; init; } = Array.Empty<string>();

    /// <summary>The vserver command on the other host (default: <c>vserver</c> on its PATH).</summary>
    public string RemoteCommand { get; init; } = "vserver";

    /// <summary>How long a running guest gets to stop before it is killed.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>What a move did.</summary>
public sealed record MoveResult(string Name, string Destination, long Bytes, bool StartedThere, bool SourceRemoved, TimeSpan Duration);

/// <summary>
/// Seed 001's migration (<c>vservers X stop; tar pcvf - /vservers/X | ssh B 'tar pxvf -'</c>) as
/// one step: the guest is stopped, exported (<see cref="GuestArchive"/>), sent over ssh to
/// <c>vserver NAME import -</c> on the other host (which checks it whole and builds it in staging),
/// started there if it ran here, and removed here only after the other side said it has it. Any
/// failure before that leaves the guest here, started again if it ran, and nothing on the other side.
/// ssh runs from an argument list in batch mode (keys, no password prompt).
/// </summary>
public static class GuestMover
{
    private static readonly Regex DestinationPattern = new(@"^(?:[A-Za-z0-9._][A-Za-z0-9._-]*@)?(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])$", RegexOptions.CultureInvariant);
    private static readonly Regex SshOptionPattern = new(@"^[A-Za-z][A-Za-z0-9]*=[^\n]*$", RegexOptions.CultureInvariant);

    public static MoveResult Move(GuestStore store, GuestRuntime runtime, string name, MoveOptions o, IOperationReporter? reporter = null, CancellationToken cancel = default)
    {
        reporter ??= NullReporter.Instance;
        Config.Validate.GuestName(name); // the name goes into the other host's command line: VServer's own characters only
        if (!DestinationPattern.IsMatch(o.Destination))
        {
            throw new VServerException("InvalidDestination", ErrorKind.InvalidArgument,
                $"'{VisibleText.Of(o.Destination)}' is not a destination: give [user@]host (a host name or an address).", o.Destination);
        }
        foreach (var opt in o.SshOptions.Where(x => !SshOptionPattern.IsMatch(x)))
        {
            throw new VServerException("InvalidSshOption", ErrorKind.InvalidArgument, $"'{VisibleText.Of(opt)}' is not an ssh option: give Name=value.", opt);
        }
        if (string.IsNullOrWhiteSpace(o.RemoteCommand) || o.RemoteCommand.StartsWith('-') || o.RemoteCommand.Contains('\n'))
        {
            throw new VServerException("InvalidRemoteCommand", ErrorKind.InvalidArgument, $"'{VisibleText.Of(o.RemoteCommand)}' is not a command.", o.RemoteCommand);
        }
        var ssh = HostProcess.Find("ssh") ?? throw new VServerException("SshNotFound", ErrorKind.NotInstalled, "Moving a guest needs ssh (Debian package openssh-client).", "ssh");
        if (!store.Exists(name))
        {
            throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{name}' exists.", name);
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var activity = $"Moving guest {name} to {o.Destination}";
        var ran = runtime.Status(name).State == GuestState.Running;
        // the export streams through a FIFO of a private directory into ssh's input: no copy on disk here
        var work = Path.Combine(Path.GetTempPath(), "vserver-move-" + Guid.NewGuid().ToString("N")[..12]);
        var fifo = Path.Combine(work, "stream");
        var moved = false;
        long bytes = 0;
        try
        {
            if (ran)
            {
                reporter.Progress(activity, "Stopping it here", 5);
                runtime.Stop(name, o.StopTimeout, reporter, cancel);
            }
            Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Native.Sys.Mkfifo(fifo, 0x180);
            reporter.Progress(activity, $"Sending it to {o.Destination}", 20);
            var counted = new CountingStream();
            var send = Task.Run(() =>
            {
                using var input = new FileStream(fifo, FileMode.Open, FileAccess.Read); // waits for tar
                counted.Inner = input;
                return HostProcess.Run(ssh, SshArgs(o, name, "import", "-"), cancel, inputStream: counted);
            });
            Exception? exportFailed = null;
            try
            {
                // plain tar, as seed 001's tar pcvf - | ssh (GNU tar writes a FIFO uncompressed whatever it is told;
                // SshOption Compression=yes compresses the transfer)
                GuestArchive.Export(store, name, name + ".tar", force: false, stream: fifo, reporter, cancel);
            }
            catch (Exception e) when (e is VServerException or IOException)
            {
                exportFailed = e;
                if (!send.IsCompleted)
                {
                    // tar may never have opened the FIFO: open and close it, so the reader sees the end
                    try
                    {
                        using var unblock = new FileStream(fifo, FileMode.Open, FileAccess.Write);
                    }
                    catch (IOException)
                    {
                    }
                }
            }
            var r = send.GetAwaiter().GetResult();
            bytes = counted.Count;
            if (r.ExitCode != 0)
            {
                throw new VServerException("MoveFailed", ErrorKind.InvalidOperation,
                    $"Guest '{name}' was not moved: {o.Destination} did not import it ({Reason(r)}). It stays here{(ran ? " and is started again" : "")}.", name, exportFailed);
            }
            if (exportFailed is not null)
            {
                throw exportFailed;
            }
            moved = true;
        }
        finally
        {
            SafeRemove.RemoveTree(work);
            if (!moved && ran && store.Exists(name) && runtime.Status(name).State != GuestState.Running)
            {
                try
                {
                    runtime.Start(name, reporter, CancellationToken.None);
                }
                catch (VServerException e)
                {
                    reporter.Warning($"Guest '{name}' stays here but could not be started again: {e.Message}");
                }
            }
        }
        var started = false;
        if (ran)
        {
            reporter.Progress(activity, $"Starting it on {o.Destination}", 80);
            var r = HostProcess.Run(ssh, SshArgs(o, name, "start"), cancel);
            started = r.ExitCode == 0;
            if (!started)
            {
                reporter.Warning($"Guest '{name}' is on {o.Destination} now but did not start there ({Reason(r)}); it is kept here too, stopped.");
            }
        }
        var removed = false;
        if (!o.KeepSource && (started || !ran))
        {
            store.Remove(name, reporter, cancel);
            removed = true;
        }
        reporter.Progress(activity, "Done", 100);
        return new MoveResult(name, o.Destination, bytes, started, removed, sw.Elapsed);
    }

    /// <summary>ssh's arguments: batch mode, the options, then the destination and the remote vserver command's words.</summary>
    private static List<string> SshArgs(MoveOptions o, params string[] words)
    {
        var args = new List<string> { "-o", "BatchMode=yes" };
        foreach (var opt in o.SshOptions)
        {
            args.Add("-o");
            args.Add(opt);
        }
        args.Add("--");
        args.Add(o.Destination);
        args.Add(o.RemoteCommand);
        args.AddRange(words);
        return args;
    }

    private static string Reason(ProcessResult r)
    {
        var lines = r.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length > 0 ? VisibleText.Of(lines[^1]) : $"ssh exited {r.ExitCode}";
    }

    /// <summary>
    /// <c>vserver NAME import -</c>: the archive from standard input, kept in a hidden file of the
    /// vdir root while it is checked and unpacked (an import reads it twice), removed after, also
    /// when the transfer is cut (the import then fails on the truncated archive and makes nothing).
    /// </summary>
    public static Guest ImportStream(GuestStore store, Stream input, string name, int? context, IOperationReporter? reporter, CancellationToken cancel)
    {
        Directory.CreateDirectory(store.Paths.VdirRoot);
        var token = Guid.NewGuid().ToString("N")[..12];
        var head = new byte[6];
        var n = 0;
        while (n < head.Length && input.Read(head, n, head.Length - n) is var got and > 0)
        {
            n += got;
        }
        // the compression from the stream's first bytes, for a name the import reads it by
        var ext = n >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD ? ".tar.zst"
            : n >= 2 && head[0] == 0x1F && head[1] == 0x8B ? ".tar.gz"
            : n >= 6 && head[0] == 0xFD && head[1] == 0x37 && head[2] == 0x7A && head[3] == 0x58 && head[4] == 0x5A && head[5] == 0 ? ".tar.xz"
            : ".tar";
        var spool = Path.Combine(store.Paths.VdirRoot, $".import-{token}{ext}");
        try
        {
            using (var f = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                f.Write(head, 0, n);
                var buffer = new byte[1 << 20];
                int read;
                while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
                {
                    cancel.ThrowIfCancellationRequested();
                    f.Write(buffer, 0, read);
                }
            }
            cancel.ThrowIfCancellationRequested();
            return GuestArchive.Import(store, spool, name, context, reporter, cancel);
        }
        finally
        {
            File.Delete(spool);
        }
    }

    /// <summary>A read-only pass-through that counts the bytes read (what went over ssh).</summary>
    private sealed class CountingStream : Stream
    {
        public Stream Inner { get; set; } = Null;
        public long Count { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Inner.Read(buffer, offset, count);
            Count += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
