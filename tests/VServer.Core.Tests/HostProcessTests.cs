using System.Diagnostics;
using System.Globalization;
using VServer.Runtime;
using Xunit;

namespace VServer.Tests;

/// <summary>Running host programs: what a cancelled run leaves (no root needed).</summary>
public class HostProcessTests
{
    /// <remarks>
    /// The shape of a cancelled exec into a guest whose command is held stopped (SIGSTOP, a tracer):
    /// the program passes the SIGTERM on or ignores it, and its child keeps the output pipe open.
    /// Here the shell and its sleep ignore SIGTERM. A run that killed only the program waited for
    /// the sleep's end of output for ever.
    /// </remarks>
    [Fact]
    public async Task ACancelledRunEndsWhatTheProgramStartedAndReturnsThoughAChildHeldItsOutput()
    {
        using var started = new ManualResetEventSlim();
        var child = 0;
        using var cancel = new CancellationTokenSource();
        var run = Task.Run(() => HostProcess.Run("/bin/sh", new[] { "-c", "trap '' TERM; sleep 300 & echo $!; wait" }, cancel.Token, onOutput: line =>
        {
            child = int.Parse(line, CultureInfo.InvariantCulture);
            started.Set();
        }));
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)), "the shell did not start its sleep");
        var sw = Stopwatch.StartNew();
        cancel.Cancel();
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) == run, "the cancelled run did not return within 30 s");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0, 10);
        // the sleep is gone (or a zombie its new parent has not reaped yet), not left running
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline && ProcFs.Stat(child) is { IsZombie: false })
        {
            Thread.Sleep(20);
        }
        Assert.False(ProcFs.Stat(child) is { IsZombie: false }, $"the shell's child {child} still runs");
    }

    [Fact]
    public void AProgramWithASmallOutputIsReadOnceItHasEndedAsAReadingThreadWouldReadIt()
    {
        // conmon's run: a few lines, then it ends (its daemon's output is /dev/null)
        const string script = "echo one; echo two; printf 'err one\\nno newline' >&2; exit 3";
        var (outs, errs) = (new List<string>(), new List<string>());
        var small = HostProcess.Run("/bin/sh", new[] { "-c", script }, onOutput: outs.Add, onError: errs.Add, smallOutput: true);
        var threads = HostProcess.Run("/bin/sh", new[] { "-c", script });
        Assert.Equal(3, small.ExitCode);
        Assert.Equal(threads.ExitCode, small.ExitCode);
        Assert.Equal("one\ntwo\n", small.StandardOutput);
        Assert.Equal(threads.StandardOutput, small.StandardOutput);
        Assert.Equal("err one\nno newline\n", small.StandardError);
        Assert.Equal(threads.StandardError, small.StandardError);
        Assert.Equal(new[] { "one", "two" }, outs);
        Assert.Equal(new[] { "err one", "no newline" }, errs);
        // nothing written: empty, not missing
        var silent = HostProcess.Run("/bin/true", Array.Empty<string>(), smallOutput: true);
        Assert.Equal((0, "", ""), (silent.ExitCode, silent.StandardOutput, silent.StandardError));
        // a program whose output outlives it, or is bounded, is not read this way: refused, not run
        Assert.Throws<ArgumentException>(() => HostProcess.Run("/bin/true", Array.Empty<string>(), leavesChildren: true, smallOutput: true));
        Assert.Throws<ArgumentException>(() => HostProcess.Run("/bin/true", Array.Empty<string>(), outputLimit: 10, smallOutput: true));
    }

    [Fact]
    public void TheSyncPipesFirstLineIsReadOnTheCallingThreadWithinItsTimeAndCancellation()
    {
        (int R, int W) Pipe(string text)
        {
            var (r, w) = VServer.Native.Sys.Pipe();
            if (text.Length > 0)
            {
                VServer.Native.Sys.WriteAll(w, System.Text.Encoding.UTF8.GetBytes(text));
            }
            return (r, w);
        }
        void Close(params int[] fds)
        {
            foreach (var fd in fds)
            {
                VServer.Native.Sys.Close(fd);
            }
        }
        // conmon's report: the first line only
        var (r, w) = Pipe("{\"data\": 4711}\n{\"data\": 1}\n");
        Assert.Equal("{\"data\": 4711}", GuestRuntime.ReadLine(r, TimeSpan.FromSeconds(5), CancellationToken.None));
        Close(r, w);
        // its end before a line: what came, or null for nothing
        (r, w) = Pipe("cut sh");
        Close(w);
        Assert.Equal("cut sh", GuestRuntime.ReadLine(r, TimeSpan.FromSeconds(5), CancellationToken.None));
        Close(r);
        (r, w) = Pipe("");
        Close(w);
        Assert.Null(GuestRuntime.ReadLine(r, TimeSpan.FromSeconds(5), CancellationToken.None));
        Close(r);
        // nothing within the time: an error that names it; a cancelled start: cancelled, at once
        (r, w) = Pipe("");
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<VServerException>(() => GuestRuntime.ReadLine(r, TimeSpan.FromMilliseconds(300), CancellationToken.None));
        Assert.Contains("did not report within", e.Message);
        Assert.InRange(sw.Elapsed.TotalMilliseconds, 250, 5000);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        sw.Restart();
        Assert.Throws<OperationCanceledException>(() => GuestRuntime.ReadLine(r, TimeSpan.FromSeconds(60), cancel.Token));
        Assert.InRange(sw.Elapsed.TotalMilliseconds, 150, 5000);
        Close(r, w);
    }
}
