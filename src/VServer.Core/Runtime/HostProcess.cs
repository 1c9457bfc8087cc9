using System.Diagnostics;
using System.Text;
using VServer.Native;

namespace VServer.Runtime;

/// <summary>What a host program printed and how it ended.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError, TimeSpan Duration);

/// <summary>
/// Runs host programs (the OCI runtime, conmon) from an argument list — never through a shell.
/// Every start goes through one lock, so a descriptor made inheritable for one child (conmon's
/// sync pipe) is never inherited by another started at the same moment.
/// </summary>
public static class HostProcess
{
    private static readonly object SpawnLock = new();

    /// <summary>Finds a program on PATH (and the sbin directories, which root's PATH may lack).</summary>
    public static string? Find(string name)
    {
        if (name.Contains('/'))
        {
            return File.Exists(name) ? Path.GetFullPath(name) : null;
        }
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(new[] { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" });
        foreach (var d in dirs)
        {
            var p = Path.Combine(d, name);
            if (File.Exists(p))
            {
                return p;
            }
        }
        return null;
    }

    /// <summary>Called with every command line this class runs (the vserver command's <c>--debug</c>); null: none.</summary>
    public static Action<string>? Trace { get; set; }

    internal static void Traced(string file, IEnumerable<string> args) =>
        Trace?.Invoke(string.Join(' ', args.Prepend(file).Select(a => a.Length > 0 && a.All(ch => char.IsAsciiLetterOrDigit(ch) || "/._-=+:,@%".Contains(ch)) ? a : "'" + a.Replace("'", "'\\''") + "'")));

    /// <summary>
    /// Runs a program to its end, streaming its output lines. <paramref name="leavesChildren"/>: the
    /// program leaves a process behind that holds its output open (<c>runc create</c>), so only
    /// its own exit is waited for. <paramref name="outputLimit"/> (characters, 0: none): what is kept
    /// and passed on of each stream, for a program whose output a guest controls; the rest is read and dropped.
    /// <paramref name="smallOutput"/>: the program writes a few lines at most and its output ends with it,
    /// so it is read once the program has ended, on this thread, without the two reader threads
    /// (<see cref="Spawn"/>); it goes with none of the input, progress and output options.
    /// </summary>
    public static ProcessResult Run(string file, IEnumerable<string> args, CancellationToken cancel = default,
        Action<string>? onOutput = null, Action<string>? onError = null,
        IReadOnlyDictionary<string, string>? environment = null, int inheritFd = -1, bool leavesChildren = false, string? input = null,
        Action? onTick = null, Stream? inputStream = null, int outputLimit = 0, bool smallOutput = false)
    {
        if (smallOutput)
        {
            if (leavesChildren || outputLimit > 0 || input is not null || inputStream is not null || onTick is not null)
            {
                throw new ArgumentException("A small output is read to its end once the program has ended: not with leavesChildren, an outputLimit, an input or onTick.", nameof(smallOutput));
            }
            using var small = Spawn(file, args.ToList(), environment, inheritFd >= 0 ? new[] { inheritFd } : Array.Empty<int>());
            return small.Wait(cancel, onOutput, onError);
        }
        Traced(file, args);
        var psi = StartInfo(file, args, environment);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        var sw = Stopwatch.StartNew();
        Start(p, file, inheritFd >= 0 ? new[] { inheritFd } : Array.Empty<int>());
        Writer(p.StandardInput, inputStream ?? (input is null ? null : new MemoryStream(new UTF8Encoding(false).GetBytes(input))));
        // Readers on threads of their own: the thread pool may be busy (a test host, many guests at once)
        var outReader = Reader(p.StandardOutput, stdout, onOutput, outputLimit);
        var errReader = Reader(p.StandardError, stderr, onError, outputLimit);
        using (cancel.Register(() => Interrupt(p)))
        {
            // onTick: twice a second on the calling thread while the program runs (progress)
            while (!p.WaitForExit(onTick is null ? Timeout.Infinite : 500))
            {
                onTick!();
            }
            p.WaitForExit();
            // a child it leaves behind (the runtime's init after create) keeps the pipes open; so may,
            // once it was told to stop, a process it started that does not end (a guest's command held
            // stopped): what it still writes is not waited for
            var wait = leavesChildren ? 50 : cancel.IsCancellationRequested ? 2000 : Timeout.Infinite;
            outReader.Join(wait);
            errReader.Join(wait);
        }
        cancel.ThrowIfCancellationRequested();
        string o, e;
        lock (stdout) { o = stdout.ToString(); }
        lock (stderr) { e = stderr.ToString(); }
        return new ProcessResult(p.ExitCode, o, e, sw.Elapsed);
    }

    /// <summary>
    /// Starts a program that writes a few lines at most and whose output ends with it (conmon, which
    /// forks away with its daemon's output on /dev/null), with an empty, closed input, and returns at
    /// once: the caller goes on while it runs and reads how it ended with <see cref="Spawned.Wait"/>.
    /// <paramref name="inheritFds"/>: descriptors the program inherits (in the child alone: they stay
    /// close-on-exec here). posix_spawn and waitpid, not <see cref="Process"/>: no stream objects and
    /// buffers, and its end is seen at once, not through .NET's SIGCHLD thread (about 2 ms later here).
    /// </summary>
    public static Spawned Spawn(string file, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<int>? inheritFds = null)
    {
        Traced(file, args);
        var sw = Stopwatch.StartNew();
        lock (SpawnLock) // no descriptor another start makes inheritable for its child meanwhile
        {
            try
            {
                var (pid, stdout, stderr) = Sys.SpawnPiped(file, args, environment, inheritFds ?? Array.Empty<int>());
                return new Spawned(pid, stdout, stderr, sw);
            }
            catch (SyscallException e)
            {
                throw new VServerException("ProgramNotStarted", ErrorKind.NotInstalled, $"Cannot run '{file}': {e.Message}.", file, e);
            }
        }
    }

    /// <summary>A program started by <see cref="Spawn"/>; disposing it closes its output pipes (it is reaped by <see cref="Wait"/>).</summary>
    public sealed class Spawned : IDisposable
    {
        private readonly Stopwatch _sw;
        private int _stdout;
        private int _stderr;
        private int? _exit;

        internal Spawned(int pid, int stdout, int stderr, Stopwatch sw) => (Id, _stdout, _stderr, _sw) = (pid, stdout, stderr, sw);

        public int Id { get; }

        /// <summary>Waits for the program's end (waitpid) and reads what it wrote, on this thread with read(2) on the pipes.</summary>
        public ProcessResult Wait(CancellationToken cancel = default, Action<string>? onOutput = null, Action<string>? onError = null)
        {
            if (_exit is null)
            {
                using (cancel.Register(() => Sys.Signal(Id, 15)))
                {
                    _exit = Sys.WaitChild(Id) ?? -1;
                }
            }
            cancel.ThrowIfCancellationRequested();
            var (stdout, stderr) = (new StringBuilder(), new StringBuilder());
            ReadEnded(ref _stdout, stdout, onOutput);
            ReadEnded(ref _stderr, stderr, onError);
            return new ProcessResult(_exit.Value, stdout.ToString(), stderr.ToString(), _sw.Elapsed);
        }

        public void Dispose()
        {
            _exit ??= Sys.WaitChild(Id) ?? -1; // never a zombie left behind (it ends on its own: conmon forks away at once)
            foreach (var fd in new[] { _stdout, _stderr })
            {
                if (fd >= 0)
                {
                    Sys.Close(fd);
                }
            }
            (_stdout, _stderr) = (-1, -1);
        }
    }

    private static ProcessStartInfo StartInfo(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                psi.Environment[k] = v;
            }
        }
        return psi;
    }

    /// <summary>
    /// Copies the input (none: an empty, closed input) to the program on a thread of its own, then
    /// closes it: a command that never reads it must not block us, and its end (EPIPE) ends the copy.
    /// </summary>
    private static void Writer(StreamWriter to, Stream? input)
    {
        if (input is null)
        {
            to.Close();
            return;
        }
        var t = new Thread(() =>
        {
            try
            {
                input.CopyTo(to.BaseStream, 1 << 20);
                to.Close();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // the command ended without reading all of it (EPIPE)
            }
        }) { IsBackground = true, Name = "vserver-input" };
        t.Start();
    }

    private static Thread Reader(StreamReader from, StringBuilder into, Action<string>? onLine, int limit)
    {
        var t = new Thread(() =>
        {
            try
            {
                if (limit > 0)
                {
                    ReadBounded(from, into, onLine, limit);
                    return;
                }
                while (from.ReadLine() is { } line)
                {
                    lock (into) { into.Append(line).Append('\n'); }
                    onLine?.Invoke(line);
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
            }
        }) { IsBackground = true, Name = "vserver-output" };
        t.Start();
        return t;
    }

    /// <summary>What an ended program wrote (a small output), read to its end with read(2), as lines; the descriptor is closed.</summary>
    private static void ReadEnded(ref int fd, StringBuilder into, Action<string>? onLine)
    {
        if (fd < 0)
        {
            return;
        }
        var bytes = new MemoryStream();
        try
        {
            var buf = new byte[4096];
            int n;
            while ((n = Sys.Read(fd, buf)) > 0)
            {
                bytes.Write(buf, 0, n);
            }
        }
        catch (SyscallException)
        {
        }
        finally
        {
            Sys.Close(fd);
            fd = -1;
        }
        using var lines = new StringReader(Encoding.UTF8.GetString(bytes.GetBuffer(), 0, (int)bytes.Length));
        while (lines.ReadLine() is { } line)
        {
            into.Append(line).Append('\n');
            onLine?.Invoke(line);
        }
    }

    /// <summary>Lines as ReadLine gives them, but never more than <paramref name="limit"/> characters kept in all: a line without end cannot grow without bound.</summary>
    private static void ReadBounded(StreamReader from, StringBuilder into, Action<string>? onLine, int limit)
    {
        var buffer = new char[4096];
        var line = new StringBuilder();
        var kept = 0;
        void Flush()
        {
            var text = line.ToString();
            line.Clear();
            lock (into) { into.Append(text).Append('\n'); }
            onLine?.Invoke(text);
        }
        int n;
        while ((n = from.Read(buffer, 0, buffer.Length)) > 0)
        {
            for (var i = 0; i < n; i++)
            {
                var ch = buffer[i];
                if (ch == '\n')
                {
                    if (kept < limit)
                    {
                        Flush();
                    }
                    continue;
                }
                if (ch != '\r' && kept < limit)
                {
                    line.Append(ch);
                    kept++;
                }
            }
        }
        if (line.Length > 0 && kept <= limit)
        {
            Flush();
        }
    }

    /// <summary>Runs a program on this process's own terminal (an interactive shell in a guest).</summary>
    public static int RunInteractive(string file, IEnumerable<string> args, int inheritFd = -1)
    {
        Traced(file, args);
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = new Process { StartInfo = psi };
        Start(p, file, inheritFd >= 0 ? new[] { inheritFd } : Array.Empty<int>());
        p.WaitForExit();
        return p.ExitCode;
    }

    /// <summary>
    /// Replaces this process with a program (execv), on this process's standard input, output and
    /// error; <paramref name="inheritFd"/> stays open in it. Returns only by throwing.
    /// </summary>
    public static void Replace(string file, IReadOnlyList<string> args, int inheritFd = -1)
    {
        Traced(file, args);
        Console.Out.Flush();
        Console.Error.Flush();
        if (inheritFd >= 0)
        {
            Sys.SetInheritable(inheritFd, true);
        }
        try
        {
            Sys.Exec(file, args);
        }
        catch (SyscallException e)
        {
            throw new VServerException("ProgramNotStarted", ErrorKind.NotInstalled, $"Cannot run '{file}': {e.Message}.", file, e);
        }
    }

    private static void Start(Process p, string file, IReadOnlyList<int> inheritFds)
    {
        lock (SpawnLock)
        {
            foreach (var fd in inheritFds)
            {
                Sys.SetInheritable(fd, true);
            }
            try
            {
                p.Start();
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new VServerException("ProgramNotStarted", ErrorKind.NotInstalled, $"Cannot run '{file}': {e.Message}.", file, e);
            }
            finally
            {
                foreach (var fd in inheritFds)
                {
                    Sys.SetInheritable(fd, false);
                }
            }
        }
    }

    /// <summary>SIGTERM first (the runtime's exec forwards it to the guest's process), SIGKILL when that is not enough.</summary>
    private static void Interrupt(Process p)
    {
        try
        {
            Sys.Signal(p.Id, 15);
            if (!p.WaitForExit(3000))
            {
                // with what it started: a command it runs in a guest may be stopped (SIGSTOP, a tracer)
                // and never see the SIGTERM passed on to it
                p.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }
}
