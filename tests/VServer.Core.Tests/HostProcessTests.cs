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
}
